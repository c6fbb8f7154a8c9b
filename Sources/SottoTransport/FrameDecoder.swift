import NIOCore
import SottoCore

/// Splits a TCP byte stream into Noise messages, each preceded by its length as a 2-byte
/// big-endian integer. A zero length is a violation; 65535 is the most the prefix allows,
/// so a single frame never buffers more than 64 KiB.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return .needMoreData }
        guard length > 0 else { throw FramingError.emptyFrame }
        guard buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // Bytes of an unfinished frame at EOF are simply dropped with the connection.
        return .needMoreData
    }
}

public enum FramingError: Error, Equatable, CustomStringConvertible {
    case emptyFrame
    public var description: String { "zero-length frame" }
}

extension ByteBuffer {
    /// Writes one frame: the 2-byte length, then the Noise message.
    @inlinable
    public mutating func writeFrame<Message: Collection>(_ message: Message) where Message.Element == UInt8 {
        precondition(!message.isEmpty && message.count <= noiseMaxMessageLength)
        writeInteger(UInt16(message.count))
        writeBytes(message)
    }
}
