import NIOCore
import NIOEmbedded
import SottoCore
import Testing
@testable import SottoTransport

/// Two embedded channels, initiator and responder, with bytes shuttled between them by hand.
@Suite struct NoiseChannelHandlerTests {
    final class Link {
        let client: EmbeddedChannel
        let server: EmbeddedChannel

        init(maxQueuedBytes: Int = 1 << 20) throws {
            client = EmbeddedChannel()
            server = EmbeddedChannel()
            try client.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(FrameDecoder()),
                NoiseChannelHandler(handshake: try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: DHPrivateKey())),
            ])
            try server.pipeline.syncOperations.addHandlers([
                ByteToMessageHandler(FrameDecoder()),
                NoiseChannelHandler(handshake: try HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: DHPrivateKey()), maxQueuedBytes: maxQueuedBytes),
            ])
        }

        /// Moves every byte written by `from` into `to`; returns the frames moved.
        @discardableResult
        func pump(from: EmbeddedChannel, to: EmbeddedChannel) throws -> [ByteBuffer] {
            var moved: [ByteBuffer] = []
            while let out = try from.readOutbound(as: ByteBuffer.self) {
                moved.append(out)
                try to.writeInbound(out)
            }
            return moved
        }

        func handshake() throws {
            try client.writeAndFlush(NoiseOutbound.handshakePayload([])).wait()
            try pump(from: client, to: server)
            #expect(try server.readInbound(as: NoiseInbound.self).map(payload) == [])
            try server.writeAndFlush(NoiseOutbound.handshakePayload([7])).wait()
            try pump(from: server, to: client)
            #expect(try client.readInbound(as: NoiseInbound.self).map(payload) == [7])
            try client.writeAndFlush(NoiseOutbound.handshakePayload([8])).wait()
            try pump(from: client, to: server)
            #expect(try server.readInbound(as: NoiseInbound.self).map(payload) == [8])
        }

        /// The lengths of the frames in a run of written buffers.
        static func frameLengths(_ buffers: [ByteBuffer]) -> [Int] {
            var all = ByteBuffer()
            for var b in buffers { all.writeBuffer(&b) }
            var lengths: [Int] = []
            while let n = all.readInteger(as: UInt16.self) {
                lengths.append(Int(n))
                all.moveReaderIndex(forwardBy: Int(n))
            }
            return lengths
        }

        func payload(_ inbound: NoiseInbound) -> [UInt8]? {
            if case .handshakePayload(let p, _) = inbound { return p }
            return nil
        }

        func records(_ channel: EmbeddedChannel) throws -> [[UInt8]] {
            var out: [[UInt8]] = []
            while let inbound = try channel.readInbound(as: NoiseInbound.self) {
                if case .record(let r) = inbound { out.append(r) }
            }
            return out
        }
    }

    @Test func recordsQueuedBeforeAFlushShareOneTransportMessage() throws {
        let link = try Link()
        try link.handshake()
        for n in 1...3 { link.server.write(NoiseOutbound.record([UInt8](repeating: UInt8(n), count: 100)), promise: nil) }
        link.server.flush()
        let frames = try link.pump(from: link.server, to: link.client)
        #expect(Link.frameLengths(frames) == [3 * 102 + 16])
        #expect(try link.records(link.client) == (1...3).map { [UInt8](repeating: UInt8($0), count: 100) })
    }

    @Test func aLargeBatchIsSplitAtRecordBoundaries() throws {
        let link = try Link()
        try link.handshake()
        let big = [UInt8](repeating: 1, count: 40_000)
        for _ in 0..<3 { link.server.write(NoiseOutbound.record(big), promise: nil) }
        link.server.flush()
        let frames = try link.pump(from: link.server, to: link.client)
        #expect(Link.frameLengths(frames).count == 3)
        #expect(try link.records(link.client) == [big, big, big])
    }

    @Test func recordsWaitWhileTheSocketIsBackedUpAndOverflowClosesTheConnection() throws {
        let link = try Link(maxQueuedBytes: 70_000)
        try link.handshake()
        link.server.isWritable = false
        link.server.write(NoiseOutbound.record([UInt8](repeating: 1, count: 4_000)), promise: nil)
        link.server.flush()
        #expect(try link.server.readOutbound(as: ByteBuffer.self) == nil)
        link.server.isWritable = true
        link.server.pipeline.fireChannelWritabilityChanged()
        #expect(try link.pump(from: link.server, to: link.client).count == 1)

        link.server.isWritable = false
        for _ in 0..<20 { link.server.write(NoiseOutbound.record([UInt8](repeating: 2, count: 4_000)), promise: nil) }
        #expect(throws: OutboundQueueOverflow.self) { try link.server.throwIfErrorCaught() }
        #expect(!link.server.isActive)
    }

    @Test func aTamperedTransportFrameClosesTheConnection() throws {
        let link = try Link()
        try link.handshake()
        try link.client.writeAndFlush(NoiseOutbound.record([1, 2, 3])).wait()
        var frame = try #require(try link.client.readOutbound(as: ByteBuffer.self))
        let index = frame.writerIndex - 1
        frame.setInteger(frame.getInteger(at: index, as: UInt8.self)! ^ 1, at: index)
        #expect(throws: NoiseError.decryptionFailed) { try link.server.writeInbound(frame) }
        #expect(!link.server.isActive)
    }

    @Test func garbageInsteadOfAHandshakeClosesTheConnection() throws {
        let link = try Link()
        var buffer = ByteBuffer()
        buffer.writeFrame([1, 2, 3])
        #expect(throws: NoiseError.messageTooShort) { try link.server.writeInbound(buffer) }
        #expect(!link.server.isActive)
    }
}
