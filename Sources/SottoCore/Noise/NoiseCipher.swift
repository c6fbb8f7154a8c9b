import Crypto
import Foundation

/// The Noise cipher functions (spec §12.3, §12.4), each a thin call into swift-crypto.
public enum NoiseCipher: String, Sendable {
    case chaChaPoly = "ChaChaPoly"
    case aesGCM = "AESGCM"

    /// ENCRYPT(k, n, ad, plaintext): ciphertext followed by the 16-byte tag.
    func encrypt<Plaintext: DataProtocol>(key: SymmetricKey, nonce: UInt64, ad: [UInt8], plaintext: Plaintext) throws -> [UInt8] {
        try encrypt(key: key, nonce: nonce, ad: ad, plaintext: plaintext) { Array($0) }
    }

    /// ENCRYPT(k, n, ad, plaintext), handing `body` the ciphertext and tag where swift-crypto
    /// left them, so a relay can copy them once, straight into its socket buffer.
    func encrypt<Plaintext: DataProtocol, Result>(key: SymmetricKey, nonce: UInt64, ad: [UInt8], plaintext: Plaintext,
                                                  _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        // `combined` is nonce ‖ ciphertext ‖ tag in one buffer; the `ciphertext` and `tag`
        // accessors would slice and copy it twice more.
        let combined: Data
        switch self {
        case .chaChaPoly:
            combined = try ChaChaPoly.seal(plaintext, using: key, nonce: try ChaChaPoly.Nonce(data: nonceBytes(nonce)), authenticating: ad).combined
        case .aesGCM:
            // `combined` is nil only for nonces other than 12 bytes; ours are always 12.
            combined = try AES.GCM.seal(plaintext, using: key, nonce: try AES.GCM.Nonce(data: nonceBytes(nonce)), authenticating: ad).combined!
        }
        return try combined.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[Self.nonceLength...])) }
    }

    private static let nonceLength = 12

    /// DECRYPT(k, n, ad, ciphertext); any authentication failure is `decryptionFailed`.
    func decrypt(key: SymmetricKey, nonce: UInt64, ad: [UInt8], ciphertext: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count >= noiseTagLength else { throw NoiseError.messageTooShort }
        // The sealed box from its combined form (nonce ‖ ciphertext ‖ tag), built with two
        // plain copies: `SealedBox(nonce:ciphertext:tag:)` concatenates through generic code.
        var combined = Data(capacity: Self.nonceLength + ciphertext.count)
        nonceBytes(nonce).withUnsafeBytes { combined.append(contentsOf: $0) }
        ciphertext.withUnsafeBytes { combined.append(contentsOf: $0) }
        do {
            let opened: Data
            switch self {
            case .chaChaPoly:
                opened = try ChaChaPoly.open(ChaChaPoly.SealedBox(combined: combined), using: key, authenticating: ad)
            case .aesGCM:
                opened = try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: ad)
            }
            return opened.withUnsafeBytes { [UInt8]($0) }
        } catch {
            throw NoiseError.decryptionFailed
        }
    }

    /// 32 zero bits then the 64-bit counter: little-endian for ChaChaPoly, big-endian for AESGCM.
    private func nonceBytes(_ n: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 {
            let byte = UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))
            switch self {
            case .chaChaPoly: bytes[4 + i] = byte
            case .aesGCM: bytes[11 - i] = byte
            }
        }
        return bytes
    }
}
