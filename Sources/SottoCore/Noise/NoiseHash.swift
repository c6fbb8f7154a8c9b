import Crypto

/// The Noise hash functions (spec §12.5, §12.6) and the HKDF built on their HMAC (§4.3).
public enum NoiseHash: String, Sendable {
    case sha256 = "SHA256"
    case sha512 = "SHA512"

    var hashLength: Int { self == .sha256 ? 32 : 64 }

    func hash(_ data: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: return Array(SHA256.hash(data: data))
        case .sha512: return Array(SHA512.hash(data: data))
        }
    }

    func hmac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let k = SymmetricKey(data: key)
        switch self {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: k))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: k))
        }
    }

    /// HKDF(chaining_key, input_key_material, num_outputs) exactly as §4.3 writes it.
    func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8], outputs: Int) -> [[UInt8]] {
        precondition(outputs == 2 || outputs == 3)
        let tempKey = hmac(key: chainingKey, data: inputKeyMaterial)
        let output1 = hmac(key: tempKey, data: [0x01])
        let output2 = hmac(key: tempKey, data: output1 + [0x02])
        if outputs == 2 { return [output1, output2] }
        let output3 = hmac(key: tempKey, data: output2 + [0x03])
        return [output1, output2, output3]
    }
}
