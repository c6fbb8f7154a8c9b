import NIOCore
import SottoCore

/// What the Noise handler passes up the pipeline.
public enum NoiseInbound {
    /// A handshake message's payload. `remoteStatic` is set once the peer's static key is known.
    case handshakePayload([UInt8], remoteStatic: [UInt8]?)
    /// One application record from a transport message.
    case record([UInt8])
}

/// What the application writes down to the Noise handler.
public enum NoiseOutbound {
    /// Sends the next handshake message carrying this payload.
    case handshakePayload([UInt8])
    /// Queues one application record; records queued until the next flush share one
    /// transport message (or as few as fit 65,535 bytes), so encryption is paid per batch.
    case record([UInt8])
}

/// Raised (as an error through the pipeline) when a peer stops reading and its
/// queue of records waiting to be sent passes the bound.
public struct OutboundQueueOverflow: Error, CustomStringConvertible {
    public let queuedBytes: Int
    public var description: String { "outbound queue overflow (\(queuedBytes) bytes queued; peer not reading)" }
}

/// Runs the Noise handshake and then the transport for one connection, as initiator or
/// responder. It knows nothing of Sotto's schema beyond the record batching.
public final class NoiseChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = NoiseInbound
    public typealias OutboundIn = NoiseOutbound
    public typealias OutboundOut = ByteBuffer

    private var handshake: HandshakeState?
    private var transport: NoiseTransport?
    private var queuedPlaintext: [UInt8] = []
    private var queuedPromises: [EventLoopPromise<Void>] = []
    private let maxQueuedBytes: Int
    private var failed = false
    private var context: ChannelHandlerContext?

    /// The peer's static key, once the handshake has revealed it.
    public private(set) var remoteStatic: [UInt8]?
    public var handshakeHash: [UInt8]? { transport?.handshakeHash }
    /// The handshake hash after the last message before the final one (for Noise_XX, after
    /// message 2): what both ends know when the initiator writes its final payload, so
    /// something in it can be bound to this very handshake.
    public private(set) var hashBeforeFinalMessage: [UInt8]?

    public init(handshake: HandshakeState, maxQueuedBytes: Int = 1 << 20) {
        self.handshake = handshake
        self.maxQueuedBytes = maxQueuedBytes
    }

    public func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    public func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Sends records already framed by `RecordBatch.append`, without a trip through the
    /// pipeline: a relay frames each recipient's share of a drain in one reused buffer, and
    /// when nothing waits ahead of it and the socket takes more, it is sealed straight from
    /// there into the socket's buffer and flushed. Otherwise it queues behind what waits, under
    /// the same bound as pipeline writes. On the channel's event loop only.
    public func send(framedRecords records: ArraySlice<UInt8>) {
        guard let context, !failed, !records.isEmpty else { return }
        if queuedPlaintext.isEmpty, context.channel.isWritable {
            guard sealAndWrite(records, promise: nil, context: context) else { return }
        } else {
            queuedPlaintext.append(contentsOf: records)
            if context.channel.isWritable {
                sealQueued(context: context)
            } else if queuedPlaintext.count > maxQueuedBytes {
                return fail(context: context, error: OutboundQueueOverflow(queuedBytes: queuedPlaintext.count))
            }
        }
        flushWithinBound(context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = Array(buffer: unwrapInboundIn(data))
        do {
            if transport != nil {
                let plaintext = try transport!.open(frame)  // in place: a copy retains every key
                for record in try RecordBatch.split(plaintext) {
                    context.fireChannelRead(wrapInboundOut(.record(record)))
                    if failed { return }
                }
            } else if var handshake {
                let payload = try handshake.readMessage(frame)
                self.handshake = handshake
                remoteStatic = handshake.remoteStatic
                if !handshake.isComplete { hashBeforeFinalMessage = handshake.handshakeHash }
                try finishIfComplete()
                context.fireChannelRead(wrapInboundOut(.handshakePayload(payload, remoteStatic: remoteStatic)))
            }
        } catch {
            fail(context: context, error: error)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !failed else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .handshakePayload(let payload):
            do {
                guard var handshake else { throw NoiseError.handshakeComplete }
                let message = try handshake.writeMessage(payload: payload)
                self.handshake = handshake
                if !handshake.isComplete { hashBeforeFinalMessage = handshake.handshakeHash }
                try finishIfComplete()
                var buffer = context.channel.allocator.buffer(capacity: message.count + 2)
                buffer.writeFrame(message)
                context.write(wrapOutboundOut(buffer), promise: promise)
            } catch {
                promise?.fail(error)
                fail(context: context, error: error)
            }
        case .record(let record):
            queue(record, promise: promise, context: context)
        }
    }

    private func queue(_ record: [UInt8], promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        guard record.count <= WireLimits.maxRecordLength else {
            promise?.fail(NoiseError.messageTooLarge(record.count))
            return
        }
        RecordBatch.append(record, to: &queuedPlaintext)
        if let promise { queuedPromises.append(promise) }
        guard queuedPlaintext.count >= NoiseTransport.maxPlaintextLength else { return }
        if context.channel.isWritable {
            // A full transport message is waiting: hand it to the socket now rather than
            // at the end of a long burst, so a peer that reads keeps up with it.
            sealQueued(context: context)
            flushWithinBound(context: context)
        } else if queuedPlaintext.count > maxQueuedBytes {
            fail(context: context, error: OutboundQueueOverflow(queuedBytes: queuedPlaintext.count))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        // While the socket is backed up, records wait here (bounded) rather than in NIO.
        if context.channel.isWritable { sealQueued(context: context) }
        flushWithinBound(context: context)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !queuedPlaintext.isEmpty {
            sealQueued(context: context)
            flushWithinBound(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        failQueued(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// Seals and writes everything queued; the queued writes' promises complete with that write.
    private func sealQueued(context: ChannelHandlerContext) {
        guard !queuedPlaintext.isEmpty, transport != nil else { return }
        let promises = queuedPromises
        queuedPromises.removeAll()
        let writePromise: EventLoopPromise<Void>? = promises.isEmpty ? nil : context.eventLoop.makePromise()
        writePromise?.futureResult.whenComplete { result in promises.forEach { $0.completeWith(result) } }
        let sealed = sealAndWrite(queuedPlaintext[...], promise: writePromise, context: context)
        // Keep a small buffer for the next burst, not a 64 KiB one per idle connection.
        if sealed { queuedPlaintext.removeAll(keepingCapacity: queuedPlaintext.capacity <= 4096) }
    }

    /// Seals framed records into as few transport messages as fit, never splitting a record,
    /// and writes them as one buffer. False if sealing failed (the connection is then closing).
    private func sealAndWrite(_ plaintext: ArraySlice<UInt8>, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) -> Bool {
        guard transport != nil else { return false }
        let messages = plaintext.count / NoiseTransport.maxPlaintextLength + 1
        var frames = context.channel.allocator.buffer(capacity: plaintext.count + messages * (2 + noiseTagLength))
        do {
            var start = plaintext.startIndex
            while start < plaintext.endIndex {
                var end = start
                while end < plaintext.endIndex {
                    let length = (Int(plaintext[end]) << 8 | Int(plaintext[end + 1])) + WireLimits.recordHeaderLength
                    if end + length - start > NoiseTransport.maxPlaintextLength {
                        // Unreachable for records within WireLimits; never loop on one that is not.
                        guard end > start else { throw NoiseError.messageTooLarge(length) }
                        break
                    }
                    end += length
                }
                try transport!.seal(plaintext[start..<end]) { frames.writeFrame($0) }  // in place, as in channelRead
                start = end
            }
        } catch {
            promise?.fail(error)
            fail(context: context, error: error)
            return false
        }
        context.write(wrapOutboundOut(frames), promise: promise)
        return true
    }

    /// Flushes, then holds what still waits for this peer to the bound wherever it waits:
    /// here, or in NIO's buffer, where a drain sealed while the socket was writable goes
    /// whole (identity answers far larger than the watermark that makes it unwritable).
    /// Counted after the flush, so only what the socket did not take counts.
    private func flushWithinBound(context: ChannelHandlerContext) {
        context.flush()
        guard !failed else { return }
        let waiting = waitingBytes
        if waiting > maxQueuedBytes { fail(context: context, error: OutboundQueueOverflow(queuedBytes: waiting)) }
    }

    /// Bytes waiting for this peer: queued here, and sealed but not yet taken by the socket.
    /// On the channel's event loop only.
    public var waitingBytes: Int {
        let buffered = context?.channel.syncOptions.flatMap { try? $0.getOption(.bufferedWritableBytes) } ?? 0
        return queuedPlaintext.count + buffered
    }

    private func finishIfComplete() throws {
        guard let handshake, handshake.isComplete else { return }
        transport = try handshake.split()
        self.handshake = nil  // the ephemeral keys go with it
    }

    private func failQueued(_ error: Error) {
        let promises = queuedPromises
        queuedPromises.removeAll()
        queuedPlaintext.removeAll()
        promises.forEach { $0.fail(error) }
    }

    /// Any crypto or framing failure ends the connection: there is no recovering a Noise session.
    private func fail(context: ChannelHandlerContext, error: Error) {
        guard !failed else { return }
        failed = true
        failQueued(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}
