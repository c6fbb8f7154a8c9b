import Crypto
import Foundation

/// Noise CipherState (spec §5.1): a key `k` and a counter nonce `n`.
public struct CipherState: Sendable {
    public let cipher: NoiseCipher
    private var key: SymmetricKey?
    /// The next nonce. 2^64-1 is reserved for REKEY and never used for a message.
    public private(set) var nonce: UInt64 = 0

    init(cipher: NoiseCipher) { self.cipher = cipher }

    public var hasKey: Bool { key != nil }

    mutating func initializeKey(_ k: [UInt8]?) {
        key = k.map { SymmetricKey(data: $0) }
        nonce = 0
    }

    /// Used by tests and the vector runner to resume at a given counter.
    public mutating func setNonce(_ n: UInt64) { nonce = n }

    public mutating func encryptWithAd<Plaintext: DataProtocol>(_ ad: [UInt8], _ plaintext: Plaintext) throws -> [UInt8] {
        try encryptWithAd(ad, plaintext) { Array($0) }
    }

    /// ENCRYPTWITHAD, handing `body` the ciphertext (and tag) in place instead of copying it out.
    public mutating func encryptWithAd<Plaintext: DataProtocol, Result>(_ ad: [UInt8], _ plaintext: Plaintext,
                                                                        _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        guard let key else { return try Array(plaintext).withUnsafeBytes(body) }
        guard nonce < UInt64.max else { throw NoiseError.nonceExhausted }
        let out = try cipher.encrypt(key: key, nonce: nonce, ad: ad, plaintext: plaintext, body)
        nonce += 1
        return out
    }

    /// On failure the nonce does not advance (§5.1), though callers close the session anyway.
    public mutating func decryptWithAd(_ ad: [UInt8], _ ciphertext: [UInt8]) throws -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw NoiseError.nonceExhausted }
        let out = try cipher.decrypt(key: key, nonce: nonce, ad: ad, ciphertext: ciphertext)
        nonce += 1
        return out
    }

    /// REKEY(k) from §4.2: the first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros). The nonce is kept.
    public mutating func rekey() throws {
        guard let key else { throw NoiseError.missingKey("cipher") }
        let out = try cipher.encrypt(key: key, nonce: UInt64.max, ad: [], plaintext: [UInt8](repeating: 0, count: 32))
        self.key = SymmetricKey(data: out[0..<32])
    }
}
