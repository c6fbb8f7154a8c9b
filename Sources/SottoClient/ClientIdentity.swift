import Crypto
import Foundation
import SottoCore

/// This device's long-term keys, created once and kept 0600 in the config directory.
/// For now the Noise static key; the end-to-end keys join it in the same file.
public struct ClientIdentity: Sendable {
    public let noiseStatic: Curve25519.KeyAgreement.PrivateKey

    public var publicKey: [UInt8] { Array(noiseStatic.publicKey.rawRepresentation) }
    public var fingerprint: String { Fingerprint.of(publicKey: publicKey) }

    public init(noiseStatic: Curve25519.KeyAgreement.PrivateKey = .init()) {
        self.noiseStatic = noiseStatic
    }

    private struct Stored: Codable {
        var version: Int
        var noiseStatic: String
    }

    public static func fileURL(in directory: URL) -> URL { directory.appendingPathComponent("identity.json") }

    public static func loadOrCreate(in directory: URL) throws -> ClientIdentity {
        let url = fileURL(in: directory)
        if let data = try SecureFile.read(url) {
            guard let stored = try? JSONDecoder().decode(Stored.self, from: data), stored.version == 1,
                  let raw = Data(base64Encoded: stored.noiseStatic),
                  let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
            else { throw SecureFile.Failure(description: "\(url.path) is not a Sotto identity file") }
            return ClientIdentity(noiseStatic: key)
        }
        let identity = ClientIdentity()
        let stored = Stored(version: 1, noiseStatic: identity.noiseStatic.rawRepresentation.base64EncodedString())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecureFile.write(try encoder.encode(stored), to: url)
        return identity
    }
}
