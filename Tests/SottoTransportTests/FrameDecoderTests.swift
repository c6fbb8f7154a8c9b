import NIOCore
import NIOEmbedded
import Testing
@testable import SottoTransport

@Suite struct FrameDecoderTests {
    static func stream(_ frames: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBuffer()
        for f in frames { buffer.writeFrame(f) }
        return Array(buffer: buffer)
    }

    static let frames: [[UInt8]] = [[1], Array(0..<200).map { UInt8($0) }, [UInt8](repeating: 0xab, count: 65_535), [9, 9, 9]]

    func decode(_ bytes: [UInt8], chunks: [Int]) throws -> [[UInt8]] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        var offset = 0
        var chunkIndex = 0
        while offset < bytes.count {
            let n = min(chunks[chunkIndex % chunks.count], bytes.count - offset)
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<(offset + n)]))
            offset += n
            chunkIndex += 1
        }
        var out: [[UInt8]] = []
        while let frame: ByteBuffer = try channel.readInbound() { out.append(Array(buffer: frame)) }
        _ = try channel.finish()
        return out
    }

    @Test func dripFedOneByteAtATime() throws {
        #expect(try decode(Self.stream(Self.frames), chunks: [1]) == Self.frames)
    }

    @Test func randomChunks() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let chunks = (0..<16).map { _ in Int.random(in: 1...3000, using: &rng) }
            #expect(try decode(Self.stream(Self.frames), chunks: chunks) == Self.frames)
        }
    }

    @Test func allAtOnce() throws {
        let bytes = Self.stream(Self.frames)
        #expect(try decode(bytes, chunks: [bytes.count]) == Self.frames)
    }

    @Test func aZeroLengthFrameIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        #expect(throws: FramingError.emptyFrame) { try channel.writeInbound(ByteBuffer(bytes: [0, 0, 1])) }
    }

    @Test func anUnfinishedFrameProducesNothing() throws {
        let bytes = Self.stream([[1, 2, 3, 4]])
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropLast()))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }
}
