import Crypto
import Foundation

/// The ssh convention: `SHA256:` + unpadded base64 of SHA-256 over the 32-byte public key.
public enum Fingerprint {
    public static let prefix = "SHA256:"

    public static func of(publicKey: [UInt8]) -> String {
        of(digest: Array(SHA256.hash(data: publicKey)))
    }

    /// The same form for a SHA-256 digest computed already.
    public static func of(digest: [UInt8]) -> String {
        // Padding only ever ends the string: dropping it there is cheaper than a search.
        var base64 = Data(digest).base64EncodedString()
        while base64.last == "=" { base64.removeLast() }
        return prefix + base64
    }

    /// Accepts exactly the form `of(publicKey:)` produces (43 base64 characters).
    public static func isWellFormed(_ text: String) -> Bool {
        guard text.hasPrefix(prefix) else { return false }
        let body = text.dropFirst(prefix.count)
        guard body.count == 43 else { return false }
        return Data(base64Encoded: String(body) + "=") != nil
    }
}
