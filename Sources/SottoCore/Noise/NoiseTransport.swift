/// The two CipherStates after Split(), plus Sotto's rekey policy: after every
/// `rekeyInterval` messages in one direction, both ends REKEY that direction (§11.3),
/// so a key ever seen by memory-reading malware opens a bounded window of traffic.
public struct NoiseTransport: Sendable {
    public private(set) var send: CipherState
    public private(set) var receive: CipherState
    public let handshakeHash: [UInt8]
    public var rekeyInterval: UInt64 = NoiseTransport.defaultRekeyInterval

    public static let defaultRekeyInterval: UInt64 = 1 << 20
    /// Largest plaintext that fits one transport message.
    public static let maxPlaintextLength = noiseMaxMessageLength - noiseTagLength

    init(send: CipherState, receive: CipherState, handshakeHash: [UInt8]) {
        self.send = send
        self.receive = receive
        self.handshakeHash = handshakeHash
    }

    public mutating func seal(_ plaintext: [UInt8]) throws -> [UInt8] { try seal(plaintext[...]) }

    /// Seals part of a larger buffer without copying it out first.
    public mutating func seal(_ plaintext: ArraySlice<UInt8>) throws -> [UInt8] {
        try seal(plaintext) { Array($0) }
    }

    /// Seals part of a larger buffer and hands `body` the transport message in place, valid
    /// only during the call: a relay copies it once, into the socket's buffer.
    public mutating func seal<Result>(_ plaintext: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        guard plaintext.count <= Self.maxPlaintextLength else { throw NoiseError.messageTooLarge(plaintext.count + noiseTagLength) }
        let out = try send.encryptWithAd([], plaintext, body)
        if send.nonce % rekeyInterval == 0 { try send.rekey() }
        return out
    }

    public mutating func open(_ ciphertext: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count <= noiseMaxMessageLength else { throw NoiseError.messageTooLarge(ciphertext.count) }
        let out = try receive.decryptWithAd([], ciphertext)
        if receive.nonce % rekeyInterval == 0 { try receive.rekey() }
        return out
    }
}
