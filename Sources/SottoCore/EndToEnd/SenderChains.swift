import Crypto
import Foundation

/// How much a peer is trusted, as the person sees it.
public enum PeerTrust: Equatable, Sendable {
    /// Safety number compared and confirmed by the person.
    case verified
    /// Seen before with this key (or first seen now): consistent, not confirmed.
    case unverified
    /// A key different from the one pinned for this name: a warning until accepted.
    case changed(previous: String)
}

/// Our sending chain in one conversation. The chain key moves forward with every message;
/// the previous one is gone as soon as the next exists.
struct SendingChain {
    let id: [UInt8]
    var chainKey: ChainKey
    let signing: Curve25519.Signing.PrivateKey
    let created: Date
    /// Who holds this chain (received it sealed from us).
    var holders: Set<String> = []

    init(now: Date) {
        id = (0..<MessageEnvelope.chainIDLength).map { _ in UInt8.random(in: 0...255) }
        var rng = SystemRandomNumberGenerator()
        chainKey = ChainKey(key: (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }, index: 0)
        signing = Curve25519.Signing.PrivateKey()
        created = now
    }
}

/// Someone else's chain, as far as we have followed it.
struct ReceivingChain {
    let sender: String
    let conversation: Conversation
    let id: [UInt8]
    var chainKey: ChainKey
    let signingKey: Curve25519.Signing.PublicKey
    /// Where the chain was when it was shared with us: earlier messages were never ours to read.
    let firstIndex: UInt32
    /// Whose it is: the sender's identity (bundle digest) when it was accepted (`StoredChain`).
    var senderDigest: [UInt8] = []
    /// Keys of messages skipped over (arrived out of order, or never): used once, then deleted.
    var skipped: [UInt32: (key: MessageKey, since: Date)] = [:]

    /// The key for `index`, advancing the ratchet and remembering skipped keys.
    mutating func key(for index: UInt32, maxSkip: Int, now: Date) throws -> MessageKey {
        if index < chainKey.index {
            if index < firstIndex { throw EndToEndError.beforeJoining }
            guard let entry = skipped.removeValue(forKey: index) else { throw EndToEndError.reusedIndex }
            return entry.key
        }
        guard index <= ChainKey.maxIndex else { throw EndToEndError.chainExhausted }
        // index >= chainKey.index here, and both are at most maxIndex: no overflow.
        let ahead = Int(index) - Int(chainKey.index)
        guard ahead <= maxSkip, skipped.count + ahead <= maxSkip else { throw EndToEndError.tooFarAhead }
        // Advance a copy: a chain that cannot move (its end) stays where it was.
        var advanced = chainKey
        var newlySkipped: [(UInt32, MessageKey)] = []
        while advanced.index < index {
            newlySkipped.append((advanced.index, advanced.messageKey))
            advanced = try advanced.next()
        }
        let key = advanced.messageKey
        chainKey = try advanced.next()
        for (i, k) in newlySkipped { skipped[i] = (k, now) }
        return key
    }
}
