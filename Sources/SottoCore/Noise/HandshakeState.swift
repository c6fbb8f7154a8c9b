import Crypto

public typealias DHPrivateKey = Curve25519.KeyAgreement.PrivateKey

/// Noise HandshakeState (spec §5.3). One instance runs one handshake and is then split
/// into a `NoiseTransport`; its ephemeral keys die with it.
public struct HandshakeState {
    public let noiseProtocol: NoiseProtocol
    public let isInitiator: Bool
    private var symmetric: SymmetricState
    private var localStatic: DHPrivateKey?
    private var localEphemeral: DHPrivateKey?
    /// A fixed ephemeral, only for deterministic test vectors.
    private var presetEphemeral: DHPrivateKey?
    public private(set) var remoteStatic: [UInt8]?
    private var remoteEphemeral: [UInt8]?
    private var psks: [[UInt8]]
    private var messageIndex = 0

    public static let dhLength = 32

    public init(
        protocol noiseProtocol: NoiseProtocol = .sotto,
        initiator: Bool,
        prologue: [UInt8],
        localStatic: DHPrivateKey? = nil,
        remoteStatic: [UInt8]? = nil,
        presetEphemeral: DHPrivateKey? = nil,
        psks: [[UInt8]] = []
    ) throws {
        self.noiseProtocol = noiseProtocol
        self.isInitiator = initiator
        self.localStatic = localStatic
        self.remoteStatic = remoteStatic
        self.presetEphemeral = presetEphemeral
        self.psks = psks
        symmetric = SymmetricState(protocolName: noiseProtocol.name, cipher: noiseProtocol.cipher, hash: noiseProtocol.hash)
        symmetric.mixHash(prologue)

        let pattern = noiseProtocol.pattern
        if pattern.usesPSK {
            guard !psks.isEmpty, psks.allSatisfy({ $0.count == 32 }) else { throw NoiseError.missingKey("pre-shared") }
        }
        // Pre-messages hash the keys each side already knows, initiator's first (§7.1).
        for (tokens, fromInitiator) in [(pattern.initiatorPreMessage, true), (pattern.responderPreMessage, false)] {
            for token in tokens {
                guard token == .s else { throw NoiseError.unsupportedProtocol(noiseProtocol.name) }
                let key = fromInitiator == initiator ? localStatic.map { Array($0.publicKey.rawRepresentation) } : remoteStatic
                guard let key else { throw NoiseError.missingKey(fromInitiator == initiator ? "local static" : "remote static") }
                symmetric.mixHash(key)
            }
        }
    }

    public var isComplete: Bool { messageIndex == noiseProtocol.pattern.messages.count }
    public var isMyTurn: Bool { !isComplete && (messageIndex % 2 == 0) == isInitiator }
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    /// WriteMessage(payload): the next handshake message, payload encrypted once a key exists.
    public mutating func writeMessage(payload: [UInt8]) throws -> [UInt8] {
        guard !isComplete else { throw NoiseError.handshakeComplete }
        guard isMyTurn else { throw NoiseError.wrongTurn }
        var message: [UInt8] = []
        for token in noiseProtocol.pattern.messages[messageIndex] {
            switch token {
            case .e:
                let e = presetEphemeral ?? DHPrivateKey()
                presetEphemeral = nil
                localEphemeral = e
                let pub = Array(e.publicKey.rawRepresentation)
                message += pub
                symmetric.mixHash(pub)
                if noiseProtocol.pattern.usesPSK { symmetric.mixKey(pub) }
            case .s:
                guard let s = localStatic else { throw NoiseError.missingKey("local static") }
                message += try symmetric.encryptAndHash(Array(s.publicKey.rawRepresentation))
            case .psk:
                symmetric.mixKeyAndHash(psks.removeFirst())
            case .ee, .es, .se, .ss:
                symmetric.mixKey(try dh(token))
            }
        }
        message += try symmetric.encryptAndHash(payload)
        guard message.count <= noiseMaxMessageLength else { throw NoiseError.messageTooLarge(message.count) }
        messageIndex += 1
        return message
    }

