import Crypto
import Foundation

/// Which conversation a chain belongs to: the room, or the direct conversation between
/// the sender and one person.
public enum Conversation: Hashable, Sendable {
    case room
    case direct(String)

    /// Whom a message to it is addressed to on the wire: "" for the room, else the person.
    public var recipient: String {
        switch self {
        case .room: return ""
        case .direct(let name): return name
        }
    }

    /// The conversation a message to `recipient` belongs to ("" is the room).
    public init(recipient: String) { self = recipient.isEmpty ? .room : .direct(recipient) }

    /// On the wire: "" for the room, "dm" for a direct message (the names come from the
    /// relay and are bound into the header).
    var wireName: String {
        switch self {
        case .room: return ""
        case .direct: return "dm"
        }
    }
}

/// The opaque chat body of an end-to-end message (what the server relays):
/// `u8 version=2, u8 kind=1, string16 conversation, bytes16 chainID(16), u32 index,
/// u64 sentMillis, bytes16 ciphertext, bytes16 signature(64)`. `sentMillis` is when the sender
/// sealed it, on the sender's clock: in the header, so the AEAD and the signature bind it and
/// a relay cannot date a message as it likes (an attacker's review dated one 9999-12-31).
/// Version 1 (no `sentMillis`, an earlier client's, perhaps waiting on a server since before
/// an upgrade) is still read; its time is then the server's.
public struct MessageEnvelope: Equatable, Sendable {
    public static let version: UInt8 = 2
    /// The version before the sender's time was sealed.
    public static let unsealedTimeVersion: UInt8 = 1
    static let kind: UInt8 = 1
    public static let chainIDLength = 16

    public var conversation: String
    public var chainID: [UInt8]
    public var index: UInt32
    /// When the sender sealed it, milliseconds since 1970 on their clock; nil in version 1.
    public var sentMillis: UInt64?
    public var ciphertext: [UInt8]
    public var signature: [UInt8]

    /// Associated data and signed prefix: everything that says what this message is,
    /// including who sent it to whom (as the relay stamps them) and when the sender sealed it,
    /// so nothing can be moved. Each version has its own label: a version-2 envelope re-labelled
    /// 1 by a relay (to drop its time) opens under neither.
    public static func header(conversation: String, from: String, to: String, chainID: [UInt8], index: UInt32, sentMillis: UInt64?) -> [UInt8] {
        var w = WireWriter()
        w.string16(sentMillis == nil ? "sotto/1 message" : "sotto/2 message")
        w.string16(conversation)
        w.string16(from)
        w.string16(to)
        w.bytes16(chainID)
        w.u32(index)
        if let sentMillis { w.u64(sentMillis) }
        return w.bytes
    }

    /// The encoded size of an envelope holding `textLength` bytes of text: what `encoded()`
    /// writes, so a sender can refuse a text too long for the server before sealing it.
    public static func encodedLength(textLength: Int, direct: Bool) -> Int {
        let conversation = direct ? 2 : 0  // "dm" or ""
        return 1 + 1 + (2 + conversation) + (2 + chainIDLength) + 4 + 8 + (2 + textLength + 16) + (2 + 64)
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: ciphertext.count + 128)
        w.u8(sentMillis == nil ? Self.unsealedTimeVersion : Self.version)
        w.u8(Self.kind)
        w.string16(conversation)
        w.bytes16(chainID)
        w.u32(index)
        if let sentMillis { w.u64(sentMillis) }
        w.bytes16(ciphertext)
        w.bytes16(signature)
        return w.bytes
    }

    public init(conversation: String, chainID: [UInt8], index: UInt32, sentMillis: UInt64?, ciphertext: [UInt8], signature: [UInt8]) {
        self.conversation = conversation
        self.chainID = chainID
        self.index = index
        self.sentMillis = sentMillis
        self.ciphertext = ciphertext
        self.signature = signature
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        let version = try r.u8("envelope version")
        guard version == Self.version || version == Self.unsealedTimeVersion else { throw WireError.unsupportedVersion(version) }
        guard try r.u8("envelope kind") == Self.kind else { throw WireError.invalid("not a message envelope") }
        conversation = try r.string16("conversation", max: 16)
        guard conversation == "" || conversation == "dm" else { throw WireError.invalid("unknown conversation") }
        chainID = try r.fixed16("chain id", count: Self.chainIDLength)
        index = try r.u32("index")
        sentMillis = version == Self.version ? try r.u64("sent time") : nil
        ciphertext = try r.bytes16("ciphertext", max: WireLimits.maxBodyBytes)
        signature = try r.fixed16("signature", count: 64)
        try r.expectEnd("message envelope")
    }
}

