import Crypto
import Foundation

/// A member's current prekey as published: an X-Wing public key and when it was made,
/// signed by the member's identity key. Chains are sealed to it rather than to the long-term
/// KEM key, so that once its private half is deleted (after rotation and a grace period) a
/// recorded share can no longer be opened, whoever later steals the identity.
/// `u8 version=1, bytes16 kemKey(1216), u64 created (ms since 1970), bytes16 signature(64)`
/// over `"sotto/4 prekey" ‖ kemKey ‖ created`.
public struct SignedPrekey: Equatable, Sendable {
    public static let version: UInt8 = 1
    public static let encodedLength = 1 + (2 + IdentityBundle.kemKeyLength) + 8 + (2 + 64)
    public static let idLength = 32
    static let context = Array("sotto/4 prekey".utf8)

    public let kemKey: [UInt8]
    public let createdMillis: UInt64
    public let signature: [UInt8]

    /// Names it in a share: SHA-256 of the public key.
    public var id: [UInt8] { Array(SHA256.hash(data: kemKey)) }
    public var created: Date { Date(timeIntervalSince1970: Double(createdMillis) / 1000) }

    static func signedBytes(kemKey: [UInt8], createdMillis: UInt64) -> [UInt8] {
        var w = WireWriter()
        w.u64(createdMillis)
        return context + kemKey + w.bytes
    }

    public init(kemKey: [UInt8], createdMillis: UInt64, signedBy signing: Curve25519.Signing.PrivateKey) throws {
        self.kemKey = kemKey
        self.createdMillis = createdMillis
        signature = Array(try signing.signature(for: Self.signedBytes(kemKey: kemKey, createdMillis: createdMillis)))
    }

    /// Decodes and checks the signature against the member's identity signing key.
    public init(decoding bytes: [UInt8], signingKey: [UInt8]) throws {
        var r = WireReader(bytes)
        try r.version(Self.version, "prekey version")
        kemKey = try r.fixed16("prekey KEM key", count: IdentityBundle.kemKeyLength)
        createdMillis = try r.u64("prekey creation time")
        signature = try r.fixed16("prekey signature", count: 64)
        try r.expectEnd("prekey")
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey),
              key.isValidSignature(signature, for: Self.signedBytes(kemKey: kemKey, createdMillis: createdMillis))
        else { throw WireError.invalid("prekey signature does not verify") }
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: Self.encodedLength)
        w.u8(Self.version)
        w.bytes16(kemKey)
        w.u64(createdMillis)
        w.bytes16(signature)
        return w.bytes
    }
}

/// One of this device's prekeys with its private half, as kept on the device until it is
/// deleted (`PrekeyPolicy`).
public struct PrekeyPair: Equatable, @unchecked Sendable {
    public let privateKey: XWingMLKEM768X25519.PrivateKey
    public let signed: SignedPrekey

    public static func == (a: PrekeyPair, b: PrekeyPair) -> Bool { a.signed == b.signed }

    public init(privateKey: XWingMLKEM768X25519.PrivateKey, signed: SignedPrekey) {
        self.privateKey = privateKey
        self.signed = signed
    }

    /// A new one, made now and signed by `identity`.
    public static func generate(now: Date, identity: IdentityKeys) throws -> PrekeyPair {
        let key = try XWingMLKEM768X25519.PrivateKey.generate()
        let signed = try SignedPrekey(kemKey: Array(key.publicKey.rawRepresentation), createdMillis: KeyShare.Chain.millis(now),
                                      signedBy: identity.signing)
        return PrekeyPair(privateKey: key, signed: signed)
    }

    /// The private half as stored (the X-Wing seed).
    public var seed: [UInt8] { Array(privateKey.seedRepresentation) }

    public init(seed: [UInt8], signed: [UInt8], identity: IdentityKeys) throws {
        privateKey = try XWingMLKEM768X25519.PrivateKey(seedRepresentation: Data(seed), publicKey: nil)
        self.signed = try SignedPrekey(decoding: signed, signingKey: identity.bundle.signingKey)
        guard self.signed.kemKey == Array(privateKey.publicKey.rawRepresentation) else {
            throw WireError.invalid("a stored prekey does not match its private half")
        }
    }
}

/// When prekeys are made, published and deleted.
public struct PrekeyPolicy: Sendable {
    /// A new prekey after this long.
    public var rotation: TimeInterval = 7 * 86_400
    /// Senders refuse to seal to a prekey older than this (a member away longer stops
    /// receiving new chains), and recipients refuse a chain made longer ago.
    public var maxAge: TimeInterval = 30 * 86_400
    /// A replaced prekey's private half is kept this long after its successor was made (shares
    /// sealed to it may wait that long on the server for this member), then deleted.
    public var grace: TimeInterval { maxAge }

    public init(rotation: TimeInterval = 7 * 86_400, maxAge: TimeInterval = 30 * 86_400) {
        self.rotation = rotation
        self.maxAge = maxAge
    }

    /// Whether a prekey made at `created` is too old to seal to.
    public func isExpired(_ created: Date, now: Date, skew: TimeInterval) -> Bool {
        now.timeIntervalSince(created) > maxAge || created.timeIntervalSince(now) > skew
    }

    /// Given the prekeys kept (any order): whether to make a new one, and which to delete
    /// (those replaced longer than `grace` ago).
    public func plan(_ kept: [SignedPrekey], now: Date) -> (rotate: Bool, delete: [[UInt8]]) {
        let sorted = kept.sorted { $0.createdMillis < $1.createdMillis }
        // Also when the newest is dated ahead (a clock that was fast when it was made): the
        // server and every sender would refuse it until that date.
        let rotate = sorted.last.map { now.timeIntervalSince($0.created) >= rotation || $0.created.timeIntervalSince(now) > 600 } ?? true
        var delete: [[UInt8]] = []
        for (i, prekey) in sorted.enumerated() where i + 1 < sorted.count {
            // Replaced when its successor was made: deleted once that is longer ago than the grace.
            if now.timeIntervalSince(sorted[i + 1].created) > grace { delete.append(prekey.id) }
        }
        return (rotate, delete)
    }
}
