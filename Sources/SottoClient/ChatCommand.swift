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

    public init(parsing line: String) {
        guard line.contains(where: { !$0.isWhitespace }) else { self = .nothing; return }
        guard line.hasPrefix("/") else { self = .text(line); return }
        if line.hasPrefix("//") { self = .text(String(line.dropFirst())); return }

        let afterSlash = line.dropFirst()
        let word = afterSlash.prefix { !$0.isWhitespace }
        let rest = afterSlash.dropFirst(word.count).drop { $0 == " " || $0 == "\t" }
        switch word.lowercased() {
        case "msg", "m":
            guard let (name, text) = Self.splitName(rest),
                  text.contains(where: { !$0.isWhitespace }) else { self = .invalid(.usage(.msg)); return }
            self = .command(.directMessage(to: name, text: String(text)))
        case "users", "who":
            self = .command(.users)
        case "fingerprint", "fp":
            let name = Self.wholeName(rest)
            self = .command(.fingerprint(of: name))
        case "verify":
            guard let name = Self.wholeName(rest) else { self = .invalid(.usage(.verify)); return }
            self = .command(.verify(name))
        case "help", "?":
            self = .command(.help)
        case "quit", "exit":
            self = .command(.quit)
        default:
            self = .invalid(.unknown(String(line.prefix { !$0.isWhitespace }.prefix(40))))
        }
    }

    /// A name then text: `bob text` or, for a name with spaces, `"ana maria" text`.
    private static func splitName(_ s: Substring) -> (String, Substring)? {
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
    case users
    /// Yours when nil; a member's, with the safety number you share, otherwise.
    case fingerprint(of: String?)
    /// Marks a member's current key as verified (after comparing safety numbers).
    case verify(String)
    case help
    case quit

    public enum Name: String, CaseIterable, Sendable {
        case msg, users, fingerprint, verify, help, quit

        public var usage: String {
            switch self {
            case .msg: return "/msg NAME text"
            case .users: return "/users"
            case .fingerprint: return "/fingerprint [NAME]"
            case .verify: return "/verify NAME"
            case .help: return "/help"
            case .quit: return "/quit"
            }
        }

        public var purpose: String {
            switch self {
            case .msg: return "a direct message only NAME can read; quote a name with spaces"
            case .users: return "who is online"
            case .fingerprint: return "your key's fingerprint, or NAME's with your safety number"
            case .verify: return "mark NAME's key as verified once the safety numbers match"
            case .help: return "this list"
            case .quit: return "leave"
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

    public var description: String {
        switch self {
        case .unknown(let word):
            let commands = ChatCommand.Name.allCases.map { "/\($0.rawValue)" }.joined(separator: ", ")
            return "Unknown command \(word): nothing was sent. Commands: \(commands). Start a line with // to send it beginning with /."
        case .usage(let name):
            return "Usage: \(name.usage) — \(name.purpose). Nothing was sent."
        }
    }
}

extension Member {
    /// The listed member a typed name means: exactly as listed, else the one whose name
    /// reads the same (case, look-alikes: the server's own uniqueness rule).
    public static func named(_ typed: String, in members: [Member]) -> Member? {
        if let exact = members.first(where: { $0.name == typed }) { return exact }
        guard let key = try? Username(typed).key else { return nil }
        return members.first { (try? Username($0.name).key) == key }
    }
}
