import NIOCore
import NIOEmbedded
import SottoCore
import SottoTransport
@testable import SottoServer

extension InMemoryServer {
    struct NoMessage2: Error {}

    /// One frame in, and the loop run until quiet.
    func send(_ message: [UInt8], on channel: EmbeddedChannel) throws {
        var buffer = ByteBuffer()
        buffer.writeFrame(message)
        try channel.writeInbound(buffer)
        loop.run()
    }

    /// A genuine handshake and a login as `name` (no identity) on `channel`; the client's side
    /// of the transport after it.
    func logIn(_ name: String, password: String, salt: [UInt8], on channel: EmbeddedChannel) throws -> NoiseTransport {
        var client = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: DHPrivateKey())
        try send(try client.writeMessage(payload: []), on: channel)
        guard var reply = try channel.readOutbound(as: ByteBuffer.self), let n = reply.readInteger(as: UInt16.self),
              let message2 = reply.readBytes(length: Int(n)) else { throw NoMessage2() }
        _ = try client.readMessage(message2)
        let key = try PasswordKey.derive(password: password, salt: salt, parameters: .testing)
        try send(try client.writeMessage(payload: LoginRequest(username: name, proof: PasswordKey.proof(key: key, handshakeHash: client.handshakeHash),
                                                               sessionNonce: [UInt8](repeating: 1, count: 16)).encoded()), on: channel)
        return try client.split()
    }
}
