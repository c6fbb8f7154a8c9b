import Foundation
import NIOCore
import SottoCore
import SottoTransport

/// One connection of a `ChatClient`: drives the handshake, hands the server's hello and
/// records to the client, keeps the connection alive, and reports why it ended.
final class ClientSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = NoiseInbound
    typealias OutboundIn = NoiseOutbound
    typealias OutboundOut = NoiseOutbound

    private let client: ChatClient
    private let connection: Int
    /// The connection's Noise handler: the login proof is bound to its handshake hash.
    var noise: NoiseChannelHandler?
    private var failure: ClientFailure?
    private var online = false
    private var pingToken: UInt64 = 0

    init(client: ChatClient, connection: Int) {
        self.client = client
        self.connection = connection
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
                guard let handshakeHash = noise?.hashBeforeFinalMessage else { throw ClientFailure.protocolError("handshake out of order") }
                client.hello(hello, serverStatic: remoteStatic, handshakeHash: handshakeHash, connection: connection)
            } catch {
                fail(context.channel, error)
            }
        case .record(let bytes):
            let record: ServerRecord
            do { record = try ServerRecord(decoding: bytes) } catch {
                return fail(context.channel, ClientFailure.protocolError("\(error)"))
            }
            if case .error(let error) = record, error.fatal {
                return fail(context.channel, ClientFailure.server(error))
            }
            if case .welcome = record { online = true }
            client.received(record, connection: connection)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        switch idle {
        case .write where online:
            pingToken &+= 1
            context.writeAndFlush(wrapOutboundOut(.record(ClientRecord.ping(pingToken).encoded())), promise: nil)
        case .read:
            fail(context.channel, ClientFailure.connectionLost)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        client.writabilityChanged(context.channel.isWritable, connection: connection)
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
        client.closed(failure, connection: connection)
        context.fireChannelInactive()
    }

    /// Closes the connection; `error` is the reason reported once it has closed.
    func fail(_ channel: Channel, _ error: Error) {
        if failure == nil { failure = (error as? ClientFailure) ?? .protocolError("\(error)") }
        channel.close(promise: nil)
    }
}
