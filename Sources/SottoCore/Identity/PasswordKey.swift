import Crypto
import _CryptoExtras

/// The password never crosses the wire: the client sends scrypt(password, server salt), and
/// the server stores only SHA-256 of that and compares in constant time. Guessing still
/// costs an attacker one scrypt per guess, while a login costs the server one hash.
public enum PasswordKey {
    public static func derive(password: String, salt: [UInt8], parameters: ScryptParameters) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: WireLimits.passwordKeyLength,
            rounds: 1 << Int(parameters.log2N), blockSize: Int(parameters.r), parallelism: Int(parameters.p))
        return key.withUnsafeBytes { Array($0) }
    }

    /// What the server keeps: SHA-256 of the password key.
    public static func verifier(forKey key: [UInt8]) -> SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: key))
    }

    /// Constant time: SymmetricKey equality is swift-crypto's safeCompare.
    public static func matches(key: [UInt8], verifier: SymmetricKey) -> Bool {
        Self.verifier(forKey: key) == verifier
    }
}