/// A sender chain as handed to one recipient: sealed with HPKE (RFC 9180, base mode) to
/// the recipient's current signed X-Wing prekey (never to the long-term key, so a share is
/// unreadable once that prekey is deleted) and signed by the sender's identity key, naming
/// the prekey, and carrying the chain's creation time so that a stale one is refused.
/// Payload of a key-share record: `u8 version=4, u8 kind=2, bytes16 senderBundle,
/// bytes16 prekeyID(32), bytes16 encapsulatedKey, bytes16 sealed, bytes16 signature(64)`. The
/// sender's bundle rides along so a recipient never has to fetch it: it checks the bundle
/// against the digest the member list announced, and its self-signature, before trusting the
/// key that signed this.
public struct KeyShare: Equatable, Sendable {
    public static let version: UInt8 = 4
    static let kind: UInt8 = 2
    public static let ciphersuite = HPKE.Ciphersuite.XWingMLKEM768X25519_SHA256_AES_GCM_256
    static let info = Data("sotto/1 sender chain".utf8)

    /// What is sealed inside.
    public struct Chain: Equatable, Sendable {
        public var conversation: String
        public var chainID: [UInt8]
        public var chainKey: ChainKey
        public var signingKey: [UInt8]
        /// When the sender made the chain, milliseconds since 1970 on the sender's clock.
        public var createdMillis: UInt64

        func encoded() -> [UInt8] {
            var w = WireWriter()
            w.string16(conversation)
            w.bytes16(chainID)
            w.u32(chainKey.index)
            w.bytes16(chainKey.key)
            w.bytes16(signingKey)
            w.u64(createdMillis)
            return w.bytes
        }

        public init(conversation: String, chainID: [UInt8], chainKey: ChainKey, signingKey: [UInt8], created: Date) {
            self.conversation = conversation
            self.chainID = chainID
            self.chainKey = chainKey
            self.signingKey = signingKey
            createdMillis = Self.millis(created)
        }

        /// A date as wire milliseconds, clamped (a clock before 1970 or a NaN is 0, never a trap).
        public static func millis(_ date: Date) -> UInt64 {
            let ms = date.timeIntervalSince1970 * 1000
            return ms.isFinite && ms > 0 ? UInt64(min(ms, 1e18)) : 0
        }

        public var created: Date { Date(timeIntervalSince1970: Double(createdMillis) / 1000) }

        init(decoding bytes: [UInt8]) throws {
            var r = WireReader(bytes)
            conversation = try r.string16("conversation", max: 16)
            guard conversation == "" || conversation == "dm" else { throw WireError.invalid("unknown conversation") }
            chainID = try r.fixed16("chain id", count: MessageEnvelope.chainIDLength)
            let index = try r.u32("chain index")
            guard index <= ChainKey.maxShareIndex else { throw WireError.invalid("chain index \(index) out of range") }
            chainKey = ChainKey(key: try r.fixed16("chain key", count: 32), index: index)
            signingKey = try r.fixed16("chain signing key", count: 32)
            createdMillis = try r.u64("chain creation time")
            try r.expectEnd("sender chain")
        }
    }

