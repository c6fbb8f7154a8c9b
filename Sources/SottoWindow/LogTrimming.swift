import SottoClient
import SottoCore

/// A conversation's log in memory is bounded: a member sending 20 messages a second, or a
/// hostile server's notices, grew it (and the wrapped lines cached for it) without end while
/// the window stayed open. Past the bound, while the view follows the newest, its oldest lines
/// are let go; they come back from the history as the log is scrolled up, as older pages do.
/// Scrolled up, the person is reading on towards the top: nothing there goes unless what
/// arrives meanwhile takes the log far past its bound.
extension ChatModel {
    /// At most this many lines, or this many bytes of text, per conversation.
    static let linesKept = 5_000
    static let textBytesKept = 4 << 20
    /// Trimmed down to four fifths of the bounds, so it happens once in a while, not at
    /// every line (each trim copies the log).
    static let trimmedTo = (lines: linesKept * 4 / 5, textBytes: textBytesKept * 4 / 5)
    /// While the view is scrolled up, a log is trimmed only past this many times its bounds
    /// beyond what the person brought in (`ConversationLog.askedFor`: older pages, a search
    /// result far back); the view then starts at the oldest line left. What arrives never
    /// holds memory without end, wherever the person looks.
    static let boundBeyondView = 4

    /// Whether a conversation's log is past its bound (cheap: asked after every batch of events).
    func isPastBound(_ conversation: Conversation) -> Bool {
        guard let log = conversations[conversation] else { return false }
        return log.lines.count > Self.linesKept || log.textBytes > Self.textBytesKept
    }

    /// Lets go of a conversation's oldest lines down to `trimmedTo` while the view follows
    /// the newest (`viewTop` nil; else the key of the line at its top), or past
    /// `boundBeyondView` times the bounds beyond what was asked for when it does not. Lines of
    /// messages still being sent stay. With `historyKept` false nothing can bring the others
    /// back, and a line says so. Returns the keys let go (their wrapped lines can go too).
    @discardableResult
    func trimmed(_ conversation: Conversation, viewTop: Int?, historyKept: Bool) -> [Int] {
        guard var log = conversations[conversation] else { return [] }
        var bytes = log.lines.reduce(0) { $0 + $1.text.utf8.count }
        log.textBytes = bytes
        let count = log.lines.count
        let farPast = count > Self.boundBeyondView * Self.linesKept + log.askedFor.lines
            || bytes > Self.boundBeyondView * Self.textBytesKept + log.askedFor.textBytes
        guard count > Self.linesKept || bytes > Self.textBytesKept, viewTop == nil || farPast else {
            conversations[conversation] = log
            return []
        }
        log.askedFor = (0, 0)
        var cut = 0
        while cut < count - 1, count - cut > Self.trimmedTo.lines || bytes > Self.trimmedTo.textBytes {
            bytes -= log.lines[cut].text.utf8.count
            cut += 1
        }
        let goes = log.lines[..<cut]
        let stays = goes.filter { $0.pendingID != nil }
        let dropped = goes.filter { $0.pendingID == nil }
        // Older pages now load from where the log starts: before its first message, or, when
        // no message is left, with the newest one let go. Nothing to change if none went.
        if let newestGone = dropped.last(where: { $0.messageID != nil })?.messageID {
            let firstLeft = log.lines[cut...].first(where: { $0.messageID != nil })?.messageID
            if let anchor = Self.parseMessageID(firstLeft ?? newestGone) {
                log.olderBefore = (anchor.sender, anchor.clientMessageID, inclusive: firstLeft == nil)
            }
            log.oldestKept = nil
            log.olderExhausted = !historyKept
            log.loadingOlder = false
        }
        if dropped.contains(where: { $0.kind == .newSince }) { log.markedNewSince = false }
        log.lines.removeFirst(cut)
        log.lines.insert(contentsOf: stays, at: 0)
        log.textBytes = log.lines.reduce(0) { $0 + $1.text.utf8.count }
        if !historyKept, let first = log.lines.first, first.kind != .system || first.text != Self.olderLetGoText {
            _ = log.insert(.system, Self.olderLetGoText, above: 0)
        }
        conversations[conversation] = log
        return dropped.map(\.key)
    }

    static let olderLetGoText = "Older lines of this conversation are no longer shown: history is off, so they are not kept on this device."
}