    /// ReadMessage(message): the payload, after every token of the message checks out.
    public mutating func readMessage(_ message: [UInt8]) throws -> [UInt8] {
        guard !isComplete else { throw NoiseError.handshakeComplete }
        guard !isMyTurn else { throw NoiseError.wrongTurn }
        guard message.count <= noiseMaxMessageLength else { throw NoiseError.messageTooLarge(message.count) }
        var rest = message[...]
        func take(_ n: Int) throws -> [UInt8] {
            guard rest.count >= n else { throw NoiseError.messageTooShort }
            defer { rest = rest.dropFirst(n) }
            return Array(rest.prefix(n))
        }
        for token in noiseProtocol.pattern.messages[messageIndex] {
            switch token {
            case .e:
                let re = try take(Self.dhLength)
                remoteEphemeral = re
                symmetric.mixHash(re)
                if noiseProtocol.pattern.usesPSK { symmetric.mixKey(re) }
            case .s:
                let length = Self.dhLength + (symmetric.cipherState.hasKey ? noiseTagLength : 0)
                remoteStatic = try symmetric.decryptAndHash(try take(length))
            case .psk:
                symmetric.mixKeyAndHash(psks.removeFirst())
            case .ee, .es, .se, .ss:
                symmetric.mixKey(try dh(token))
            }
        }
        let payload = try symmetric.decryptAndHash(Array(rest))
        messageIndex += 1
        return payload
    }

    /// After the last message: the transport, with this side's send and receive directions.
    public func split() throws -> NoiseTransport {
        guard isComplete else { throw NoiseError.handshakeIncomplete }
        let (initiatorToResponder, responderToInitiator) = symmetric.split()
        return isInitiator
            ? NoiseTransport(send: initiatorToResponder, receive: responderToInitiator, handshakeHash: handshakeHash)
            : NoiseTransport(send: responderToInitiator, receive: initiatorToResponder, handshakeHash: handshakeHash)
    }

    /// The DH a token names; the first letter is the initiator's key, the second the responder's.
    private func dh(_ token: HandshakePattern.Token) throws -> [UInt8] {
        let (initiatorKey, responderKey): (Character, Character)
        switch token {
        case .ee: (initiatorKey, responderKey) = ("e", "e")
        case .es: (initiatorKey, responderKey) = ("e", "s")
        case .se: (initiatorKey, responderKey) = ("s", "e")
        case .ss: (initiatorKey, responderKey) = ("s", "s")
        default: preconditionFailure("not a DH token")
        }
        let mine = isInitiator ? initiatorKey : responderKey
        let theirs = isInitiator ? responderKey : initiatorKey
        guard let privateKey = mine == "e" ? localEphemeral : localStatic else {
            throw NoiseError.missingKey(mine == "e" ? "local ephemeral" : "local static")
        }
        guard let publicKey = theirs == "e" ? remoteEphemeral : remoteStatic else {
            throw NoiseError.missingKey(theirs == "e" ? "remote ephemeral" : "remote static")
        }
        return try Self.dh(privateKey, publicKey)
    }

    /// DH(key_pair, public_key): X25519. A low-order public key yields an all-zero secret,
    /// which would make the "secret" public; it is refused (Noise §12.1 allows this).
    static func dh(_ privateKey: DHPrivateKey, _ publicKey: [UInt8]) throws -> [UInt8] {
        let secret: [UInt8]
        do {
            let pub = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKey)
            secret = try privateKey.sharedSecretFromKeyAgreement(with: pub).withUnsafeBytes { Array($0) }
        } catch {
            throw NoiseError.invalidPublicKey
        }
        // Accumulate without branching on secret bytes.
        guard secret.reduce(0, { $0 | $1 }) != 0 else { throw NoiseError.invalidPublicKey }
        return secret
    }
}
