/// A Noise handshake pattern (spec §7): pre-messages and message token sequences.
public struct HandshakePattern: Sendable, Equatable {
    public enum Token: Sendable, Equatable { case e, s, ee, es, se, ss, psk }

    public let name: String
    let initiatorPreMessage: [Token]
    let responderPreMessage: [Token]
    let messages: [[Token]]

    var usesPSK: Bool { messages.contains { $0.contains(.psk) } }

    /// The patterns Sotto knows. Sotto itself speaks only XX; the others let the vector
    /// runner check the shared machinery against more of the published vectors.
    static let base: [String: HandshakePattern] = [
        "XX": HandshakePattern(name: "XX", initiatorPreMessage: [], responderPreMessage: [],
                               messages: [[.e], [.e, .ee, .s, .es], [.s, .se]]),
        "NK": HandshakePattern(name: "NK", initiatorPreMessage: [], responderPreMessage: [.s],
                               messages: [[.e, .es], [.e, .ee]]),
        "KK": HandshakePattern(name: "KK", initiatorPreMessage: [.s], responderPreMessage: [.s],
                               messages: [[.e, .es, .ss], [.e, .ee, .se]]),
        "IK": HandshakePattern(name: "IK", initiatorPreMessage: [], responderPreMessage: [.s],
                               messages: [[.e, .es, .s, .ss], [.e, .ee, .se]]),
        "NN": HandshakePattern(name: "NN", initiatorPreMessage: [], responderPreMessage: [],
                               messages: [[.e], [.e, .ee]]),
    ]

    public static let XX = base["XX"]!

    /// Parses a pattern with optional psk modifiers, e.g. "XXpsk3" (§9.2).
    public init?(named fullName: String) {
        var rest = Substring(fullName)
        var baseName = ""
        while let c = rest.first, c.isUppercase { baseName.append(c); rest.removeFirst() }
        guard let pattern = HandshakePattern.base[baseName] else { return nil }
        var messages = pattern.messages
        if !rest.isEmpty {
            for modifier in rest.split(separator: "+", omittingEmptySubsequences: false) {
                guard modifier.hasPrefix("psk"), let n = Int(modifier.dropFirst(3)), n <= messages.count else { return nil }
                if n == 0 { messages[0].insert(.psk, at: 0) } else { messages[n - 1].append(.psk) }
            }
        }
        self.init(name: fullName, initiatorPreMessage: pattern.initiatorPreMessage,
                  responderPreMessage: pattern.responderPreMessage, messages: messages)
    }

    init(name: String, initiatorPreMessage: [Token], responderPreMessage: [Token], messages: [[Token]]) {
        self.name = name
        self.initiatorPreMessage = initiatorPreMessage
        self.responderPreMessage = responderPreMessage
        self.messages = messages
    }
}

/// A full Noise protocol name, `Noise_PATTERN_DH_CIPHER_HASH` (§8).
public struct NoiseProtocol: Sendable, Equatable {
    public let pattern: HandshakePattern
    public let cipher: NoiseCipher
    public let hash: NoiseHash
    public var name: String { "Noise_\(pattern.name)_25519_\(cipher.rawValue)_\(hash.rawValue)" }

    /// The one protocol Sotto speaks.
    public static let sotto = NoiseProtocol(pattern: .XX, cipher: .chaChaPoly, hash: .sha256)

    public init(pattern: HandshakePattern, cipher: NoiseCipher, hash: NoiseHash) {
        self.pattern = pattern
        self.cipher = cipher
        self.hash = hash
    }

    /// Throws `unsupportedProtocol` for any name whose parts are not implemented here.
    public init(name: String) throws {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "Noise", parts[2] == "25519",
              let pattern = HandshakePattern(named: String(parts[1])),
              let cipher = NoiseCipher(rawValue: String(parts[3])),
              let hash = NoiseHash(rawValue: String(parts[4]))
        else { throw NoiseError.unsupportedProtocol(name) }
        self.init(pattern: pattern, cipher: cipher, hash: hash)
    }
}
