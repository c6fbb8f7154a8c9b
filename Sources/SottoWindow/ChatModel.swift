import Foundation
import SottoClient
import SottoCore
import SottoUI

/// One line of a conversation as the log shows it.
struct ChatLine {
    /// `found`: a search result listed by /search, drawn like a message (its sender's name in
    /// colour, where it was said as its prefix), never like a system line a message could forge.
    /// `newSince`: where what waited on the server while you were away begins.
    /// `help`: a command (`from`) and what it does (`text`), left-aligned to be scanned.
    enum Kind { case message, system, warning, daySeparator, newSince, found, help }
    let key: Int
    var kind: Kind
    var time: Date
    var from: String
    var text: String
    var isOwn = false
    var pendingID: UInt64?
    var trust: PeerTrust = .unverified
    /// "HH:mm", formatted once when the line is added (never per frame).
    var timeText = ""
    /// A message's sender and client message id: the same message from the history and
    /// live is shown once.
    var messageID: String?
    /// A /search result's matched words, as ranges of characters in `text`.
    var highlights: [Range<Int>] = []
    /// A message in the room that calls you by name (`Mention`): marked in the log, counted
    /// apart in the list, and a window in the background asks for attention.
    var mentionsMe = false
    /// The server's time, where it disagreed with the one the sender sealed (`time`): shown
    /// beside it, "08:59 (relayed 14:00)".
    var relayedAt: Date?
}

/// A conversation: the room, or a direct one with one person.
struct ConversationLog {
    /// A line right above line `index`, with the key just below its own (free: keys go up in
    /// twos, `ChatModel.keyStride`); false if one is there already.
    mutating func insert(_ kind: ChatLine.Kind, _ text: String, above index: Int) -> Bool {
        let key = lines[index].key - 1
        guard index == 0 || lines[index - 1].key < key else { return false }
        lines.insert(ChatLine(key: key, kind: kind, time: lines[index].time, from: "", text: text), at: index)
        return true
    }

    var lines: [ChatLine] = []
    /// Messages from others not yet seen here; `unreadMentions` of them call you. Read, both go.
    var unread = 0 { didSet { unreadMentions = min(unreadMentions, unread) } }
    var unreadMentions = 0
    var lastDay: DateComponents?
    /// The history's row id of the oldest kept message shown; older pages load before it.
    var oldestKept: Int64?
    /// Lines at the top were let go (`ChatModel.trimmed`): older pages load from the history
    /// before this message (with it when `inclusive`: it was let go too), not `oldestKept`.
    var olderBefore: (sender: String, clientMessageID: UInt64, inclusive: Bool)?
    /// Bytes of text in `lines`, about (kept by appends and pages; made exact when trimmed).
    var textBytes = 0
    /// Lines and bytes the person brought in since the log was last trimmed (older pages, a
    /// search result far back, `/history N`): scrolled up, it may hold this much past its bound.
    var askedFor = (lines: 0, textBytes: 0)
    /// Nothing older is kept (a page came back short), or a page is on its way.
    var olderExhausted = false
    var loadingOlder = false
    /// A "new since you were here" line is among `lines` (found without a scan of them).
    var markedNewSince = false
    /// How many times the conversation was forgotten (`/forget`): a page of the history read
    /// before then is not shown after it.
    var generation = 0
}

/// Everything the chat view shows, updated only from client events (on the main thread).
final class ChatModel {
    var conversations: [Conversation: ConversationLog] = [.room: ConversationLog()]
    var order: [Conversation] = [.room]
    var current = Conversation.room
    /// Whether the person can see the open conversation (the window has the keyboard): what
    /// arrives there while it is in the background is unread, as in any other conversation.
    private(set) var attending = true
    var members: [Member] = [] { didSet { mention = nil } }
    var myName = "" { didSet { mention = nil } }
    /// Whether a message calls you, made again when the list or your name changes.
    private var mention: Mention?
    var state: ConnectionState = .disconnected
    var serverFingerprint = ""
    private var nextKey = 0
    /// Lines' keys go up in steps of two: the key just below a line is free for a line put
    /// above it later (the "new since" line of what arrived while another conversation was
    /// open), and keys still increase down the log.
    static let keyStride = 2
    /// While what waited for us is handed over (from the welcome to `caughtUp`): the
    /// conversations marked "new since you were here" so far.
    private var awayMarked: Set<Conversation>?
    /// Keys of lines put above the first (older history) count down, so keys stay in the
    /// order lines are shown and the log keeps its place, anchored by key, as pages load.
    private var nextOlderKey = 0
    let calendar = Calendar.current

