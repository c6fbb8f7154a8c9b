import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A loopback TCP proxy in front of a server: it records every byte that crosses it (what a
/// passive attacker on the LAN sees) and can cut every connection (what a flaky network does).
final class TCPProxy: @unchecked Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let lock = NIOLock()
    private var bytes: [UInt8] = []
    private var open: [Channel] = []
    private var listener: Channel?
    private var hangUpsLeft = 0
    private var refusing = false
    private var accepted = 0
    let targetPort: Int

    init(targetPort: Int) async throws {
        self.targetPort = targetPort
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] inbound in
                let refuse = lock.withLock { () -> Bool in
                    accepted += 1
                    return refusing
                }
                if refuse { return inbound.close() }
                let toServer = Glue(proxy: self)
                let connected = ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { outbound in
                        self.lock.withLock { self.open += [inbound, outbound] }
                        let toClient = Glue(proxy: self, fromServer: true)
                        toClient.attach(inbound)
                        return outbound.pipeline.addHandler(toClient).map { toServer.attach(outbound) }
                    }
                connected.whenFailure { _ in inbound.close(promise: nil) }
                return inbound.pipeline.addHandler(toServer)
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { listener!.localAddress!.port! }
    var recorded: [UInt8] { lock.withLock { bytes } }
    /// Connections accepted so far.
    var connectionCount: Int { lock.withLock { accepted } }

    /// The next `count` connections are hung up as soon as the server's first bytes reached
    /// the client (what a server does when a login takes longer than it waits).
    func hangUpAfterServerSpeaks(times count: Int) {
        lock.withLock { hangUpsLeft = count }
    }

    fileprivate func takeHangUp() -> Bool {
        lock.withLock {
            guard hangUpsLeft > 0 else { return false }
            hangUpsLeft -= 1
            return true
        }
    }

    fileprivate func record(_ buffer: ByteBuffer) {
        lock.withLock { bytes += buffer.readableBytesView }
    }

    /// While set, a new connection is closed as soon as it is accepted (a server that is down).
    func refuse(_ on: Bool) {
        lock.withLock { refusing = on }
    }

    /// Drops every connection through the proxy (new ones are still accepted).
    func cutAll() {
        let channels = lock.withLock { () -> [Channel] in
            defer { open = [] }
            return open
        }
        for c in channels { c.close(promise: nil) }
    }

    func stop() async {
        cutAll()
        try? await listener?.close().get()
        try? await group.shutdownGracefully()
    }

    /// Forwards what one side reads to the other side; holds bytes until that side exists.
    private final class Glue: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let proxy: TCPProxy
        let fromServer: Bool
        private var partner: Channel?
        private var held: [ByteBuffer] = []
        private var spoken = false

        init(proxy: TCPProxy, fromServer: Bool = false) {
            self.proxy = proxy
            self.fromServer = fromServer
        }

        func attach(_ channel: Channel) {
            partner = channel
            for b in held { channel.write(b, promise: nil) }
            held = []
            channel.flush()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            proxy.record(buffer)
            if fromServer, !spoken, let partner {
                spoken = true
                if proxy.takeHangUp() {
                    let server = context.channel
                    partner.writeAndFlush(buffer).whenComplete { _ in
                        server.close(promise: nil)
                        partner.close(promise: nil)
                    }
                    return
                }
            }
            if let partner { partner.writeAndFlush(buffer, promise: nil) } else { held.append(buffer) }
        }

        func channelInactive(context: ChannelHandlerContext) {
            partner?.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }
    }
}
