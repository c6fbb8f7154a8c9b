import Foundation
import NIOCore
import SottoCore
import SottoTransport

/// One connection of a `ChatClient`: drives the handshake, hands records to the client,
/// keeps the connection alive, and reports why it ended.
final class ClientSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = NoiseInbound
    typealias OutboundIn = NoiseOutbound
    typealias OutboundOut = NoiseOutbound

    private let client: ChatClient
    /// The connection's Noise handler: the login proof is bound to its handshake hash.
    private let noise: NoiseChannelHandler
    private let generation: Int
    private var failure: ClientFailure?
    private var online = false
    private var pingToken: UInt64 = 0

    init(client: ChatClient, noise: NoiseChannelHandler, generation: Int) {
        self.client = client
        self.noise = noise
        self.generation = generation
    }

    func channelActive(context: ChannelHandlerContext) {
        // Message 1: our ephemeral key, empty payload.
        context.writeAndFlush(wrapOutboundOut(.handshakePayload([])), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .handshakePayload(let payload, let remoteStatic):
            do {
                guard let remoteStatic else { throw ClientFailure.protocolError("server sent no static key") }
                let hello: ServerHello
                do { hello = try ServerHello(decoding: payload) } catch WireError.unsupportedVersion {
                    throw ClientFailure.server(ServerError(.unsupportedVersion, fatal: true))
                }
                guard let handshakeHash = noise.hashBeforeFinalMessage else { throw ClientFailure.protocolError("handshake out of order") }
                let login = try client.loginRequest(for: hello, serverStatic: remoteStatic, handshakeHash: handshakeHash)
                context.writeAndFlush(wrapOutboundOut(.handshakePayload(login.encoded())), promise: nil)
            } catch {
                fail(context: context, error)
            }
        case .record(let bytes):
            let record: ServerRecord
            do { record = try ServerRecord(decoding: bytes) } catch {
                return fail(context: context, ClientFailure.protocolError("\(error)"))
            }
            if case .error(let error) = record, error.fatal {
                return fail(context: context, ClientFailure.server(error))
            }
            if case .welcome = record { online = true }
            do { try client.received(record) } catch { fail(context: context, error) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        switch idle {
        case .write where online:
            pingToken &+= 1
            context.writeAndFlush(wrapOutboundOut(.record(ClientRecord.ping(pingToken).encoded())), promise: nil)
        case .read:
            fail(context: context, ClientFailure.connectionLost)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, online { client.pumpOutbox() }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if failure == nil {
            if let io = error as? IOError, [ECONNRESET, EPIPE].contains(io.errnoCode) {
                failure = online ? .connectionLost : .closedDuringLogin
            } else {
                failure = .protocolError("\(error)")
            }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.sessionEnded(failure, generation: generation)
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, _ error: Error) {
        if failure == nil { failure = (error as? ClientFailure) ?? .protocolError("\(error)") }
        context.close(promise: nil)
    }
}
