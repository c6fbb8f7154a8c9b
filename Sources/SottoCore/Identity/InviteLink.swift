/// `sotto://HOST:PORT/#SHA256:…`: where a server is and which key it must present.
public struct InviteLink: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var fingerprint: String

    public static let scheme = "sotto://"

    public init(host: String, port: Int, fingerprint: String) {
        self.host = host
        self.port = port
        self.fingerprint = fingerprint
    }

    public var text: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(Self.scheme)\(h):\(port)/#\(fingerprint)"
    }

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case notAnInvite, badHost, badPort, badFingerprint
        public var description: String {
            switch self {
            case .notAnInvite: return "an invite link starts with sotto://"
            case .badHost: return "the invite link has no server address"
            case .badPort: return "the invite link's port is not a number from 1 to 65535"
            case .badFingerprint: return "the invite link's fingerprint is missing or malformed"
            }
        }
    }

    public init(parsing raw: String) throws {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.lowercased().hasPrefix(Self.scheme) else { throw Problem.notAnInvite }
        let rest = text.dropFirst(Self.scheme.count)
        guard let hash = rest.firstIndex(of: "#") else { throw Problem.badFingerprint }
        var authority = rest[..<hash]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        let fingerprint = String(rest[rest.index(after: hash)...])
        guard Fingerprint.isWellFormed(fingerprint) else { throw Problem.badFingerprint }
        let host: Substring, portText: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw Problem.badHost }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            guard after.hasPrefix(":") else { throw Problem.badPort }
            portText = after.dropFirst()
        } else {
            guard let colon = authority.lastIndex(of: ":") else { throw Problem.badPort }
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else { throw Problem.badHost }
        guard let port = Int(portText), (1...65535).contains(port) else { throw Problem.badPort }
        self.init(host: String(host), port: port, fingerprint: fingerprint)
    }
}

import Foundation
