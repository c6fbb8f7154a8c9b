import Foundation
import SottoCore

/// What a person typed, in the window's composer or on sotto-cli's standard input: one
/// parser for both, so that a command one of them understands is never sent by the other
/// as text to the whole room.
public enum ChatInput: Equatable, Sendable {
    /// Text for the current conversation; a leading "//" has become a literal "/".
    case text(String)
    case command(ChatCommand)
    /// A line that starts with "/" but is no command, or a command without what it needs:
    /// nothing is sent.
    case invalid(CommandProblem)
    /// Only whitespace.
    case nothing

    /// Characters that read as a slash at the start of a line (an IME's fullwidth ／, the
    /// division and fraction slashes): followed by a command's name, they are that command,
    /// so "／msg bob …" is never sent to the room.
    static let slashLookAlikes: Set<Character> = ["／", "∕", "⁄"]

    /// `members`: the names listed now, so an unquoted name with spaces ("ana maria") is
    /// taken whole when someone of that name is online.
    public init(parsing line: String, members: [String] = []) {
        // What a person cannot see does not decide: leading spaces, tabs, newlines and
        // invisible characters (a BOM, zero-width spaces) are skipped to find the command.
        let visible = line.drop { $0.isWhitespace || $0.unicodeScalars.allSatisfy(\.properties.isDefaultIgnorableCodePoint) }
        guard let first = visible.first else { self = .nothing; return }
        let isSlash = first == "/"
        guard isSlash || Self.slashLookAlikes.contains(first) else { self = .text(line); return }
        if isSlash, visible.dropFirst().first == "/" { self = .text(String(visible.dropFirst())); return }

        let afterSlash = visible.dropFirst()
        let word = afterSlash.prefix { !$0.isWhitespace }
        let rest = afterSlash.dropFirst(word.count).drop { $0 == " " || $0 == "\t" }
        guard let name = ChatCommand.Name(typed: word.lowercased()) else {
            // A look-alike slash before an ordinary word is just text.
            self = isSlash ? .invalid(.unknown(String(visible.prefix { !$0.isWhitespace }.prefix(40)))) : .text(line)
            return
        }
        // Only a direct message may run over several lines; any other command with more
        // lines would lose them.
        if name != .msg, rest.contains(where: \.isNewline) { self = .invalid(.extraLines(name)); return }
        switch name {
        case .msg:
            guard let (to, text) = Self.splitName(rest, members: members) else { self = .invalid(.usage(.msg)); return }
            // A name alone: that conversation, opened (a newcomer's run: the keyboard had no way
            // to a conversation with someone new but to send them something).
            guard text.contains(where: { !$0.isWhitespace }) else { self = .command(.open(to)); return }
            self = .command(.directMessage(to: to, text: String(text)))
        case .users:
            self = .command(.users)
        case .fingerprint:
            self = .command(.fingerprint(of: Self.wholeName(rest)))
        case .verify:
            guard let target = Self.wholeName(rest) else { self = .invalid(.usage(.verify)); return }
            self = .command(.verify(target))
        case .history:
            let count = rest.trimmingCharacters(in: .whitespaces)
            if count.isEmpty { self = .command(.history(count: ChatCommand.defaultHistoryCount)); return }
            guard let n = Int(count), (1...ChatCommand.maxHistoryCount).contains(n) else { self = .invalid(.usage(.history)); return }
            self = .command(.history(count: n))
        case .search:
            let words = rest.trimmingCharacters(in: .whitespaces)
            guard words.contains(where: { $0.isLetter || $0.isNumber }) else { self = .invalid(.usage(.search)); return }
            self = .command(.search(words))
        case .forget:
            self = .command(.forget)
        case .leave:
            self = .command(.leave(confirming: Self.wholeName(rest)))
        case .reconnect:
            self = .command(.reconnect)
        case .help:
            self = .command(.help)
        case .quit:
            self = .command(.quit)
        }
    }

