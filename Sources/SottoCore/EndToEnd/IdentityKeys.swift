import Crypto
import Foundation

/// A device's long-term keys: the Noise static key (transport), an Ed25519 signing key
/// (authorship) and an X-Wing KEM key (to receive sealed chains, post-quantum).
public struct IdentityKeys: @unchecked Sendable {
    public let noiseStatic: Curve25519.KeyAgreement.PrivateKey
    public let signing: Curve25519.Signing.PrivateKey
    public let kem: XWingMLKEM768X25519.PrivateKey
    public let bundle: IdentityBundle
    /// The bundle as sent (at login and inside every key share), encoded once.
    public let encodedBundle: [UInt8]

    public init(noiseStatic: Curve25519.KeyAgreement.PrivateKey = .init(),
                signing: Curve25519.Signing.PrivateKey = .init(),
                kem: XWingMLKEM768X25519.PrivateKey? = nil) throws {
        self.noiseStatic = noiseStatic
        self.signing = signing
        self.kem = try kem ?? XWingMLKEM768X25519.PrivateKey.generate()
        bundle = try IdentityBundle(signing: signing, kemKey: Array(self.kem.publicKey.rawRepresentation),
                                    noiseKey: Array(noiseStatic.publicKey.rawRepresentation))
        encodedBundle = bundle.encoded()
    }
}

/// The public half, published at login and signed by the signing key so the three keys
/// cannot be mixed and matched by anyone else (the server included).
public struct IdentityBundle: Equatable, Sendable {
    public let signingKey: [UInt8]
    public let kemKey: [UInt8]
    public let noiseKey: [UInt8]
    public let signature: [UInt8]

    public static let version: UInt8 = 1
    public static let kemKeyLength = 1216
    /// Every bundle encodes to exactly this many bytes.
    public static let encodedLength = 1 + (2 + 32) + (2 + kemKeyLength) + (2 + 32) + (2 + 64)
    static let context = Array("sotto/1 identity bundle".utf8)

    init(signing: Curve25519.Signing.PrivateKey, kemKey: [UInt8], noiseKey: [UInt8]) throws {
        signingKey = Array(signing.publicKey.rawRepresentation)
        self.kemKey = kemKey
        self.noiseKey = noiseKey
        signature = Array(try signing.signature(for: Self.context + signingKey + kemKey + noiseKey))
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter(capacity: 1_400)
        w.u8(Self.version)
        w.bytes16(signingKey)
        w.bytes16(kemKey)
        w.bytes16(noiseKey)
        w.bytes16(signature)
        return w.bytes
    }

    /// Decodes and checks the self-signature; anything else is refused.
    public init(decoding bytes: [UInt8]) throws {
        try self.init(decodingUnverified: bytes)
        try verifySignature()
    }

    /// Decodes the fields only. A list of hundreds of members is parsed as it arrives; each
    /// member's signature is checked (`verifySignature`) before their keys are first used.
    public init(decodingUnverified bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        try r.version(Self.version, "bundle version")
        signingKey = try r.fixed16("signing key", count: 32)
        kemKey = try r.fixed16("KEM key", count: Self.kemKeyLength)
        noiseKey = try r.fixed16("noise key", count: 32)
        signature = try r.fixed16("bundle signature", count: 64)
        try r.expectEnd("identity bundle")
    }

    public func verifySignature() throws {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey),
              key.isValidSignature(signature, for: Self.context + signingKey + kemKey + noiseKey)
        else { throw WireError.invalid("identity bundle signature does not verify") }
    }

    /// SHA-256 over all three public keys: what the online list carries for each member
    /// (so it is 32 bytes, not the bundle) and what a fetched bundle must hash to.
    public var digest: [UInt8] { Array(SHA256.hash(data: signingKey + kemKey + noiseKey)) }

    /// `SHA256:` + the digest: what people compare, and what peers pin.
    public var fingerprint: String { Fingerprint.of(digest: digest) }

    /// Twelve groups of five digits that two people compare to verify each other; the same
    /// on both sides (the inputs are ordered), different for every pair. Computed from the
    /// two identity digests, so it needs no bundle fetched.
    public static func safetyNumber(_ a: IdentityBundle, _ b: IdentityBundle) -> String {
        safetyNumber(digests: a.digest, b.digest)
    }

    public static func safetyNumber(digests a: [UInt8], _ b: [UInt8]) -> String {
        let (x, y) = a.lexicographicallyPrecedes(b) ? (a, b) : (b, a)
        let digest = Array(SHA512.hash(data: Array("sotto/2 safety number".utf8) + x + y))
        return (0..<12).map { i -> String in
            let chunk = digest[(i * 5)..<(i * 5 + 5)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return String(format: "%05d", chunk % 100_000)
        }.joined(separator: " ")
    }
}
