import Crypto
import _CryptoExtras

/// The password never crosses the wire, nor anything that logs in on another connection:
/// the client proves it knows key = scrypt(password, server salt) with HMAC(key, handshake
/// hash after the server's hello). That hash covers both ephemeral keys and the server's
/// static key, so a proof made for one connection (or for a server that copied this
/// server's salt into its own hello) is worthless on any other. The server keeps the key,
/// derived once at start, and checks the proof in constant time. Guessing still costs an
/// attacker one scrypt per guess.
public enum PasswordKey {
    static let proofContext = Array("sotto/3 login proof".utf8)

    /// What a client sends in its `LoginRequest`.
    public static func proof(key: [UInt8], handshakeHash: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: proofContext + handshakeHash, using: SymmetricKey(data: key)))
    }

    /// Constant time (swift-crypto's HMAC validation).
    public static func isValid(proof: [UInt8], key: SymmetricKey, handshakeHash: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: proofContext + handshakeHash, using: key)
    }

    public static func derive(password: String, salt: [UInt8], parameters: ScryptParameters) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: WireLimits.passwordKeyLength,
            rounds: 1 << Int(parameters.log2N), blockSize: Int(parameters.r), parallelism: Int(parameters.p))
        return key.withUnsafeBytes { Array($0) }
    }
}
