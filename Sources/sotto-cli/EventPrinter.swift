import Foundation
import SottoClient
import SottoCore

/// Prints client events one per line, as text or as JSON objects. Text lines carry what
/// others wrote (messages, names, the server's error texts): each is escaped for the
/// terminal as a whole (`TerminalText`), so nothing from a peer or the server reaches it as
/// a control sequence. JSON keeps every string exact; the encoder escapes controls.
struct EventPrinter: Sendable {
    let json: Bool

    private static let clock: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss"
        return f
    }()

    func print(_ event: ClientEvent, mentionsYou: Bool = false) {
        switch event {
        case .message(let m):
            message(m, marks: [:], mentionsYou: mentionsYou)
        case .users(let members):
            if json {
                emit(["type": "users", "users": members.map {
                    var entry: [String: Any] = ["name": $0.name, "fingerprint": $0.fingerprint, "verified": $0.isVerified, "online": $0.online]
                    if let seen = $0.lastSeen { entry["lastSeen"] = Int64(seen.timeIntervalSince1970 * 1000) }
                    return entry
                }])
            } else {
                // Empty only when not connected (the list holds you whenever you are): the
                // state lines say so; "online: (nobody)" at /quit read as if everyone had left.
                guard !members.isEmpty else { return }
                let online = members.filter(\.online).map(\.name)
                let away = members.filter { !$0.online }.map { m in m.lastSeen.map { "\(m.name) (\(LastSeen.since($0)))" } ?? m.name }
                line("* online: " + (online.isEmpty ? "(nobody)" : online.joined(separator: ", "))
                     + (away.isEmpty ? "" : "; away: " + away.joined(separator: ", ")))
            }
        case .caughtUp:
            if json { emit(["type": "system", "kind": "caught-up", "text": "caught up with what waited for you"]) }
        case .notice(let notice):
            let text: String
            switch notice {
            case .keyChanged(let name, let previous, let current):
                text = "WARNING: \(name)'s identity key changed from \(previous) to \(current). Compare safety numbers (/fingerprint \(name)), then /verify \(name) to accept it."
            default:
                text = notice.text
            }
            if json {
                emit(["type": notice.isWarning ? "error" : "system", "kind": notice.kind, "text": text])
            } else {
                line((notice.isWarning ? "! " : "* ") + text)
            }
        case .identity(let name, let fingerprint, let safety):
            let text = "\(name ?? "you"): \(fingerprint)" + (safety.map { "; safety number with you: \($0)" } ?? "")
            json ? emit(["type": "system", "kind": "identity", "text": text]) : line("* \(text)")
        case .welcome(let name, let fingerprint):
            let text = "online as \(name) (server \(fingerprint))"
            json ? emit(["type": "system", "text": text]) : line("* \(text)")
        case .state(.reconnecting(let attempt, let delay)):
            let text = String(format: "reconnecting in %.1f s (attempt %d)", delay, attempt)
            json ? emit(["type": "system", "text": text]) : line("* \(text)")
        case .rejected:
            break  // the server's error line already said why
        case .state, .queued, .delivered:
            break
        }
    }

    /// A message as received live, or from the local history (`marks`: "history", "search").
    func message(_ m: ReceivedMessage, marks: [String: Bool], mentionsYou: Bool = false) {
        if json {
            var object: [String: Any] = ["type": "message", "from": m.from, "text": m.text,
                                         "time": ISO8601DateFormatter().string(from: m.time), "sequence": m.sequence,
                                         "conversation": m.conversation == .room ? "room" : m.conversation.recipient, "verified": m.trust == .verified,
                                         "encryption": m.encryption]
            if m.isDirect { object["to"] = m.to; object["direct"] = true }
            // The server's time where it disagreed with the sealed one (`time`) beyond the skew.
            if let relayed = m.relayedAt { object["relayedAt"] = ISO8601DateFormatter().string(from: relayed) }
            for (mark, value) in marks { object[mark] = value }
            if mentionsYou { object["mentionsYou"] = true }
            emit(object)
        } else {
            let who = m.isDirect ? "\(m.from) → \(m.to)" : m.from
            let mark = if case .changed = m.trust, !m.isOwn { " [key changed]" } else { "" }
            // Kept messages may be from another day: they carry the date.
            // Kept messages, and any not from today (a sender may date theirs: one a day old
            // read as today's), carry the date; the server's time follows where it disagreed.
            let clock = marks.isEmpty && Calendar.current.isDateInToday(m.time) ? Self.clock : Self.dateAndClock
            let relayed = m.relayedAt.map { " (relayed \(Self.dateAndClock.string(from: $0)))" } ?? ""
            // A message's own lines go under its first, each behind a bar, never at the start
            // of a line of their own: one can't pass for a message from someone else (it showed
            // as one line with ␊ between them).
            let lines = m.text.split(separator: "\n", omittingEmptySubsequences: false)
            line("[\(clock.string(from: m.time))\(relayed)] <\(who)>\(mark) \(lines[0])")
            for more in lines.dropFirst() { line(Self.continuation + more) }
        }
    }

    /// Before each further line of a message.
    static let continuation = "    │ "

    private static let dateAndClock: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f
    }()

    /// A line of sotto-cli's own (help, a command's answer).
    func info(_ text: String) {
        json ? emit(["type": "system", "text": text]) : line("* \(text)")
    }

    /// A problem with what was typed: nothing was sent.
    func warning(_ text: String) {
        json ? emit(["type": "error", "text": text]) : line("! \(text)")
    }

    /// A line of our own for a person reading text (nothing in JSON: scripts have the events).
    func note(_ text: String) {
        if !json { line("* " + text) }
    }

    /// The one sentence a failed run ends with, also on standard error.
    func fatal(_ text: String) {
        if json { emit(["type": "error", "text": text, "fatal": true]) }
        FileHandle.standardError.write(Data("sotto-cli: \(TerminalText.escaped(text))\n".utf8))
    }

    private func emit(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(TerminalText.jsonEscaped(String(decoding: data, as: UTF8.self)))
    }

    private func line(_ text: String) {
        write(TerminalText.escaped(text))
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
