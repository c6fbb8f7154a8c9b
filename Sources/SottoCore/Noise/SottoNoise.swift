/// Sotto's Noise prologue: binds the protocol version into every handshake hash, so a
/// peer speaking another version fails the handshake instead of misreading it.
public let sottoPrologue: [UInt8] = Array("sotto/1".utf8)
