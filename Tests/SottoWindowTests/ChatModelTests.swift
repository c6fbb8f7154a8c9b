import Foundation
@testable import SottoClient
import SottoCore
import SottoUI
import Testing
@testable import SottoWindow

/// Issue 13.10: alice and dave were the same green with five people in the room.
@Suite struct ChatModelTests {
    /// WCAG relative luminance and contrast ratio.
    static func luminance(_ c: Color) -> Double {
        func channel(_ v: UInt8) -> Double {
            let x = Double(v) / 255
            return x <= 0.03928 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)
    }

    static func contrast(_ a: Color, _ b: Color) -> Double {
        let (la, lb) = (luminance(a), luminance(b))
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }

    /// CIELAB (D65) of an sRGB colour: distances there follow what eyes tell apart.
    static func lab(_ c: Color) -> (Double, Double, Double) {
        func linear(_ v: UInt8) -> Double {
            let x = Double(v) / 255
            return x <= 0.04045 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4)
        }
        let (r, g, b) = (linear(c.r), linear(c.g), linear(c.b))
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116 }
        return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
    }

    @Test func everySenderColourReadsOnTheLogAndTheyDiffer() {
        #expect(ChatModel.palette.count >= 12)
        #expect(Set(ChatModel.palette).count == ChatModel.palette.count)
        for colour in ChatModel.palette {
            #expect(Self.contrast(colour, Theme().panel) >= 4.5, "\(colour)")
        }
        // Told apart at a glance: a newcomer's run read alice's and alicia's pinks (14 apart)
        // as one person.
        for (i, a) in ChatModel.palette.enumerated() {
            for b in ChatModel.palette[(i + 1)...] {
                let (p, q) = (Self.lab(a), Self.lab(b))
                let distance = ((p.0 - q.0) * (p.0 - q.0) + (p.1 - q.1) * (p.1 - q.1) + (p.2 - q.2) * (p.2 - q.2)).squareRoot()
                #expect(distance >= 30, "\(a) and \(b) are \(distance) apart")
            }
        }
    }

    @Test func peopleInTheSameRoomGetDifferentColoursAndKeepThem() {
        let model = ChatModel()
        let five = ["alice", "bob", "carol", "dave", "erin"]
        model.assignColors(present: five)
        #expect(Set(five.map(model.color(for:))).count == 5)
        let aliceBefore = model.color(for: "alice")
        // Twelve people, twelve colours; those already here keep theirs.
        let twelve = five + ["frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
        model.assignColors(present: twelve)
        #expect(Set(twelve.map(model.color(for:))).count == 12)
        #expect(model.color(for: "alice") == aliceBefore)
        // The same name gets the same colour in another window, when it is free there.
        let other = ChatModel()
        other.assignColors(present: ["alice"])
        #expect(other.color(for: "alice") == ChatModel.palette[ChatModel.preferredColor(of: "alice")])
    }

    /// A team lives in the room: a message calling you by name there was one more unread
    /// line among forty. It is marked and counted apart until read; your own, and a direct
    /// conversation (every line there is to you), are not.
    @Test func aMessageCallingYouIsCountedApartUntilRead() {
        let model = ChatModel()
        model.myName = "alice"
        var id: UInt64 = 0
        func message(_ text: String, from: String = "bob", to: String = "") -> ReceivedMessage {
            id += 1
            return ReceivedMessage(sequence: id, time: Date(), from: from, to: to, text: text, isOwn: from == "alice", clientMessageID: id, trust: .unverified)
        }
        model.open(.direct("bob"))
        model.received(message("lunch?"))
        model.received(message("@alice the deploy is yours"))
        model.received(message("alice: and the review"))
        model.received(message("@alice says hi", from: "alice"))
        model.received(message("@alice in private", to: "alice"))
        model.open(.direct("bob"))
        let room = model.conversations[.room]!
        #expect(room.unread == 3 && room.unreadMentions == 2)
        #expect(room.lines.filter(\.mentionsMe).map(\.text) == ["@alice the deploy is yours", "alice: and the review"])
        #expect(model.conversations[.direct("bob")]!.lines.allSatisfy { !$0.mentionsMe })
        model.open(.room)
        #expect(model.conversations[.room]!.unread == 0 && model.conversations[.room]!.unreadMentions == 0)

        // The next start: the calls are found again among what the history kept unread.
        let next = ChatModel()
        next.myName = "alice"
        next.open(.direct("bob"))
        let kept = ["older", "@alice still yours", "newer"].enumerated().map { i, text in
            StoredMessage(id: Int64(i + 1), conversation: .room, from: "bob", to: "", text: text, time: Date(), isOwn: false,
                          sequence: UInt64(i + 1), clientMessageID: UInt64(i + 1), trust: .unverified, senderFingerprint: "")
        }
        next.prependKept(kept, requested: 200, in: .room)
        next.markUnreadKept(in: .room, Set(kept.dropFirst().map { ChatModel.messageID(from: "bob", $0.clientMessageID) }))
        #expect(next.conversations[.room]!.unread == 2 && next.conversations[.room]!.unreadMentions == 1)
    }

    /// A member backdating their words (or a clock set wrong) showed the false time alone: the
    /// server's is said beside it when the two disagree, with the day when that differs.
    @Test func aTimeTheServerDisagreesWithIsShownWithTheServers() {
        let model = ChatModel()
        model.myName = "alice"
        var calendar = Calendar.current
        calendar.timeZone = .current
        let relayed = calendar.date(from: DateComponents(year: 2026, month: 12, day: 5, hour: 14, minute: 0))!
        let sameDay = calendar.date(from: DateComponents(year: 2026, month: 12, day: 5, hour: 8, minute: 59))!
        let dayBefore = calendar.date(from: DateComponents(year: 2026, month: 12, day: 4, hour: 8, minute: 59))!
        for (id, time, relayedAt) in [(1, relayed, nil), (2, sameDay, relayed), (3, dayBefore, relayed)] as [(UInt64, Date, Date?)] {
            model.received(ReceivedMessage(sequence: id, time: time, from: "bob", to: "", text: "m\(id)", isOwn: false, clientMessageID: id,
                                           trust: .unverified, relayedAt: relayedAt))
        }
        let shown = model.conversations[.room]!.lines.filter { $0.kind == .message }.map(\.timeText)
        #expect(shown == ["14:00", "08:59 (relayed 14:00)", "4 Dec 2026 08:59 (relayed 5 Dec 2026 14:00)"])
    }

    /// Kept colours are taken back whether the history answers before the first member list
    /// or after it; names no longer listed keep none, and what is kept is bounded (a review: a
    /// server swapping in fresh names grew the kept map without end).
    @Test func keptColoursAreTakenBackWhicheverComesFirstAndWhatIsKeptIsBounded() {
        let model = ChatModel()
        model.adoptKeptColors(["bob": 5, "carol": 7, "dave": 99], present: [])
        model.assignColors(present: ["alice", "bob", "carol", "dave"])
        #expect(model.colorIndex["bob"] == 5 && model.colorIndex["carol"] == 7)
        #expect(ChatModel.palette.indices.contains(model.colorIndex["dave"]!))
        let later = ChatModel()
        later.assignColors(present: ["alice", "bob", "carol"])
        later.adoptKeptColors(["bob": 5, "carol": 7], present: ["alice", "bob", "carol"])
        #expect(later.colorIndex["bob"] == 5 && later.colorIndex["carol"] == 7 && later.colorIndex["alice"] != 5 && later.colorIndex["alice"] != 7)
        later.assignColors(present: ["alice", "bob"])
        #expect(later.colorIndex["carol"] == nil)
        later.assignColors(present: (0..<3_000).map { "m\($0)" })
        #expect(later.colorsToKeep.count == ChatModel.maxKeptColors)
    }

    /// Issue 15: "new since you were here" stayed for the whole session. It goes once the
    /// conversation was seen and left, or answered.
    @Test func theNewSinceLineGoesOnceTheConversationWasSeenOrAnswered() {
        let model = ChatModel()
        model.myName = "alice"
        func message(_ text: String, to: String = "") -> ReceivedMessage {
            ReceivedMessage(sequence: 1, time: Date(), from: "bob", to: to, text: text, isOwn: false, clientMessageID: 1, trust: .unverified)
        }
        func marked(_ c: Conversation) -> Bool { model.conversations[c]?.lines.contains { $0.kind == .newSince } == true }
        model.beginCatchUp()
        model.received(message("while you were away"))
        model.received(message("for you alone", to: "alice"))
        model.endCatchUp()
        #expect(marked(.room) && marked(.direct("bob")))
        // The room was on screen; opening bob's conversation leaves it seen.
        model.open(.direct("bob"))
        #expect(!marked(.room))
        #expect(marked(.direct("bob")), "not seen until it is left or answered")
        model.queued(id: 7, to: "bob", text: "thanks")
        #expect(!marked(.direct("bob")))
        // Opening the conversation already shown changes nothing.
        model.beginCatchUp()
        model.received(message("again", to: "alice"))
        model.endCatchUp()
        model.open(.direct("bob"))
        #expect(marked(.direct("bob")))
        // A newcomer's run: after a reconnect, the conversation that stayed open got "new since
        // you were here" though the person never left it. Only the others are marked.
        model.open(.room)
        #expect(!marked(.direct("bob")))
        model.beginCatchUp(seeing: .room)
        model.received(message("during the reconnect"))
        model.received(message("meanwhile, for you", to: "alice"))
        model.endCatchUp()
        #expect(!marked(.room) && marked(.direct("bob")))
    }

    /// Leaving a chat is more often leaving its window open behind others than closing it:
    /// what arrived in the open conversation meanwhile was counted read, with no count and
    /// no line to find it by. It is unread until the window is looked at again, then under a
    /// "new since" line (moved there from where an earlier absence put it).
    @Test func whatArrivesWhileTheWindowIsBehindIsUnreadUntilItIsBack() {
        let model = ChatModel()
        model.myName = "alice"
        var id: UInt64 = 0
        func receive(_ text: String) {
            id += 1
            model.received(ReceivedMessage(sequence: id, time: Date(), from: "bob", to: "", text: text, isOwn: false, clientMessageID: id, trust: .unverified))
        }
        func unread() -> Int { model.conversations[.room]!.unread }
        func textUnderTheLine() -> [String] {
            let lines = model.conversations[.room]!.lines
            guard let line = lines.firstIndex(where: { $0.kind == .newSince }) else { return [] }
            #expect(lines.count { $0.kind == .newSince } == 1)
            return lines[(line + 1)...].filter { $0.kind == .message }.map(\.text)
        }
        receive("seen as it came")
        #expect(unread() == 0)
        #expect(!model.attend(true), "already looking")
        model.attend(false)
        receive("while you were at another window")
        receive("and this")
        #expect(unread() == 2)
        #expect(textUnderTheLine().isEmpty, "marked only once they are back")
        #expect(model.attend(true))
        #expect(unread() == 0)
        #expect(textUnderTheLine() == ["while you were at another window", "and this"])
        // Away again: the line moves to what is new this time.
        model.attend(false)
        receive("later")
        #expect(model.attend(true))
        #expect(textUnderTheLine() == ["later"])
        // Away with nothing new: the line stays where it is.
        model.attend(false)
        #expect(!model.attend(true))
        #expect(textUnderTheLine() == ["later"])
    }

    /// A found message on one line: the words found marked where they are shown, from a few
    /// words before the first when it lies past what the line shows, line breaks as ↵ and
    /// controls escaped (marks stay on their words after both).
    @Test func aFoundMessageIsShownFromNearItsFirstMatch() {
        func marked(_ line: (text: String, highlights: [Range<Int>])) -> [String] {
            let characters = Array(line.text)
            return line.highlights.map { String(characters[$0]) }
        }
        let text = "the first line of a long message that goes on\nand on, until the word we want: zanzibar, then zanzi\u{1B}[31m"
        let characters = Array(text)
        func range(_ word: String, from: Int = 0) -> Range<Int> {
            let start = (from..<characters.count).first { String(characters[$0...].prefix(word.count)) == word }!
            return start..<(start + word.count)
        }
        let matches = [range("zanzibar"), range("zanzi", from: range("zanzibar").upperBound)]
        let whole = ChatApp.resultLine(text, matches: matches, fits: nil)
        #expect(whole.text.hasPrefix("the first line") && whole.text.contains(" ↵ and on") && !whole.text.contains("\u{1B}"))
        #expect(marked(whole) == ["zanzibar", "zanzi"])
        let cut = ChatApp.resultLine(text, matches: matches, fits: 60)
        #expect(cut.text.hasPrefix("…") && cut.text.contains("zanzibar") && !cut.text.contains("first line"))
        #expect(cut.text.count - cut.text.distance(from: cut.text.startIndex, to: cut.text.range(of: "zanzibar")!.lowerBound) > 10)
        #expect(marked(cut) == ["zanzibar", "zanzi"])
        // It starts at a word, a little before the match.
        #expect(cut.text.dropFirst().first.map { !$0.isWhitespace } == true)
        #expect(ChatApp.resultLine(text, matches: matches, fits: 200).text == whole.text)
        // Inside a link there is no word start before the match: the line starts mid-link,
        // not at the match with nothing before it (a newcomer's run: "…format=pdf and…").
        let link = "the report is at https://intranet.example.lan/finance/reports/2026/q4/export?tab=all&format=pdf today"
        let at = link.distance(from: link.startIndex, to: link.range(of: "format")!.lowerBound)
        let linkLine = ChatApp.resultLine(link, matches: [at..<(at + 6)], fits: 60)
        #expect(linkLine.text.hasPrefix("…") && !linkLine.text.hasPrefix("…format"), "\(linkLine.text)")
        #expect(linkLine.highlights.count == 1)
        // A line that shows `fits` characters gets at most twice that, marks past it dropped
        // (a 60 KB message was measured whole for its ellipsis in every frame).
        let long = "alpha " + String(repeating: "x", count: 50_000) + " alpha"
        let many = ChatApp.resultLine(long, matches: [0..<5, (long.count - 5)..<long.count], fits: 80)
        #expect(many.text.count <= 160 && many.highlights == [0..<5])
        // Ranges from elsewhere (not this text's) are left out, not trusted.
        #expect(ChatApp.resultLine("short", matches: [3..<9, -1..<2], fits: nil).highlights.isEmpty)
    }

    @Test func foundWordsReadOnTheirMark() {
        #expect(Self.contrast(Theme().text, Theme().match) >= 4.5)
    }
    /// A newcomer's run: 200 messages matched and the panel said "100 kept messages": at the
    /// limit it says these are the newest.
    @Test func searchSaysWhenItShowsOnlyTheNewest() {
        #expect(ChatApp.foundCount(1) == "1 kept message")
        #expect(ChatApp.foundCount(3) == "3 kept messages")
        #expect(ChatApp.foundCount(ChatApp.searchResults) == "The newest \(ChatApp.searchResults) kept messages")
    }
    /// A newcomer's run: the window opened at 1000 × 680 whatever size it was closed at. It
    /// opens as it was closed, within reason; tests' hidden windows keep the size asked for.
    @Test func theWindowOpensAtTheSizeItWasClosedAt() {
        var options = AppOptions(configDirectory: FileManager.default.temporaryDirectory, dataDirectory: FileManager.default.temporaryDirectory)
        var saved = Settings()
        #expect(ChatApp.openingSize(options, saved: saved) == (1000, 680))
        saved.windowWidth = 1400
        saved.windowHeight = 900
        #expect(ChatApp.openingSize(options, saved: saved) == (1400, 900))
        saved.windowWidth = 10
        saved.windowHeight = 100_000
        #expect(ChatApp.openingSize(options, saved: saved) == (640, 8192))
        options.headless = true
        #expect(ChatApp.openingSize(options, saved: saved) == (1000, 680))
        // A settings file that cannot be read is not overwritten with defaults at exit (review).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-settings-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        #expect(Settings.loadIfReadable(from: dir) == Settings())
        try! Data("{not json".utf8).write(to: dir.appendingPathComponent("settings.json"))
        #expect(Settings.loadIfReadable(from: dir) == nil)
        // Kept in settings.json beside the form's fields, which older files lack.
        let old = try! JSONDecoder().decode(Settings.self, from: Data(#"{"username":"a","server":"s","port":"1"}"#.utf8))
        #expect(old.windowWidth == nil && old.username == "a")
    }
}

/// Links in messages, where a click opens them.
@Suite struct ChatLinksTests {
    func found(_ text: String) -> [String] {
        let characters = Array(text)
        return ChatLinks.find(in: text).map { String(characters[$0]) }
    }

    @Test func webLinksAreFoundWithoutTheSentencesPunctuation() {
        #expect(found("see https://example.com/a?b=1&c=2#top.") == ["https://example.com/a?b=1&c=2#top"])
        #expect(found("(https://en.wikipedia.org/wiki/Foo_(bar))") == ["https://en.wikipedia.org/wiki/Foo_(bar)"])
        #expect(found("two: http://a.lan:8080/x, HTTPS://B.LAN!") == ["http://a.lan:8080/x", "HTTPS://B.LAN"])
        // No address holds a quote or angle brackets (RFC 3986): the link ends there (a
        // newcomer's run underlined `http://x">link</a` of an HTML anchor).
        #expect(found("\"https://example.com/q?x=\"y\"\"") == ["https://example.com/q?x="])
        #expect(found("<a href=\"http://x.lan\">link</a> <https://b.lan/p>") == ["http://x.lan", "https://b.lan/p"])
        #expect(found("no links here").isEmpty)
    }

    /// Only what opens where it reads: not a look-alike host, not a hidden direction change,
    /// not another scheme, not a word that merely contains one.
    @Test func onlyPlainWebLinksAreLinks() {
        #expect(found("https://\u{430}pple.com/login").isEmpty, "a Cyrillic а in the host")
        #expect(found("https://example.com/\u{202E}gpj.exe").isEmpty, "a bidi override")
        #expect(found("ftp://example.com file:///etc/passwd javascript://x").isEmpty)
        #expect(found("xhttps://example.com https:// https:///path").isEmpty)
    }
}

/// Tab completes a member's name in the message box (a newcomer's run: it moved the focus to
/// the Send button, and the next Space sent half a message).
@Suite struct NameCompletionTests {
    func complete(_ text: String, names: [String], last: NameCompletion? = nil) -> (String, NameCompletion)? {
        let characters = Array(text)
        return NameCompletion.complete(characters, caret: characters.count, names: names, last: last).map { (String($0.text), $0.state) }
    }

    @Test func theWordBeforeTheCaretBecomesTheNameItBegins() {
        #expect(complete("hello @bo", names: ["alice", "bob"])?.0 == "hello @bob ")
        // "@" alone begins every name, in turn.
        let first = complete("ask @", names: ["carol", "bob"])
        #expect(first?.0 == "ask @bob ")
        #expect(complete("ask @bob ", names: ["carol", "bob"], last: first?.1)?.0 == "ask @carol ")
        #expect(complete("ask ", names: ["carol", "bob"]) == nil)
        #expect(complete("ALI", names: ["alice", "bob"])?.0 == "alice ")
        #expect(complete("thanks Zo", names: ["Zoë 🦊"])?.0 == "thanks Zoë 🦊 ")
        #expect(complete("hello ", names: ["alice"]) == nil, "no word begun")
        #expect(complete("hello x", names: ["alice"]) == nil, "no name begins with it: Tab moves the focus")
    }

    @Test func severalNamesComeInTurnAtEachTab() throws {
        let first = try #require(complete("ca", names: ["carol", "carl", "bob"]))
        #expect(first.0 == "carl ")
        let second = try #require(complete(first.0, names: ["carol", "carl", "bob"], last: first.1))
        #expect(second.0 == "carol ")
        let third = try #require(complete(second.0, names: ["carol", "carl", "bob"], last: second.1))
        #expect(third.0 == "carl ")
        // Typed on after a completion: a new word, not the next candidate.
        #expect(complete(first.0 + "an", names: ["carol", "carl", "anna"], last: first.1)?.0 == "carl anna ")
    }
}
