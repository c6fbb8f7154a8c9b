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
    /// When the last few notices went, whatever their conversation: at most
    /// `maxPostsPerQuiet` in `quietSeconds` (a review: many members each writing once, or a
    /// server listing thousands, made as many notifications, and processes, at once).
    private var recentPosts: [Double] = []
    /// What arrived in a conversation's quiet time, said once it is over (a newcomer's run:
    /// four of a burst of five never reached the desktop): how many, and the last. At most
    /// `maxHeld` conversations; more are left to the window's own counts.
    private var held: [Conversation: (count: Int, sender: String, text: String)] = [:]
    static let quietSeconds = 10.0
    static let maxPostsPerQuiet = 3
    static let maxHeld = 16
    static let maxBodyCharacters = 200
    /// Also in bytes: one character can be a letter under thousands of combining marks (a
    /// review: 60 KB in one character held a notification service for 16 s).
    static let maxBodyBytes = 1_000

    init(preview: Preview, post: @escaping (Notice) -> Void = DesktopNotifier.spawnNotifySend) {
        self.preview = preview
        self.post = post
    }

    /// Notifies of a message from `sender` in `conversation` (`now`: seconds, any origin), or
    /// holds it until the conversation's quiet time, and the desktop's, are over.
    func notify(from sender: String, in conversation: Conversation, text: String, now: Double) {
        guard preview != .off else { return }
        let quiet = lastPosted[conversation].map { now >= $0 && now - $0 < Self.quietSeconds } ?? false
        guard !quiet, held[conversation] == nil, mayPost(now: now) else {
            guard held[conversation] != nil || held.count < Self.maxHeld else { return }
            held[conversation] = ((held[conversation]?.count ?? 0) + 1, sender, text)
            return
        }
        posted(in: conversation, now: now)
        post(notice(from: sender, in: conversation, text: text, more: 0))
    }

    private func mayPost(now: Double) -> Bool {
        recentPosts.removeAll { now - $0 >= Self.quietSeconds || now < $0 }
        return recentPosts.count < Self.maxPostsPerQuiet
    }

    private func posted(in conversation: Conversation, now: Double) {
        lastPosted[conversation] = now
        recentPosts.append(now)
    }

    /// When the first held notice may go (the window wakes for it), if any is held.
    func nextDue() -> Double? {
        guard !held.isEmpty else { return nil }
        let desktop = recentPosts.count < Self.maxPostsPerQuiet ? -Double.infinity : (recentPosts.min() ?? 0) + Self.quietSeconds
        let conversation = held.keys.map { lastPosted[$0].map { $0 + Self.quietSeconds } ?? -.infinity }.min() ?? -.infinity
        return max(desktop, conversation)
    }

    /// Posts what was held for conversations whose quiet time is over, as the desktop's allows.
    func postDue(now: Double) {
        guard !held.isEmpty else { return }
        for (conversation, waiting) in held.sorted(by: { $0.key.title < $1.key.title }) {
            // Due once its quiet time is over (or the clock went back).
            let last = lastPosted[conversation] ?? -.infinity
            guard now - last >= Self.quietSeconds || now < last else { continue }
            guard mayPost(now: now) else { return }
            held[conversation] = nil
            posted(in: conversation, now: now)
            post(notice(from: waiting.sender, in: conversation, text: waiting.text, more: waiting.count - 1))
        }
    }

    /// The person is back at the window: what was held is seen there.
    func forgetHeld() { held = [:] }

    /// What a notice says of a message, and of `more` before it that were not said. Where it
    /// was said is the body's first line, which neither a name nor a message can write (a
    /// review: a member named "alice in # room" wrote to you alone as alice calling you there).
    func notice(from sender: String, in conversation: Conversation, text: String, more: Int) -> Notice {
        // The summary is plain text to notification servers; the body may be markup.
        let who = Self.inert(sender, limit: Username.maxCharacters, markup: false)
        let place = conversation == .room ? "called you in # room" : "to you alone"
        let earlier = more > 0 ? " (and \(more) before)" : ""
        let body: String
        switch preview {
        case .text: body = place + earlier + "\n" + Self.inert(text, limit: Self.maxBodyCharacters, markup: true)
        case .names, .off: body = place + earlier
        }
        return Notice(summary: who, body: body)
    }

    /// What others wrote, made inert for a notification: on one line, controls and bidi
    /// overrides as visible stand-ins (`TerminalText`), and for the body the markup
    /// notification servers read (`<b>`, `<a href=…>`, `&amp;`) and the backslashes notify-send
    /// reads escaped, so it shows as written; at most `limit` characters and `maxBodyBytes`.
    static func inert(_ text: String, limit: Int, markup: Bool) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        var shown = ""
        var bytes = 0
        for character in oneLine.prefix(limit) {
            bytes += character.utf8.count
            guard bytes <= maxBodyBytes else { break }
            shown.append(character)
        }
        if shown.count < oneLine.count { shown += "…" }
        guard markup else { return TerminalText.escaped(shown) }
        // Scalar by scalar: a "<" with a mark on it, or after a prepended one, is one
        // Character that is not "<", and went through unescaped (a review: a link to one
        // place reading as another, and "\\n" as a line break).
        var out = String.UnicodeScalarView()
        for scalar in TerminalText.escaped(shown).unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            // notify-send reads C escapes in the body (g_strcompress): "C:\\new" showed a
            // line break (a newcomer's run).
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
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

    /// Looked for once (a review: a search of PATH per notice, on the window's thread).
    private static let notifySend = findNotifySend()

    static func spawnNotifySend(_ notice: Notice) {
        guard let tool = notifySend else { return }
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
