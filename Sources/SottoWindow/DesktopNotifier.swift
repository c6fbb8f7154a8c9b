import Foundation
import SottoCore

/// Desktop notifications for what asks for the person while the window is behind others: a
/// direct message, or the room calling them by name (the taskbar's urgency hint alone went
/// unseen under a full-screen editor). Through `notify-send` (libnotify-bin), when installed:
/// the freedesktop notification service of any desktop, with no library linked. Decided here,
/// posted elsewhere: `post` is replaced in tests.
final class DesktopNotifier {
    typealias Preview = NotificationPreview

    struct Notice: Equatable {
        var summary: String
        var body: String
    }

    var preview: Preview
    /// Hands a notice to the desktop (off the frame: a process is started).
    var post: (Notice) -> Void
    /// Per conversation, when it last notified: one a conversation per `quietSeconds`, so a
    /// burst is one notification and then one for the rest, not twenty.
    private var lastPosted: [Conversation: Double] = [:]
    /// What arrived in a conversation's quiet time, said once it is over (a newcomer's run:
    /// four of a burst of five never reached the desktop): how many, and the last.
    private var held: [Conversation: (count: Int, sender: String, text: String)] = [:]
    static let quietSeconds = 10.0
    static let maxBodyCharacters = 200

    init(preview: Preview, post: @escaping (Notice) -> Void = DesktopNotifier.spawnNotifySend) {
        self.preview = preview
        self.post = post
    }

    /// Notifies of a message from `sender` in `conversation` (`now`: seconds, any origin), or
    /// holds it until the conversation's quiet time is over.
    func notify(from sender: String, in conversation: Conversation, text: String, now: Double) {
        guard preview != .off else { return }
        if let last = lastPosted[conversation], now >= last, now - last < Self.quietSeconds {
            held[conversation] = ((held[conversation]?.count ?? 0) + 1, sender, text)
            return
        }
        lastPosted[conversation] = now
        post(notice(from: sender, in: conversation, text: text, more: 0))
    }

    /// When the first held notice is due (the window wakes for it), if any is held.
    func nextDue() -> Double? {
        held.keys.compactMap { lastPosted[$0].map { $0 + Self.quietSeconds } }.min()
    }

    /// Posts what was held for conversations whose quiet time is over.
    func postDue(now: Double) {
        for (conversation, waiting) in held {
            // Due once its quiet time is over (or the clock went back).
            let last = lastPosted[conversation] ?? -.infinity
            guard now - last >= Self.quietSeconds || now < last else { continue }
            held[conversation] = nil
            lastPosted[conversation] = now
            post(notice(from: waiting.sender, in: conversation, text: waiting.text, more: waiting.count - 1))
        }
    }

    /// The person is back at the window: what was held is seen there.
    func forgetHeld() { held = [:] }

    /// What a notice says of a message, and of `more` before it that were not said.
    func notice(from sender: String, in conversation: Conversation, text: String, more: Int) -> Notice {
        // The summary is plain text to notification servers; the body may be markup.
        let who = Self.inert(sender, limit: Username.maxCharacters, markup: false)
        let summary: String
        switch conversation {
        case .room: summary = "\(who) in # room"
        case .direct: summary = who
        }
        let earlier = more > 0 ? "(\(more) more before) " : ""
        let body: String
        switch preview {
        case .text: body = earlier + Self.inert(text, limit: Self.maxBodyCharacters, markup: true)
        case .names, .off: body = earlier + (conversation == .room ? "called you by name" : "sent you a message")
        }
        return Notice(summary: summary, body: body)
    }

    /// What others wrote, made inert for a notification: on one line, controls and bidi
    /// overrides as visible stand-ins (`TerminalText`), and for the body the markup
    /// notification servers read (`<b>`, `<a href=…>`, `&amp;`) and the backslashes notify-send
    /// reads escaped, so it shows as written; at most `limit` characters.
    static func inert(_ text: String, limit: Int, markup: Bool) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        var shown = String(oneLine.prefix(limit))
        if oneLine.count > limit { shown += "…" }
        guard markup else { return TerminalText.escaped(shown) }
        var out = ""
        for character in TerminalText.escaped(shown) {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            // notify-send reads C escapes in the body (g_strcompress): "C:\new" showed a
            // line break (a newcomer's run).
            case "\\": out += "\\\\"
            default: out.append(character)
            }
        }
        return out
    }

    /// `notify-send`'s arguments: after "--", so a summary or body starting with "-" is text,
    /// never an option.
    static func arguments(for notice: Notice) -> [String] {
        ["--app-name=Sotto", "--category=im.received", "--", notice.summary, notice.body]
    }

    /// Where `notify-send` is, on `PATH`; nil if it is not installed.
    static func findNotifySend(path: String? = ProcessInfo.processInfo.environment["PATH"]) -> URL? {
        for directory in (path ?? "/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("notify-send")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// One at a time, on a queue of its own; a notice arriving while four wait is dropped
    /// (the desktop is not answering; the window's own counts still say it all).
    private static let queue = DispatchQueue(label: "sotto.notifications")
    private static let waiting = NSLock()
    nonisolated(unsafe) private static var waitingCount = 0
    static let maxWaiting = 4

    static func spawnNotifySend(_ notice: Notice) {
        guard let tool = findNotifySend() else { return }
        let admitted: Bool = waiting.withLock {
            guard waitingCount < maxWaiting else { return false }
            waitingCount += 1
            return true
        }
        guard admitted else { return }
        queue.async {
            defer { waiting.withLock { waitingCount -= 1 } }
            run(tool, arguments(for: notice))
        }
    }

    /// Runs the tool and waits for it (no zombie is left), its output discarded.
    static func run(_ tool: URL, _ arguments: [String]) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return }
        process.waitUntilExit()
    }
}
