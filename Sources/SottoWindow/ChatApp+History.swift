import Foundation
import SottoClient
import SottoCore

/// The local history in the window: read on the recorder's queue, never in a frame; the
/// answers come back through the event queue.
extension ChatApp {
    /// Messages shown from the history when the chat opens, per conversation.
    static let keptOnOpening = 200
    static let searchResults = 100
    /// Direct conversations reopened from the history at login, most recent first.
    static let conversationsOnOpening = 20
    /// Loaded above the first line when the log is scrolled to its top.
    static let olderPage = 100

    /// Why nothing is kept, as the person turned it off; what an earlier session kept stays.
    var historyOff: String {
        let how = options.keepHistory ? "\"Keep history on this device\" was unticked on the login form" : "started with --no-history"
        return "History is off for this session (\(how)): nothing is kept, read or deleted. What earlier sessions kept stays on this device until you log in with history on and /forget it."
    }

    /// Shows the last `count` kept messages of each conversation (the room and the most
    /// recent direct ones unless `conversations` names them).
    func loadKept(_ count: Int, in conversations: [Conversation]? = nil) {
        guard let recorder else {
            // Opening the chat with history off says nothing; /history says why it is empty.
            guard conversations != nil else { return }
            return model.system(historyOff, warning: true, conversation: model.current)
        }
        let queue = self.queue
        let generations = model.conversations.mapValues(\.generation)
        DispatchQueue.global(qos: .userInitiated).async {
            recorder.withStore { store in
                guard let store else {
                    // Nothing to reopen: the chat stays where it opened.
                    if conversations == nil { queue.post(.history(HistoryAnswer(conversation: .room, kind: .drafts([:], open: nil)))) }
                    return
                }
                do {
                    if conversations == nil {
                        let read = try store.readMarks()
                        queue.post(.history(HistoryAnswer(conversation: .room, kind: .readMarks(read.marks, since: read.since))))
                        queue.post(.history(HistoryAnswer(conversation: .room, kind: .colors(try store.colors()))))
                    }
                    let which = try conversations ?? [.room] + store.directConversations(limit: Self.conversationsOnOpening)
                    for conversation in which {
                        let kept = try store.recent(in: conversation, limit: count)
                        queue.post(.history(HistoryAnswer(conversation: conversation, kind: .kept(kept, requested: count, announce: conversations != nil),
                                                          generation: generations[conversation] ?? 0)))
                    }
                    if conversations == nil {
                        let notes = try store.takeUnsentNotes()
                        if !notes.isEmpty { queue.post(.history(HistoryAnswer(conversation: .room, kind: .unsentBack(notes)))) }
                    }
                    // Last: once the drafts are back, the opening read is done.
                    if conversations == nil {
                        queue.post(.history(HistoryAnswer(conversation: .room, kind: .drafts(try store.drafts(), open: try store.openConversation()))))
                    }
                } catch {
                    queue.post(.history(HistoryAnswer(conversation: .room, kind: .problem("The history could not be read: \(error)"))))
                }
            }
        }
    }

    /// The page before the oldest kept line, once the log shows its top (one at a time).
    func loadOlder(_ conversation: Conversation) {
        guard model.wantsOlder(conversation), let log = model.conversations[conversation] else { return }
        model.conversations[conversation]!.loadingOlder = true
        let page = Self.olderPage
        if let message = log.olderBefore {
            // The log's top was let go (`ChatModel.trimmed`): from its first message's row.
            return askHistory(conversation) { store in
                .kept(try store.recent(in: conversation, limit: page, beforeMessage: (message.sender, message.clientMessageID),
                                       inclusive: message.inclusive), requested: page)
            }
        }
        guard let before = log.oldestKept else { return }
        askHistory(conversation) { store in .kept(try store.recent(in: conversation, limit: page, before: before), requested: page) }
    }

    /// Lets go of the oldest lines of logs past their bound (after each batch of events).
    func trimLongLogs() {
        for conversation in model.order where model.isPastBound(conversation) {
            let keys = model.trimmed(conversation, viewTop: ui.logTopKey(conversation.logID), historyKept: recorder != nil)
            guard let newestGone = keys.max() else { continue }
            wrapCache.forget(keys)
            for key in keys { foundTargets[key] = nil }
            ui.forgetLogEntries(conversation.logID, through: newestGone)
        }
    }

    /// Keeps and reads the history of this identity on this server without a client
    /// (benchmarks fill a history, then post the welcome a client would).
    public func useHistory(in dataDirectory: URL, identityFingerprint: String, serverFingerprint: String) {
        let queue = self.queue
        let recorder = HistoryRecorder(dataDirectory: dataDirectory, identityFingerprint: identityFingerprint,
                                       onFailure: { queue.post(.history(HistoryAnswer(conversation: .room, kind: .problem($0)))) })
        recorder.record(.welcome(name: "", serverFingerprint: serverFingerprint))
        self.recorder = recorder
    }

    /// Messages the room's log holds now (benchmarks wait for kept ones to be shown).
    public var roomMessageCount: Int { model.conversations[.room]?.lines.lazy.filter { $0.kind == .message }.count ?? 0 }

