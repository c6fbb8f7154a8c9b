/// Why a Noise operation refused to go on. Every failure leaves the session unusable:
/// callers close the connection rather than try to recover.
public enum NoiseError: Error, Equatable, Sendable {
    case unsupportedProtocol(String)
    case missingKey(String)
    case invalidPublicKey
    case decryptionFailed
    case nonceExhausted
    case messageTooLarge(Int)
    case messageTooShort
    case wrongTurn
    case handshakeComplete
    case handshakeIncomplete
}

extension NoiseError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unsupportedProtocol(let name): return "unsupported Noise protocol \(name)"
        case .missingKey(let which): return "Noise handshake needs the \(which) key"
        case .invalidPublicKey: return "invalid Curve25519 public key"
        case .decryptionFailed: return "decryption failed (tampered, replayed or wrong key)"
        case .nonceExhausted: return "cipher nonce exhausted"
        case .messageTooLarge(let n): return "Noise message of \(n) bytes exceeds 65535"
        case .messageTooShort: return "Noise message too short"
        case .wrongTurn: return "Noise message out of turn"
        case .handshakeComplete: return "Noise handshake already complete"
        case .handshakeIncomplete: return "Noise handshake not complete"
        }
    }
}

/// The Noise spec's hard limit on any message, handshake or transport (§3).
public let noiseMaxMessageLength = 65_535
/// The AEAD tag every encrypted Noise payload carries.
public let noiseTagLength = 16