    /// Appends in place: the conversation's lines are never copied (a log of 100,000 lines
    /// would be, on every message, if taken out of the dictionary and put back).
    func append(_ line: ChatLine, to conversation: Conversation) {
        if conversations[conversation] == nil {
            conversations[conversation] = ConversationLog()
            order.append(conversation)
        }
        // The room first, then direct conversations by their newest message, in a session as
        // at the next start (the history lists them so): a newcomer's run found a new message
        // from bob under a dozen others, off screen, and the order changed at each restart.
        if line.kind == .message, case .direct = conversation, let at = order.firstIndex(of: conversation), at > 1 {
            order.remove(at: at)
            order.insert(conversation, at: 1)
        }
        let day = calendar.dateComponents([.year, .month, .day], from: line.time)
        if line.kind != .daySeparator, conversations[conversation]!.lastDay != day {
            conversations[conversation]!.lastDay = day
            nextKey += Self.keyStride
            conversations[conversation]!.lines.append(ChatLine(key: nextKey, kind: .daySeparator, time: line.time, from: "",
                                                               text: Self.dayFormat.string(from: line.time)))
        }
        nextKey += Self.keyStride
        var line = line
        line = ChatLine(key: nextKey, kind: line.kind, time: line.time, from: line.from, text: line.text, isOwn: line.isOwn,
                        pendingID: line.pendingID, trust: line.trust,
                        timeText: line.kind == .found ? line.timeText : Self.timeText(line.time, relayedAt: line.relayedAt),
                        messageID: line.messageID, highlights: line.highlights, mentionsMe: line.mentionsMe, relayedAt: line.relayedAt)
        conversations[conversation]!.lines.append(line)
        conversations[conversation]!.textBytes += line.text.utf8.count
        if !isSeen(conversation), line.kind == .message, !line.isOwn {
            conversations[conversation]!.unread += 1
            if line.mentionsMe { conversations[conversation]!.unreadMentions += 1 }
        }
    }

    /// Open, in a window being looked at: what arrives there is read as it comes.
    func isSeen(_ conversation: Conversation) -> Bool { conversation == current && reading }

    /// The person can read the open conversation now: the window is looked at, and the chat
    /// has opened where it will stay.
    var reading: Bool { attending && !opening }

    /// From the chat's first showing until the history's opening read says which conversation
    /// to reopen: nothing is read yet (a newcomer's run: reopened on a direct conversation,
    /// what waited in the room had been counted read, and its "new since" line dropped, as
    /// the room was open while it arrived).
    private(set) var opening = false
    func beginOpening() { opening = true }
    /// The chat is open where it stays: what is shown there now is read.
    func endOpening() {
        guard opening else { return }
        opening = false
        conversations[current]?.unread = 0
    }

    /// The window came to the front (true) or went behind (false). Back at it: what arrived
    /// in the open conversation meanwhile starts under a "new since" line (an earlier one
    /// there has done its job: they were looking), and is read. True if such a line was put.
    @discardableResult
    func attend(_ looking: Bool) -> Bool {
        guard looking != attending else { return false }
        attending = looking
        guard looking, (conversations[current]?.unread ?? 0) > 0 else { return false }
        clearNewSince(in: current)
        markUnread(in: current)
        conversations[current]!.unread = 0
        return conversations[current]!.markedNewSince
    }

    /// The commands, one a line: the command, then what it does.
    func help(in conversation: Conversation) {
        for name in ChatCommand.Name.allCases {
            append(ChatLine(key: 0, kind: .help, time: Date(), from: name.usage, text: name.purpose), to: conversation)
        }
        append(ChatLine(key: 0, kind: .help, time: Date(), from: "//text", text: "send a line that starts with /"), to: conversation)
        // The window's keys, which no command shows (a newcomer found search only in the README).
        for (keys, what) in Self.windowKeys {
            append(ChatLine(key: 0, kind: .help, time: Date(), from: keys, text: what), to: conversation)
        }
    }