    /// A name then text: `bob text` or, for a name with spaces, `"ana maria" text`.
    private static func splitName(_ s: Substring, members: [String]) -> (String, Substring)? {
        // The longest listed name the line starts with, whole words, any case.
        let listed = members.filter { $0.contains(" ") }.sorted { $0.count > $1.count }
        for member in listed {
            let candidate = s.prefix(member.count)
            guard candidate.count == member.count, candidate.lowercased() == member.lowercased() else { continue }
            let after = s.dropFirst(member.count)
            guard after.isEmpty || after.first!.isWhitespace else { continue }
            return (String(candidate), after.isEmpty ? after : after.dropFirst())
        }
        if s.hasPrefix("\"") {
            let inner = s.dropFirst()
            guard let close = inner.firstIndex(of: "\"") else { return nil }
            let name = inner[..<close]
            guard !name.isEmpty else { return nil }
            return (String(name), inner[inner.index(after: close)...].drop { $0 == " " || $0 == "\t" })
        }
        let name = s.prefix { !$0.isWhitespace }
        guard !name.isEmpty else { return nil }
        let text = s.dropFirst(name.count)
        // One separating space or newline; the text keeps the rest exactly as typed.
        return (String(name), text.isEmpty ? text : text.dropFirst())
    }

    /// The rest of the line is one name (names may hold spaces); quotes around it are optional.
    private static func wholeName(_ s: Substring) -> String? {
        var name = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") { name = String(name.dropFirst().dropLast()) }
        return name.isEmpty ? nil : name
    }
}

public enum ChatCommand: Equatable, Sendable {
    /// Sent end to end to one member only, whatever conversation is open.
    case directMessage(to: String, text: String)
    /// `/msg NAME` alone: the window opens the conversation with NAME (sotto-cli, which has
    /// no conversation open, says how to write to them).
    case open(String)
    case users
    /// Yours when nil; a member's, with the safety number you share, otherwise.
    case fingerprint(of: String?)
    /// Marks a member's current key as verified (after comparing safety numbers).
    case verify(String)
    /// The last messages of the open conversation, from the local history.
    case history(count: Int)
    /// Messages in the local history containing these words.
    case search(String)
    /// Deletes the open conversation's local history.
    case forget
    /// Leaves the server for good; goes only with the person's own name typed after it.
    case leave(confirming: String?)
    /// While waiting to reconnect (or after a connection failed): try now, not at the next attempt.
    case reconnect
    case help
    case quit

    /// What `/reconnect` does in a state (the sentence is the window's or sotto-cli's).
    public enum ReconnectDecision: Equatable, Sendable {
        case connectNow, alreadyOnline, alreadyConnecting, notConnected
    }

    public static func reconnectDecision(in state: ConnectionState) -> ReconnectDecision {
        switch state {
        case .reconnecting, .failed: return .connectNow
        case .online: return .alreadyOnline
        case .connecting, .loggingIn: return .alreadyConnecting
        // Never connected yet, or left the server (`/leave`): a new membership is not typed by accident.
        case .disconnected: return .notConnected
        }
    }

    public static let defaultHistoryCount = 20
    public static let maxHistoryCount = 10_000

    public enum Name: String, CaseIterable, Sendable {
        case msg, users, fingerprint, verify, history, search, forget, leave, reconnect, help, quit

        /// The name as typed (lowercased), or one of its short forms.
        init?(typed word: String) {
            switch word {
            case "msg", "m": self = .msg
            case "users", "who": self = .users
            case "fingerprint", "fp": self = .fingerprint
            case "verify": self = .verify
            case "history": self = .history
            case "search", "find": self = .search
            case "forget": self = .forget
            case "leave": self = .leave
            case "reconnect", "retry": self = .reconnect
            case "help", "?": self = .help
            case "quit", "exit": self = .quit
            default: return nil
            }
        }

        public var usage: String {
            switch self {
            case .msg: return "/msg NAME [text]"
            case .users: return "/users"
            case .fingerprint: return "/fingerprint [NAME]"
            case .verify: return "/verify NAME"
            case .history: return "/history [N]"
            case .search: return "/search WORDS"
            case .forget: return "/forget"
            case .leave: return "/leave YOURNAME"
            case .reconnect: return "/reconnect"
            case .help: return "/help"
            case .quit: return "/quit"
            }
        }

        public var purpose: String {
            switch self {
            case .msg: return "a direct message only NAME can read; without text, the window opens your conversation with NAME; quote a name with spaces"
            case .users: return "who is online, then who is away"
            case .fingerprint: return "your key's fingerprint, or NAME's with your safety number"
            case .verify: return "mark NAME's key as verified once the safety numbers match"
            case .history: return "the last N messages of this conversation kept on this device (20; at most \(ChatCommand.maxHistoryCount))"
            case .search: return "messages kept on this device that contain every word"
            case .forget: return "delete this conversation's history from this device"
            case .leave: return "leave this server for good: your name is freed, messages waiting for you are dropped"
            case .reconnect: return "while reconnecting: try now instead of waiting for the next attempt"
            case .help: return "this list"
            case .quit: return "close this client (you stay a member)"
            }
        }
    }