    /// Runs a question on the history, off the frame; its answer is shown in `conversation`.
    func askHistory(_ conversation: Conversation, _ question: @escaping @Sendable (HistoryStore) throws -> HistoryAnswer.Kind) {
        guard let recorder else {
            return model.system(historyOff, warning: true, conversation: conversation)
        }
        let queue = self.queue, generation = model.conversations[conversation]?.generation ?? 0
        DispatchQueue.global(qos: .userInitiated).async {
            let kind: HistoryAnswer.Kind = recorder.withStore { store in
                guard let store else { return .problem("Nothing is kept yet: history starts once you are logged in.") }
                do { return try question(store) } catch { return .problem("The history could not be read: \(error)") }
            }
            queue.post(.history(HistoryAnswer(conversation: conversation, kind: kind, generation: generation)))
        }
    }

    func apply(_ answer: HistoryAnswer) {
        let here = answer.conversation
        if let asked = answer.generation, asked != model.conversations[here]?.generation ?? 0 {
            // Read before /forget emptied the conversation (the read and the delete run apart):
            // what it found is deleted now, and is not shown again.
            switch answer.kind {
            case .kept, .upTo: return
            default: break
            }
        }
        switch answer.kind {
        case .kept(let messages, let requested, let announce):
            // The first page since login (not one after the log's top was let go).
            let opening = model.conversations[here].map { $0.oldestKept == nil && $0.olderBefore == nil } ?? true
            let shownBefore = Set(model.conversations[here]?.lines.compactMap(\.messageID) ?? [])
            model.prependKept(messages, requested: requested, in: here)
            if opening, let readMarks, let mark = readMarks[here] ?? readSince {
                // What this device showed and nobody read here (it arrived while another
                // conversation was open, or the window closed first) is new still.
                let unread = messages.filter { $0.id > mark && !$0.isOwn }.map { ChatModel.messageID(from: $0.from, $0.clientMessageID) }
                model.markUnreadKept(in: here, Set(unread).subtracting(shownBefore))
                if here == model.current { openAtNewSince() }
            }
            if announce, let first = messages.first {
                // /history N: the log goes to the oldest of them, said right above it (a newcomer's
                // run: said at the end of the log, the note was below what it talked about).
                let id = ChatModel.messageID(from: first.from, first.clientMessageID)
                let note = "The last \(messages.count) kept message\(messages.count == 1 ? "" : "s") of this conversation, from here down; scroll up for older ones."
                let placed = model.system(note, above: id, in: here)
                if !placed { model.system(note, conversation: here) }
                showMessage(id, in: here, context: placed ? 1 : 0)
                return
            }
            if opening, messages.isEmpty, here == .room {
                // True for as long as it is shown (a newcomer's run: "nothing is kept yet" stayed
                // above what was kept since).
                model.system("This device keeps this conversation from your first login on; nothing from before you joined can be read.", conversation: here)
            }
        case .found(let words, let found):
            // Results are system lines: what others wrote is escaped (a newline in a message
            // would otherwise draw a result line of its own, attributed to anyone).
            let shown = TerminalText.escaped(words)
            model.system(found.isEmpty ? "No message kept on this device contains \(shown)."
                                       : "\(Self.foundCount(found.count)) containing \(shown), newest first:", conversation: here)
            for m in found {
                let place = m.conversation == .room ? "# room" : "@ \(m.conversation.recipient)"
                // One entry per result, drawn like a message: the sender's name in colour after
                // where and when; a message's own line breaks are drawn as ↵, the words found
                // marked. Wrapped in the log, so shown whole.
                let (text, highlights) = Self.resultLine(m.text, matches: m.matches, fits: nil)
                var line = ChatLine(key: 0, kind: .found, time: Date(), from: TerminalText.escaped(m.from),
                                    text: text, timeText: "\(ChatModel.dateAndClock.string(from: m.time)) · \(TerminalText.escaped(place)) ·")
                line.highlights = highlights
                model.append(line, to: here)
                // A click on it goes there, as one on a result in the search panel does (a
                // newcomer's run: these could not be clicked).
                if let key = model.conversations[here]?.lines.last?.key { foundTargets[key] = m }
            }
            ui.scrollLogToBottom(here.logID)
        case .readMarks(let marks, let since):
            readMarks = marks
            readSince = since
        case .colors(let kept):
            model.adoptKeptColors(kept, present: model.members.map(\.name))
        case .panel(let words, let found):
            searchResults = (words, found)
            searchItems = nil
            searchChosen = nil
        case .upTo(let target, let messages):
            model.prependKept(messages, requested: 0, in: here)
            showMessage(target, in: here)
        case .drafts(let kept, let open):
            restoreDrafts(kept, reopening: open)
        case .unsentBack(let notes):
            for (conversation, note) in notes.sorted(by: { $0.key.title < $1.key.title }) {
                model.list(conversation)
                model.system(Self.unsentBack(count: note.count, mayHaveGone: note.mayHaveGone), warning: true, conversation: conversation)
            }
        case .forgotten(let count):
            model.system("Deleted \(count) message\(count == 1 ? "" : "s") of this conversation from this device.", conversation: here)
        case .problem(let text):
            model.endOpening()
            model.conversations[here]?.loadingOlder = false
            model.system(text, warning: true, conversation: here)
        }
    }
}
