import Foundation
import SottoCore
import Testing
@testable import SottoWindow

/// What reaches the desktop of what others wrote: said as written, never obeyed.
@Suite struct DesktopNotifierTests {
    /// A notifier whose posts are kept, as a list.
    final class Posted {
        var notices: [DesktopNotifier.Notice] = []
        func notifier(_ preview: DesktopNotifier.Preview) -> DesktopNotifier { DesktopNotifier(preview: preview) { self.notices.append($0) } }
    }

    @Test func aDirectMessageAndACallByNameSayWhoWhereAndWhat() {
        let posted = Posted(), notifier = posted.notifier(.text)
        notifier.notify(from: "bob", in: .direct("bob"), text: "lunch?", now: 0)
        notifier.notify(from: "bob", in: .room, text: "@alice the deploy", now: 0)
        #expect(posted.notices == [.init(summary: "bob", body: "to you alone\nlunch?"), .init(summary: "bob", body: "called you in # room\n@alice the deploy")])
        let privately = Posted(), names = privately.notifier(.names)
        names.notify(from: "bob", in: .direct("bob"), text: "my PIN is 1234", now: 0)
        names.notify(from: "bob", in: .room, text: "@alice my PIN", now: 0)
        #expect(privately.notices == [.init(summary: "bob", body: "to you alone"), .init(summary: "bob", body: "called you in # room")])
        let none = Posted(), off = none.notifier(.off)
        off.notify(from: "bob", in: .direct("bob"), text: "hi", now: 0)
        off.postDue(now: 100)
        #expect(none.notices.isEmpty)
    }

    /// Notification servers read the body as markup: a link or bold text from a member would
    /// be drawn (and a link followed); controls and bidi overrides would reorder what is read.
    @Test func whatOthersWroteIsShownAsWrittenOnOneLine() {
        let notifier = DesktopNotifier(preview: .text, post: { _ in })
        let body = notifier.notice(from: "mallory", in: .direct("mallory"),
                                   text: "<a href=\"http://evil\">bank</a> & <b>urgent</b>\nsecond line\u{202E}txt.exe\u{1B}[2J", more: 0).body
        #expect(body == "to you alone\n&lt;a href=\"http://evil\"&gt;bank&lt;/a&gt; &amp; &lt;b&gt;urgent&lt;/b&gt; second line&lt;U+202E&gt;txt.exe␛[2J")
        // Glued to a neighbour (a prepended character before, a combining mark after), a "<"
        // is part of another Character, and went through unescaped (a review: a link reading
        // as one bank and opening another).
        let glued = notifier.notice(from: "mallory", in: .direct("mallory"),
                                    text: "\u{600}<a href=\"https://evil.example/\">\u{34F}bank\u{600}</a>\u{34F} \u{600}\\n &\u{301}", more: 0).body
        #expect(!glued.dropFirst("to you alone\n".count).unicodeScalars.contains { "<>\n".unicodeScalars.contains($0) }, "\(glued)")
        #expect(glued.contains("\u{600}&lt;a href") && glued.contains("&gt;\u{34F}") && glued.contains("\u{600}\\\\n") && glued.contains("&amp;\u{301}"))
        let long = notifier.notice(from: "bob", in: .direct("carol"), text: String(repeating: "é", count: 5_000), more: 0).body
        #expect(long == "to you alone\n" + String(repeating: "é", count: DesktopNotifier.maxBodyCharacters) + "…")
        // One character of thousands of marks (60 KB held a notification service for 16 s).
        let marks = notifier.notice(from: "bob", in: .direct("bob"), text: "x" + String(repeating: "\u{301}", count: 29_000) + "y", more: 0).body
        #expect(marks.utf8.count <= DesktopNotifier.maxBodyBytes + 40 && marks.hasSuffix("…"))
        // The summary is plain text to the servers: a name is not markup-escaped.
        #expect(notifier.notice(from: "R&D", in: .direct("R&D"), text: "x", more: 0).summary == "R&D")
        // notify-send reads C escapes in the body: "C:\\new" showed a line break.
        #expect(notifier.notice(from: "bob", in: .direct("bob"), text: #"C:\new\temp"#, more: 0).body == "to you alone\n" + #"C:\\new\\temp"#)
        // Where it was said is a line of its own, which no name can write (a member named
        // "alice in # room" wrote to you alone as alice calling you in the room).
        #expect(notifier.notice(from: "alice in # room", in: .direct("alice in # room"), text: "hi", more: 0).body == "to you alone\nhi")
    }

