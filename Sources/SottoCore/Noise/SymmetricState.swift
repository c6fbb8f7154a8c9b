/// Noise SymmetricState (spec §5.2): the chaining key, the handshake hash and a CipherState.
struct SymmetricState {
    let hash: NoiseHash
    var cipherState: CipherState
    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]

    init(protocolName: String, cipher: NoiseCipher, hash: NoiseHash) {
        self.hash = hash
        let name = Array(protocolName.utf8)
        if name.count <= hash.hashLength {
            handshakeHash = name + [UInt8](repeating: 0, count: hash.hashLength - name.count)
        } else {
            handshakeHash = hash.hash(name)
        }
        chainingKey = handshakeHash
        cipherState = CipherState(cipher: cipher)
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let out = hash.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial, outputs: 2)
        chainingKey = out[0]
        cipherState.initializeKey(Array(out[1].prefix(32)))
    }

    mutating func mixHash(_ data: [UInt8]) {
        handshakeHash = hash.hash(handshakeHash + data)
    }

    mutating func mixKeyAndHash(_ inputKeyMaterial: [UInt8]) {
        let out = hash.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial, outputs: 3)
        chainingKey = out[0]
        mixHash(out[1])
        cipherState.initializeKey(Array(out[2].prefix(32)))
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipherState.encryptWithAd(handshakeHash, plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipherState.decryptWithAd(handshakeHash, ciphertext)
        mixHash(ciphertext)
        return plaintext
    }

    /// Split(): two CipherStates, the first for initiator → responder.
    func split() -> (CipherState, CipherState) {
        let out = hash.hkdf(chainingKey: chainingKey, inputKeyMaterial: [], outputs: 2)
        var first = CipherState(cipher: cipherState.cipher)
        var second = CipherState(cipher: cipherState.cipher)
        first.initializeKey(Array(out[0].prefix(32)))
        second.initializeKey(Array(out[1].prefix(32)))
        return (first, second)
    }
}