    static let windowKeys = [
        ("Ctrl+F", "search every conversation kept on this device; a click on a result opens it there"),
        ("Ctrl+Tab", "the next conversation in the list (Ctrl+Shift+Tab the one before; also Ctrl+Page Down / Up)"),
        ("Shift+Enter", "a new line in the message box (Enter sends)"),
        ("Tab", "in the message box, completes the member's name begun before the caret (again: the next one)"),
        ("Up / Down", "between the lines of the message box, then through what you sent"),
        ("Page Up / Down", "scroll the conversation (older messages load at its top)"),
        ("Ctrl+End", "back to the newest message (as the \"Newest ↓\" button over a log scrolled up)"),
        ("Ctrl+Q", "quit"),
    ]

    func system(_ text: String, warning: Bool = false, conversation: Conversation = .room) {
        append(ChatLine(key: 0, kind: warning ? .warning : .system, time: Date(), from: "", text: text), to: conversation)
    }

    /// A system line right above a message's line (the key below it is free: keys go in twos);
    /// false if the message is not shown or something is there already.
    func system(_ text: String, above messageID: String, in conversation: Conversation) -> Bool {
        guard var log = conversations[conversation], let index = log.lines.firstIndex(where: { $0.messageID == messageID }) else { return false }
        guard log.insert(.system, text, above: index) else { return false }
        conversations[conversation] = log
        return true
    }

    /// A message we sent shows at once as pending, then takes its place in server order.
    func queued(id: UInt64, to: String, text: String) {
        // Answering is reading: what was new there is not any more.
        clearNewSince(in: Conversation(recipient: to))
        append(ChatLine(key: 0, kind: .message, time: Date(), from: myName, text: text, isOwn: true, pendingID: id), to: Conversation(recipient: to))
    }

    /// Logged in: what arrives before `caughtUp` waited for us, and is marked as new.
    /// `seeing`: the conversation open through a reconnect, whose log the person watched
    /// go on (a newcomer's run: "new since you were here" in a room they never left).
    func beginCatchUp(seeing: Conversation? = nil) { awayMarked = Set([seeing].compactMap { $0 }) }
    func endCatchUp() { awayMarked = nil }

    /// Adds a message; true if it calls you (`mentions`), decided once here.
    @discardableResult
    func received(_ m: ReceivedMessage) -> Bool {
        let conversation = m.conversation
        // The first message of each conversation that waited for us: a line above it.
        if !m.isOwn, awayMarked?.insert(conversation).inserted == true {
            append(ChatLine(key: 0, kind: .newSince, time: m.time, from: "", text: Self.newSinceText), to: conversation)
            conversations[conversation]?.markedNewSince = true
        }
        // Our own line waiting as pending is near the end: looked for from there.
        if m.isOwn, let index = conversations[conversation]?.lines.lastIndex(where: { $0.pendingID == m.clientMessageID }) {
            conversations[conversation]!.lines.remove(at: index)
        }
        let callsMe = !m.isOwn && mentions(m.text, from: m.from, in: conversation)
        append(ChatLine(key: 0, kind: .message, time: m.time, from: m.from, text: m.text, isOwn: m.isOwn, trust: m.trust,
                        messageID: Self.messageID(from: m.from, m.clientMessageID), mentionsMe: callsMe, relayedAt: m.relayedAt), to: conversation)
        return callsMe
    }

    /// A message from someone else in the room calling you (`Mention`). In a direct
    /// conversation every message is to you: none is marked.
    func mentions(_ text: String, from sender: String, in conversation: Conversation) -> Bool {
        guard conversation == .room, sender != myName else { return false }
        if mention == nil { mention = Mention(name: myName, members: members.map(\.name)) }
        return mention!.calls(in: text)
    }

    private func clearNewSince(in conversation: Conversation) {
        guard conversations[conversation]?.markedNewSince == true else { return }
        conversations[conversation]!.markedNewSince = false
        // Near the end, usually: looked for from there.
        if let index = conversations[conversation]!.lines.lastIndex(where: { $0.kind == .newSince }) {
            conversations[conversation]!.lines.remove(at: index)
        }
    }