    public var senderBundle: [UInt8]
    /// `SignedPrekey.id` of the recipient's prekey it is sealed to.
    public var prekeyID: [UInt8]
    public var encapsulatedKey: [UInt8]
    public var sealed: [UInt8]
    public var signature: [UInt8]

    static func associatedData(from: String, to: String, prekeyID: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.string16("sotto/4 key share")
        w.string16(from)
        w.string16(to)
        w.bytes16(prekeyID)
        return w.bytes
    }

    /// `prekey`: the recipient's current signed prekey, its signature checked by the caller.
    public static func seal(_ chain: Chain, from: String, to: String, prekey: SignedPrekey, sender: IdentityKeys) throws -> KeyShare {
        let signer = sender.signing
        let recipient = try XWingMLKEM768X25519.PublicKey(rawRepresentation: prekey.kemKey)
        var hpke = try HPKE.Sender(recipientKey: recipient, ciphersuite: ciphersuite, info: info)
        let prekeyID = prekey.id
        let ad = associatedData(from: from, to: to, prekeyID: prekeyID)
        let sealed = Array(try hpke.seal(chain.encoded(), authenticating: ad))
        let encapsulated = Array(hpke.encapsulatedKey)
        let signature = Array(try signer.signature(for: ad + encapsulated + sealed))
        return KeyShare(senderBundle: sender.encodedBundle, prekeyID: prekeyID, encapsulatedKey: encapsulated, sealed: sealed,
                        signature: signature)
    }

    /// Checks the sender's signature first, then opens with the private half of the prekey it
    /// names (`prekey(id)`: nil once deleted, or if it was never ours).
    public func open(from: String, to: String, senderSigningKey: [UInt8],
                     prekey: ([UInt8]) -> XWingMLKEM768X25519.PrivateKey?) throws -> Chain {
        let ad = Self.associatedData(from: from, to: to, prekeyID: prekeyID)
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: senderSigningKey),
              key.isValidSignature(signature, for: ad + encapsulatedKey + sealed)
        else { throw EndToEndError.badSignature }
        guard let recipient = prekey(prekeyID) else { throw EndToEndError.unknownPrekey }
        do {
            var receiver = try HPKE.Recipient(privateKey: recipient, ciphersuite: Self.ciphersuite, info: Self.info, encapsulatedKey: Data(encapsulatedKey))
            return try Chain(decoding: Array(try receiver.open(sealed, authenticating: ad)))
        } catch let error as WireError {
            throw EndToEndError.malformed("\(error)")
        } catch {
            throw EndToEndError.decryptionFailed
        }
    }

    public init(senderBundle: [UInt8], prekeyID: [UInt8], encapsulatedKey: [UInt8], sealed: [UInt8], signature: [UInt8]) {
        self.senderBundle = senderBundle
        self.prekeyID = prekeyID
        self.encapsulatedKey = encapsulatedKey
        self.sealed = sealed
        self.signature = signature
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: senderBundle.count + encapsulatedKey.count + sealed.count + 80)
        w.u8(Self.version)
        w.u8(Self.kind)
        w.bytes16(senderBundle)
        w.bytes16(prekeyID)
        w.bytes16(encapsulatedKey)
        w.bytes16(sealed)
        w.bytes16(signature)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        try r.version(Self.version, "key share version")
        guard try r.u8("key share kind") == Self.kind else { throw WireError.invalid("not a key share") }
        senderBundle = try r.bytes16("sender bundle", max: IdentityBundle.encodedLength)
        prekeyID = try r.fixed16("prekey id", count: SignedPrekey.idLength)
        encapsulatedKey = try r.fixed16("encapsulated key", count: 1120)
        sealed = try r.bytes16("sealed chain", max: 256)
        signature = try r.fixed16("key share signature", count: 64)
        try r.expectEnd("key share")
    }

    /// Bound on a key-share payload on the wire.
    public static let maxLength = 2 + 2 + IdentityBundle.encodedLength + 2 + SignedPrekey.idLength + 2 + 1120 + 2 + 256 + 2 + 64
}