    /// Every command with what it does, one per line.
    public static var helpLines: [String] {
        Name.allCases.map { "\($0.usage) — \($0.purpose)" } + ["//text — send a line that starts with /"]
    }
}

public enum CommandProblem: Equatable, Sendable, CustomStringConvertible {
    /// The word typed, such as "/mgs".
    case unknown(String)
    case usage(ChatCommand.Name)
    /// A command followed by more lines (only /msg takes several).
    case extraLines(ChatCommand.Name)

    public var description: String {
        switch self {
        case .unknown(let word):
            let commands = ChatCommand.Name.allCases.map { "/\($0.rawValue)" }.joined(separator: ", ")
            return "Unknown command \(word): nothing was sent. Commands: \(commands). Start a line with // to send it beginning with /."
        case .usage(let name):
            return "Usage: \(name.usage) — \(name.purpose). Nothing was sent."
        case .extraLines(let name):
            return "/\(name.rawValue) takes one line; the lines after it were not sent. Send them on their own."
        }
    }
}

extension Member {
    /// What a typed name means among the listed members.
    public enum Match: Equatable, Sendable {
        /// Listed under this name, as typed or in another case.
        case member(Member)
        /// Nobody of that name, but someone whose name reads the same (a look-alike, such
        /// as a Cyrillic о for o): never taken for the person meant.
        case lookAlike(Member)
        case nobody
    }

    /// Exactly as listed, else the same name in another case (NFC, lowercased). A name that
    /// only looks the same is a different person: it is reported, not chosen.
    public static func match(_ typed: String, in members: [Member]) -> Match {
        if let exact = members.first(where: { $0.name == typed }) { return .member(exact) }
        let folded = typed.precomposedStringWithCanonicalMapping.lowercased()
        if let sameCase = members.first(where: { $0.name.precomposedStringWithCanonicalMapping.lowercased() == folded }) {
            return .member(sameCase)
        }
        guard let key = try? Username(typed).key else { return .nobody }
        if let similar = members.first(where: { (try? Username($0.name).key) == key }) { return .lookAlike(similar) }
        return .nobody
    }
}

extension Member {
    /// The listed name a mistyped one was most likely meant as: a name of several words
    /// whose first word was typed (unquoted, the rest became the message), else the nearest
    /// at most two edits away (one for a name of four characters or fewer: "zoë" is two from
    /// "bob"), case aside; nil if none is that close.
    public static func closest(to typed: String, in members: [Member]) -> String? {
        let lowered = typed.lowercased()
        guard !lowered.isEmpty else { return nil }
        if let whole = members.first(where: { $0.name.lowercased().hasPrefix(lowered + " ") }) { return whole.name }
        let target = Array(lowered)
        let bound = target.count <= 4 ? 1 : 2
        var best: (name: String, distance: Int)?
        for member in members {
            let d = editDistance(target, Array(member.name.lowercased()), atMost: bound)
            if d <= bound, d < best?.distance ?? .max { best = (member.name, d) }
        }
        return best?.name
    }

    /// How a name is typed in a command: in quotes if it has spaces.
    public static func typed(_ name: String) -> String { name.contains(" ") ? "\"\(name)\"" : name }

    /// Levenshtein distance, or more than `bound` once it must be (names are short; a long
    /// one is not compared cell by cell past the bound).
    static func editDistance(_ a: [Character], _ b: [Character], atMost bound: Int) -> Int {
        guard abs(a.count - b.count) <= bound else { return bound + 1 }
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            guard current.min()! <= bound else { return bound + 1 }
            previous = current
        }
        return previous[b.count]
    }
}

extension Member.Match {
    /// The name to act on (as listed, or as typed for someone not online), or why not.
    public func name(typed: String) -> Result<String, LookAlikeRefusal> {
        switch self {
        case .member(let m): return .success(m.name)
        case .nobody: return .success(typed)
        case .lookAlike(let m): return .failure(LookAlikeRefusal(typed: typed, listed: m.name))
        }
    }
}

/// A typed name that matched only someone whose name looks like it.
public struct LookAlikeRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let typed: String
    public let listed: String

    public var description: String {
        // The two may be drawn alike: say which characters the listed one is made of.
        let spelled = listed.unicodeScalars.map { String(format: "U+%04X", $0.value) }.joined(separator: " ")
        return "Nobody called \(typed) is online. \(listed) (\(spelled)) is a different name that looks like it, and may be someone passing for them: nothing was done. Type the name exactly as the list shows it if you mean them."
    }
}