    /// A burst is one notification per conversation, not twenty, and then one for the rest
    /// once its quiet time is over (a newcomer's run: four of five never reached the desktop),
    /// unless the person came back to the window meanwhile.
    @Test func aBurstIsOneNotificationThenOneForTheRest() {
        let posted = Posted(), notifier = posted.notifier(.text)
        notifier.notify(from: "bob", in: .direct("bob"), text: "1", now: 100)
        notifier.notify(from: "bob", in: .direct("bob"), text: "2", now: 103)
        notifier.notify(from: "bob", in: .direct("bob"), text: "3", now: 105)
        notifier.notify(from: "carol", in: .direct("carol"), text: "c", now: 105)
        #expect(posted.notices.map(\.body) == ["to you alone\n1", "to you alone\nc"])
        #expect(notifier.nextDue() == 100 + DesktopNotifier.quietSeconds)
        notifier.postDue(now: 109)
        #expect(posted.notices.count == 2)
        notifier.postDue(now: 110)
        #expect(posted.notices.last == .init(summary: "bob", body: "to you alone (and 1 before)\n3"))
        #expect(notifier.nextDue() == nil)
        // Back at the window before the quiet time ends: nothing more is said.
        notifier.notify(from: "bob", in: .direct("bob"), text: "4", now: 112)
        notifier.forgetHeld()
        notifier.postDue(now: 200)
        #expect(posted.notices.count == 3)
    }

    /// However many write at once, at most three notifications in ten seconds (a review: a
    /// server listing thousands of members, each writing once, made as many processes); the
    /// rest follow as the desktop's quiet time allows, a bounded number of them.
    @Test func theDesktopIsToldAFewAtATime() {
        let posted = Posted(), notifier = posted.notifier(.text)
        for i in 0..<40 { notifier.notify(from: "m\(i)", in: .direct("m\(i)"), text: "hi", now: 100) }
        #expect(posted.notices.count == DesktopNotifier.maxPostsPerQuiet)
        #expect(notifier.nextDue() == 100 + DesktopNotifier.quietSeconds)
        notifier.postDue(now: 105)
        #expect(posted.notices.count == DesktopNotifier.maxPostsPerQuiet)
        var now = 110.0
        while let due = notifier.nextDue(), now < 300 {
            now = max(now, due)
            notifier.postDue(now: now)
            now += 0.5
        }
        #expect(posted.notices.count == DesktopNotifier.maxPostsPerQuiet + DesktopNotifier.maxHeld)
    }

    /// `notify-send` as installed: found on PATH, and handed the summary and body after "--",
    /// so a message starting with "-" is text, not an option. (A stand-in records its arguments.)
    @Test func notifySendIsGivenTheTextAfterTheEndOfItsOptions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(DesktopNotifier.findNotifySend(path: dir.path) == nil)
        let record = dir.appendingPathComponent("args")
        let tool = dir.appendingPathComponent("notify-send")
        try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"\(record.path)\"\n".write(to: tool, atomically: true, encoding: .utf8)
        chmod(tool.path, 0o755)
        let found = try #require(DesktopNotifier.findNotifySend(path: "/nonexistent:\(dir.path)"))
        DesktopNotifier.run(found, DesktopNotifier.arguments(for: .init(summary: "bob", body: "--help me")))
        let args = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(args == ["--app-name=Sotto", "--category=im.received", "--", "bob", "--help me"])
    }
}
