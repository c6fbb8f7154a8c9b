import Crypto
import Foundation
import SottoCore

/// This device's long-term keys (Noise static, Ed25519 signing, X-Wing KEM), created once
/// and kept 0600 in the config directory.
public struct ClientIdentity: Sendable {
    public let keys: IdentityKeys
    /// The fingerprint people compare: over all three public keys (made once; the online
    /// list shows it every time it changes).
    public let fingerprint: String

    public var noiseStatic: Curve25519.KeyAgreement.PrivateKey { keys.noiseStatic }
    public var publicKey: [UInt8] { Array(noiseStatic.publicKey.rawRepresentation) }
    public var bundle: IdentityBundle { keys.bundle }
    public init(keys: IdentityKeys) {
        self.keys = keys
        fingerprint = keys.bundle.fingerprint
    }

    public static func generate() throws -> ClientIdentity { ClientIdentity(keys: try IdentityKeys()) }

    private struct Stored: Codable {
        var version: Int
        var noiseStatic: String
        var signing: String?
        var kemSeed: String?
    }

    public static func fileURL(in directory: URL) -> URL { directory.appendingPathComponent("identity.json") }

    public static func loadOrCreate(in directory: URL) throws -> ClientIdentity {
        let url = fileURL(in: directory)
        try SecureFile.ensurePrivateDirectory(directory)
        guard let data = try SecureFile.read(url) else {
            let identity = try generate()
            try save(identity, to: url)
            return identity
        }
        let bad = SecureFile.Failure(description: "\(url.path) is not a Sotto identity file")
        guard let stored = try? JSONDecoder().decode(Stored.self, from: data),
              let raw = Data(base64Encoded: stored.noiseStatic),
              let noise = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
        else { throw bad }
        if stored.version == 1 {
            // Written before end-to-end keys existed: keep the transport key, add the rest.
            let identity = ClientIdentity(keys: try IdentityKeys(noiseStatic: noise))
            try save(identity, to: url)
            return identity
        }
        guard stored.version == 2,
              let signingRaw = stored.signing.flatMap({ Data(base64Encoded: $0) }),
              let signing = try? Curve25519.Signing.PrivateKey(rawRepresentation: signingRaw),
              let seed = stored.kemSeed.flatMap({ Data(base64Encoded: $0) }),
              let kem = try? XWingMLKEM768X25519.PrivateKey(seedRepresentation: seed, publicKey: nil)
        else { throw bad }
        return ClientIdentity(keys: try IdentityKeys(noiseStatic: noise, signing: signing, kem: kem))
    }

    private static func save(_ identity: ClientIdentity, to url: URL) throws {
        let stored = Stored(version: 2, noiseStatic: identity.keys.noiseStatic.rawRepresentation.base64EncodedString(),
                            signing: identity.keys.signing.rawRepresentation.base64EncodedString(),
                            kemSeed: identity.keys.kem.seedRepresentation.base64EncodedString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecureFile.write(try encoder.encode(stored), to: url)
    }
}
