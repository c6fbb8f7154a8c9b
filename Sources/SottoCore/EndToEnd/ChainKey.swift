import Crypto

/// The symmetric hash ratchet of one sender chain (as in Signal's sender keys):
/// message key = HMAC(chainKey, 0x01), next chain key = HMAC(chainKey, 0x02). Going forward
/// is one HMAC; going back is impossible, so a key handed to a newcomer opens nothing older.
public struct ChainKey: Equatable, Sendable {
    /// The highest index a chain may reach. Senders start a new chain after
    /// `EndToEndSession.Limits.chainMessages` (1,000 by default), so an honest chain stays far
    /// below it; a share or message beyond it is refused, and nothing ever wraps around.
    public static let maxIndex: UInt32 = 1 << 20
    /// The highest index at which a chain may be handed over: from there it can still carry
    /// `maxIndex - maxShareIndex` messages, more than any sender's budget.
    public static let maxShareIndex: UInt32 = maxIndex / 2

    public let key: [UInt8]
    public let index: UInt32

    public init(key: [UInt8], index: UInt32) {
        self.key = key
        self.index = index
    }

    public var messageKey: MessageKey {
        MessageKey(index: index, seed: Array(HMAC<SHA256>.authenticationCode(for: [0x01], using: SymmetricKey(data: key))))
    }

    /// The chain one message further on. The index comes from peers: past `maxIndex` the
    /// chain is exhausted, an error, never an overflow.
    public func next() throws -> ChainKey {
        guard index < Self.maxIndex else { throw EndToEndError.chainExhausted }
        return ChainKey(key: Array(HMAC<SHA256>.authenticationCode(for: [0x02], using: SymmetricKey(data: key))), index: index + 1)
    }
}

/// One message's key, used once. The AEAD key and nonce are expanded from the seed.
public struct MessageKey: Equatable, Sendable {
    public let index: UInt32
    let seed: [UInt8]

    static let info = Array("sotto/1 message key".utf8)

    func expand() -> (key: SymmetricKey, nonce: ChaChaPoly.Nonce) {
        let okm = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: seed), info: Self.info, outputByteCount: 44)
        let bytes = okm.withUnsafeBytes { Array($0) }
        return (SymmetricKey(data: bytes[0..<32]), try! ChaChaPoly.Nonce(data: bytes[32..<44]))
    }

    public func seal(_ plaintext: [UInt8], header: [UInt8]) throws -> [UInt8] {
        let (key, nonce) = expand()
        let box = try ChaChaPoly.seal(plaintext, using: key, nonce: nonce, authenticating: header)
        return Array(box.ciphertext) + Array(box.tag)
    }

    public func open(_ ciphertext: [UInt8], header: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count >= 16 else { throw EndToEndError.malformed("ciphertext too short") }
        let (key, nonce) = expand()
        let box = try ChaChaPoly.SealedBox(nonce: nonce, ciphertext: ciphertext.dropLast(16), tag: ciphertext.suffix(16))
        do { return Array(try ChaChaPoly.open(box, using: key, authenticating: header)) } catch {
            throw EndToEndError.decryptionFailed
        }
    }
}

public enum EndToEndError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case decryptionFailed
    case badSignature
    case reusedIndex
    case beforeJoining
    case tooFarAhead
    case chainExhausted
    case replayedChain
    case staleChain
    /// A chain dated this many seconds past this device's clock, beyond the skew allowed.
    case chainFromTheFuture(seconds: Int)
    case tooManyChains
    case unknownChain
    case notAMember
    case untrustedRecipient(String)
    case noSuchRecipient(String)
    case invalidIdentity(String)
    case identityNotFetched(String)
    /// A share sealed to a prekey this device does not have (deleted after rotation, or not ours).
    case unknownPrekey
    /// The recipient has no current signed prekey to seal to.
    case noPrekey(String)
    /// A share carrying keys that are not the sender's listed identity: from an earlier
    /// holder of the name (stored while they were a member), or forged.
    case notTheListedIdentity

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed end-to-end message (\(why))"
        case .decryptionFailed: return "a message failed authentication"
        case .badSignature: return "a message's signature does not verify"
        case .reusedIndex: return "a message index was used twice (replay)"
        case .beforeJoining: return "it was sealed before they knew you were here (their next ones will arrive)"
        case .tooFarAhead: return "a message is too far ahead of its chain"
        case .chainExhausted: return "a sender key reached the end of its life (index out of range)"
        case .replayedChain: return "a sender key this device accepted before was delivered again (replayed)"
        case .staleChain: return "a sender key is older than any still in use (replayed)"
        case .chainFromTheFuture(let seconds):
            // A newcomer's run: a day-fast clock read only as "replayed or a wrong clock".
            let ahead = seconds < 7_200 ? "\(seconds / 60) minutes" : seconds < 172_800 ? "\(seconds / 3_600) hours" : "\(seconds / 86_400) days"
            return "their sender key is dated \(ahead) ahead of this device's clock: their clock or this one is wrong, and what they send cannot be read here until it is set right"
        case .tooManyChains: return "more new sender keys than any client makes"
        case .unknownChain: return "a message's sender key never arrived"
        case .notAMember: return "a message came from someone who is not a member"
        case .untrustedRecipient(let name): return "\(name)'s identity key changed; accept it before sending to them"
        case .noSuchRecipient(let name): return "\(name) is not a member of this server"
        case .invalidIdentity(let name): return "\(name) has no valid end-to-end identity"
        case .identityNotFetched(let name): return "\(name)'s identity keys have not arrived yet"
        case .unknownPrekey: return "a sender key was sealed to a prekey this device no longer has (deleted after rotation) or never had"
        case .notTheListedIdentity: return "a sender key came with keys that are not the sender's listed identity (from an earlier holder of the name, or forged)"
        case .noPrekey(let name): return "\(name) has no current prekey (away longer than prekeys last, or an older client): they cannot be sent to until they log in again"
        }
    }
}
