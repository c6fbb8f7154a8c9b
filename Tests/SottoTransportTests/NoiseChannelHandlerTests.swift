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
            // Embedded channels are inactive until connected; a test of closing needs them open.
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
            try client.connect(to: address).wait()
            try server.connect(to: address).wait()
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

    @Test func framedRecordsSentDirectlyKeepTheirPlaceBehindPipelineWrites() throws {
        let link = try Link()
        try link.handshake()
        let noise = try link.server.pipeline.syncOperations.handler(type: NoiseChannelHandler.self)
        link.server.write(NoiseOutbound.record([1]), promise: nil)  // queued, not yet flushed
        var framed: [UInt8] = []
        RecordBatch.append([2, 2], to: &framed)
        RecordBatch.append([3, 3, 3], to: &framed)
        noise.send(framedRecords: framed[...])  // behind it, and flushed with it
        let frames = try link.pump(from: link.server, to: link.client)
        #expect(Link.frameLengths(frames).count == 1)
        #expect(try link.records(link.client) == [[1], [2, 2], [3, 3, 3]])

        let inLargerBuffer = [9, 9] + framed
        noise.send(framedRecords: inLargerBuffer[2...])  // nothing ahead: sealed from the caller's buffer
        #expect(try link.records(link.client).isEmpty)
        #expect(Link.frameLengths(try link.pump(from: link.server, to: link.client)) == [2 + 3 + 2 * 2 + 16])
        #expect(try link.records(link.client) == [[2, 2], [3, 3, 3]])
    }

    @Test func framedRecordsBeyondOneTransportMessageAreSplitAtRecordBoundaries() throws {
        let link = try Link()
        try link.handshake()
        let noise = try link.server.pipeline.syncOperations.handler(type: NoiseChannelHandler.self)
        let big = [UInt8](repeating: 1, count: 40_000)
        var framed: [UInt8] = []
        for _ in 0..<3 { RecordBatch.append(big, to: &framed) }
        noise.send(framedRecords: framed[...])
        #expect(Link.frameLengths(try link.pump(from: link.server, to: link.client)) == [40_002 + 16, 40_002 + 16, 40_002 + 16])
        #expect(try link.records(link.client) == [big, big, big])
    }

    @Test func framedRecordsWaitWhileTheSocketIsBackedUpUnderTheSameBound() throws {
        let link = try Link(maxQueuedBytes: 70_000)
        try link.handshake()
        let noise = try link.server.pipeline.syncOperations.handler(type: NoiseChannelHandler.self)
        var framed: [UInt8] = []
        for _ in 0..<4 { RecordBatch.append([UInt8](repeating: 2, count: 4_000), to: &framed) }
        link.server.isWritable = false
        noise.send(framedRecords: framed[...])
        #expect(try link.server.readOutbound(as: ByteBuffer.self) == nil)
        link.server.isWritable = true
        link.server.pipeline.fireChannelWritabilityChanged()
        try link.pump(from: link.server, to: link.client)
        #expect(try link.records(link.client).count == 4)
        link.server.isWritable = false

        for _ in 0..<4 { noise.send(framedRecords: framed[...]) }  // 64,032 bytes: within the bound
        #expect(link.server.isActive)
        noise.send(framedRecords: framed[...])
        #expect(throws: OutboundQueueOverflow.self) { try link.server.throwIfErrorCaught() }
        #expect(!link.server.isActive)
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

/// A connection that ends (well or badly) must free its handlers: a server takes floods of
/// bad handshakes. (The frames fuzzer saw memory grow ~1.8 KB per failing input; that was
/// EmbeddedChannel, which keeps a channel closed from inside a read alive until its loop
/// shuts down, even with a handler that does nothing but close. Hence the shutdown here.)
@Suite struct ConnectionLifetimeTests {
    final class Weak<T: AnyObject> { weak var value: T?; init(_ v: T) { value = v } }

    func lifetime(feeding bytes: [UInt8], decoder: Bool = true) throws -> (noise: Bool, channel: Bool) {
        var noiseRef: Weak<NoiseChannelHandler>!
        var channelRef: Weak<EmbeddedChannel>!
        try {
            let noise = NoiseChannelHandler(handshake: try HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: DHPrivateKey()))
            let channel = EmbeddedChannel()
            noiseRef = Weak(noise)
            channelRef = Weak(channel)
            if decoder { try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder())) }
            try channel.pipeline.syncOperations.addHandler(noise)
            _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
            while (try? channel.readInbound(as: NoiseInbound.self)) != nil {}
            _ = try? channel.finish()
            channel.embeddedEventLoop.shutdownGracefully(queue: .global()) { _ in }  // not the sync variant: it asserts it is off the loop
        }()
        return (noiseRef.value != nil, channelRef.value != nil)
    }

    @Test(arguments: [
        [UInt8](),                                  // nothing at all
        [0, 3, 1, 2, 3],                            // a frame too short to be a handshake message
        [0, 32] + [UInt8](repeating: 7, count: 32), // a bad ephemeral key
        [0xff, 0xff, 1],                            // a truncated frame
    ])
    func handlersAreFreedWhenTheConnectionEnds(input: [UInt8]) throws {
        let bare = try lifetime(feeding: Array(input.dropFirst(2)), decoder: false)
        #expect(!bare.noise && !bare.channel, "without the frame decoder")
        let alive = try lifetime(feeding: input)
        #expect(!alive.noise, "the Noise handler outlived its connection")
        #expect(!alive.channel, "the channel outlived its connection")
    }
}