    static func messageID(from sender: String, _ id: UInt64) -> String { "\(sender)\u{0}\(id)" }

    /// A message's time as shown: the one its sender sealed; where the server's disagreed by
    /// more than two minutes, that too ("08:59 (relayed 14:00)", the day said when they
    /// differ in it): a member dating their words as they like, or a clock set wrong, shows.
    static func timeText(_ time: Date, relayedAt: Date?) -> String {
        guard let relayedAt else { return clock.string(from: time) }
        let sameDay = Calendar.current.isDate(time, inSameDayAs: relayedAt)
        return "\((sameDay ? clock : dayAndClock).string(from: time)) (relayed \((sameDay ? clock : dayAndClock).string(from: relayedAt)))"
    }

    static let dayAndClock: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "d MMM yyyy HH:mm"
        return f
    }()

    /// A page of kept messages (oldest first) goes above what the conversation shows, each
    /// message once (one that arrived live since the login is not repeated), with its day
    /// separators; `requested`: a shorter page means nothing older is kept.
    func prependKept(_ kept: [StoredMessage], requested: Int, in conversation: Conversation) {
        list(conversation)
        var log = conversations[conversation]!
        log.loadingOlder = false
        log.olderExhausted = kept.count < requested
        if let first = kept.first {
            log.oldestKept = first.id
            log.olderBefore = nil
        }
        let shown = Set(log.lines.compactMap(\.messageID))
        var block: [ChatLine] = []
        var day: DateComponents?
        for m in kept where !shown.contains(Self.messageID(from: m.from, m.clientMessageID)) {
            let d = calendar.dateComponents([.year, .month, .day], from: m.time)
            if d != day {
                day = d
                block.append(ChatLine(key: 0, kind: .daySeparator, time: m.time, from: "", text: Self.dayFormat.string(from: m.time)))
            }
            block.append(ChatLine(key: 0, kind: .message, time: m.time, from: m.from, text: m.text, isOwn: m.isOwn,
                                  trust: m.trust, timeText: Self.timeText(m.time, relayedAt: m.relayedAt),
                                  messageID: Self.messageID(from: m.from, m.clientMessageID),
                                  mentionsMe: !m.isOwn && mentions(m.text, from: m.from, in: conversation), relayedAt: m.relayedAt))
        }
        guard !block.isEmpty else {
            conversations[conversation] = log
            return
        }
        // The same day continues below: its separator is the block's.
        if let first = log.lines.first, first.kind == .daySeparator, calendar.dateComponents([.year, .month, .day], from: first.time) == day {
            log.lines.removeFirst()
        }
        if log.lines.isEmpty { log.lastDay = day }
        for index in block.indices.reversed() {
            nextOlderKey -= Self.keyStride
            block[index] = ChatLine(key: nextOlderKey, kind: block[index].kind, time: block[index].time, from: block[index].from,
                                    text: block[index].text, isOwn: block[index].isOwn, trust: block[index].trust,
                                    timeText: block[index].timeText, messageID: block[index].messageID,
                                    mentionsMe: block[index].mentionsMe, relayedAt: block[index].relayedAt)
        }
        log.lines.insert(contentsOf: block, at: 0)
        let blockBytes = block.reduce(0) { $0 + $1.text.utf8.count }
        log.textBytes += blockBytes
        log.askedFor = (log.askedFor.lines + block.count, log.askedFor.textBytes + blockBytes)
        conversations[conversation] = log
    }

    /// Whether an older page should be asked for now (the view reached the top).
    func wantsOlder(_ conversation: Conversation) -> Bool {
        guard let log = conversations[conversation], log.oldestKept != nil || log.olderBefore != nil else { return false }
        return !log.olderExhausted && !log.loadingOlder
    }

    /// Empties a conversation's log (its history was deleted from this device).
    func forget(_ conversation: Conversation) {
        guard conversations[conversation] != nil else { return }
        let pending = conversations[conversation]!.lines.filter { $0.pendingID != nil }
        var emptied = ConversationLog()
        emptied.generation = conversations[conversation]!.generation + 1
        conversations[conversation] = emptied
        for line in pending { append(line, to: conversation) }
    }

    /// Marks a message that was not sent; returns where it was written, and its text.
    /// `keptElsewhere` takes the text (back into a composer) and says whether it did: the
    /// line then shows only its start (a newcomer's run: 80 KB pasted, refused as too long,
    /// drew 1,200 lines of orange into the room, once more at each try).
    @discardableResult
    func rejected(id: UInt64, keptElsewhere: (Conversation, String) -> Bool = { _, _ in false }) -> (conversation: Conversation, text: String)? {
        var found: (Conversation, String)?
        for name in conversations.keys {
            guard let index = conversations[name]!.lines.lastIndex(where: { $0.pendingID == id }) else { continue }
            let text = conversations[name]!.lines[index].text
            found = (name, text)
            var shown = text
            if keptElsewhere(name, text), text.count > Self.notSentShown {
                let more = text.count - Self.notSentShown
                shown = String(text.prefix(Self.notSentShown)) + "… (\(more) more characters; all of it is back in the message box)"
            }
            conversations[name]!.lines[index].pendingID = nil
            conversations[name]!.lines[index].kind = .warning
            conversations[name]!.lines[index].text = "(not sent) " + shown
        }
        return found
    }

    /// Of a message not sent, and back in its composer, the characters its line shows.
    static let notSentShown = 120

    var pendingCount: Int { conversations.values.reduce(0) { $0 + $1.lines.filter { $0.pendingID != nil }.count } }

    /// Listed in the sidebar (at its end), without opening it.
    func list(_ conversation: Conversation) {
        guard conversations[conversation] == nil else { return }
        conversations[conversation] = ConversationLog()
        order.append(conversation)
    }

    func open(_ conversation: Conversation) {
        // The conversation being left was seen: its "new since" line has done its job.
        if conversation != current, !opening { clearNewSince(in: current) }
        list(conversation)
        if conversation != current { markUnread(in: conversation) }
        current = conversation
        conversations[conversation]!.unread = 0
    }

    /// Kept messages past how far this conversation was read on this device (`unread`, by
    /// message id; none shown before this page) are unread: counted when it is not open,
    /// under one "new since" line above the first of them (above those that waited on the
    /// server too, which are newer still).
    func markUnreadKept(in conversation: Conversation, _ unread: Set<String>) {
        guard var log = conversations[conversation], !unread.isEmpty else { return }
        func isUnread(_ line: ChatLine) -> Bool { line.messageID.map(unread.contains) ?? false }
        let count = log.lines.count(where: isUnread)
        guard count > 0 else { return }
        if !isSeen(conversation) {
            log.unread += count
            log.unreadMentions += log.lines.count { $0.mentionsMe && isUnread($0) }
        }
        log.lines.removeAll { $0.kind == .newSince }
        log.markedNewSince = false
        defer { conversations[conversation] = log }
        guard let first = log.lines.firstIndex(where: isUnread), log.insert(.newSince, Self.newSinceText, above: first) else { return }
        log.markedNewSince = true
        // Marked: what still waits on the server for it does not add a second line.
        awayMarked?.insert(conversation)
    }

    static let newSinceText = "new since you were here"

    /// A message's sender and client message id, from its `messageID`.
    static func parseMessageID(_ id: String) -> (sender: String, clientMessageID: UInt64)? {
        guard let split = id.lastIndex(of: "\u{0}"), let number = UInt64(id[id.index(after: split)...]) else { return nil }
        return (String(id[..<split]), number)
    }

    /// What arrived while another conversation was open starts under a "new since" line,
    /// as what waited while away does (unless that line is there already).
    private func markUnread(in conversation: Conversation) {
        guard var log = conversations[conversation], log.unread > 0, !log.markedNewSince else { return }
        // The oldest of the last `unread` messages from others.
        var left = log.unread, first: Int?
        for i in log.lines.indices.reversed() where log.lines[i].kind == .message && !log.lines[i].isOwn {
            left -= 1
            if left == 0 { first = i; break }
        }
        guard let first, log.insert(.newSince, Self.newSinceText, above: first) else { return }
        log.markedNewSince = true
        conversations[conversation] = log
    }

    static let dayFormat: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "EEEE d MMMM yyyy"
        return f
    }()

    static let dateAndClock: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f
    }()

    static let clock: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "HH:mm"
        return f
    }()

    /// Twelve sender colours, each at least 4.5:1 against the log's background (WCAG AA for
    /// text) and at least 30 apart in CIELAB from every other (`ChatModelTests` checks both):
    /// chosen farthest-first among moderately saturated colours (a newcomer's run: alice's and
    /// alicia's pinks, 14 apart, and two oranges read as one person).
    static let palette: [Color] = [
        Color(255, 105, 75), Color(210, 180, 135), Color(255, 210, 75), Color(210, 255, 75),
        Color(75, 255, 75), Color(150, 240, 165), Color(60, 225, 240), Color(60, 150, 225),
        Color(150, 120, 255), Color(255, 75, 255), Color(255, 165, 210), Color(255, 75, 135),
    ]

    /// Each name's colour: its own preferred one (a hash of the name, the same everywhere)
    /// unless someone in the room has it already; then the next free one. People in the room
    /// differ as long as there are no more of them than colours; a person keeps theirs.
    private(set) var colorIndex: [String: Int] = [:]

    static func preferredColor(of name: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for b in name.lowercased().utf8 { hash = (hash ^ UInt32(b)) &* 16_777_619 }
        return Int(hash % UInt32(palette.count))
    }

    /// Bumped whenever `colorIndex` changes (the window keeps it, as it changes).
    private(set) var colorGeneration = 0
    /// The colours names were drawn in last time (from the history), at most `maxKeptColors`.
    private var keptColors: [String: Int] = [:]
    /// What is kept of the colours: enough for any room whose members can tell colours apart
    /// (there are twelve), bounded whatever a server lists (a review: a server swapping in
    /// fresh names grew the kept map without end).
    static let maxKeptColors = 1_024

    func assignColors(present names: [String]) {
        var used: Set<Int> = []
        var waiting: [String] = []
        // Names with a kept colour first: a name drawn in one last time keeps it.
        let sorted = names.sorted()
        for name in sorted.filter({ keptColors[$0] != nil }) + sorted.filter({ keptColors[$0] == nil }) {
            if let index = colorIndex[name] ?? keptColors[name], !used.contains(index) {
                if colorIndex[name] != index { colorIndex[name] = index; colorGeneration += 1 }
                used.insert(index)
            } else {
                waiting.append(name)
            }
        }
        for name in waiting {
            let preferred = Self.preferredColor(of: name)
            let free = (0..<Self.palette.count).map { (preferred + $0) % Self.palette.count }.first { !used.contains($0) }
            let index = free ?? preferred
            if colorIndex[name] != index { colorGeneration += 1 }
            colorIndex[name] = index
            used.insert(index)
        }
        // Only those listed keep a colour here.
        if colorIndex.count > names.count {
            let present = Set(names)
            colorIndex = colorIndex.filter { present.contains($0.key) }
            colorGeneration += 1
        }
    }

    /// What is kept of `colorIndex` (`maxKeptColors` names at most, in name order).
    var colorsToKeep: [String: Int] {
        guard colorIndex.count > Self.maxKeptColors else { return colorIndex }
        return Dictionary(uniqueKeysWithValues: colorIndex.keys.sorted().prefix(Self.maxKeptColors).map { ($0, colorIndex[$0]!) })
    }

    /// The colours names were drawn in last time (from the history, which may answer before
    /// or after the first member list): they are taken back, and those given meanwhile make way.
    func adoptKeptColors(_ colors: [String: Int], present names: [String]) {
        let valid = colors.filter { Self.palette.indices.contains($0.value) }
        guard !valid.isEmpty else { return }
        keptColors = valid.count > Self.maxKeptColors
            ? Dictionary(uniqueKeysWithValues: valid.keys.sorted().prefix(Self.maxKeptColors).map { ($0, valid[$0]!) }) : valid
        for (name, index) in keptColors where colorIndex[name] != nil && colorIndex[name] != index {
            colorIndex[name] = index
            colorGeneration += 1
        }
        assignColors(present: names)
    }

    func color(for name: String) -> Color { Self.palette[colorIndex[name] ?? Self.preferredColor(of: name)] }
}
