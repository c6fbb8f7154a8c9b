import Logging
import NIOCore
import NIOPosix
import SottoCore
import SottoTransport

/// A running Sotto server: a listening socket on a SwiftNIO event loop group (one loop per
/// core) and the hub that joins its connections.
public final class ChatServer {
    public let configuration: ServerConfiguration
    private let group: MultiThreadedEventLoopGroup
    private let hub: Hub
    private let logger: Logger
    private var channel: Channel?
    private var trimmer: MemoryTrimmer?
    private var pruning: RepeatedTask?

    /// Throws if the delivery log cannot be read (the server must not start without what it stored).
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "sotto.server")) throws {
        self.configuration = configuration
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        hub = try Hub(limits: configuration.limits, loops: Array(group.makeIterator()), logger: logger,
                      members: configuration.members, deliveries: configuration.deliveries, retention: configuration.retention,
                      blocking: BlockingWork(threads: 2))
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel?.localAddress }
    public var port: Int? { localAddress?.port }
    public var onlineCount: Int { hub.memberCount }

    /// Test builds only (`@testable import`): a hook on every relayed chat message.
    var relayHook: ((ChatMessage) -> [ChatMessage])? {
        get { hub.relayHook }
        set { hub.relayHook = newValue }
    }
    public var connectionCount: Int { hub.connectionCount }

    /// Test builds only: notice released names now rather than within a minute.
    func syncMembers() { hub.syncMembers() }

    /// Test builds only: what the minute's prune does, now; returns once it is done.
    func prune() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in hub.prune { done.resume() } }
    }

    public enum StartError: Error, CustomStringConvertible {
        case portInUse(host: String, port: Int)
        case cannotListen(host: String, port: Int, reason: String)
        public var description: String {
            switch self {
            case .portInUse(let host, let port):
                return "Port \(port) on \(host) is already in use; stop the other server or choose another port with --port."
            case .cannotListen(let host, let port, let reason):
                return "Cannot listen on \(host):\(port): \(reason)."
            }
        }
    }

    public func start() async throws {
        let configuration = self.configuration
        let hub = self.hub
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.limits.listenBacklog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { channel in
                Self.accept(channel, hub: hub, configuration: configuration, logger: logger)
            }
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw StartError.portInUse(host: configuration.host, port: configuration.port)
        } catch {
            throw StartError.cannotListen(host: configuration.host, port: configuration.port, reason: "\(error)")
        }
        MemoryTrimmer.padHeapTop()
        trimmer = MemoryTrimmer(loop: group.next(), logger: logger) { hub.churn }
        // What everyone confirmed, and what retention no longer keeps, leaves the log.
        pruning = group.next().scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(60)) { _ in
            hub.syncMembers()
            hub.prune()
        }
        logger.info("listening", metadata: ["address": "\(channel?.localAddress?.description ?? "?")"])
    }

    /// One accepted connection: admission, then frames → Noise → session.
    static func accept(_ channel: Channel, hub: Hub, configuration: ServerConfiguration, logger: Logger) -> EventLoopFuture<Void> {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        var connectionLogger = logger
        connectionLogger[metadataKey: "peer"] = "\(address)"
        switch hub.admit(address: address) {
        case .admitted:
            break
        case let refusal:
            connectionLogger.notice("connection refused", metadata: ["reason": "\(refusal)"])
            return channel.close()
        }
        channel.closeFuture.whenComplete { _ in hub.release(address: address) }
        do {
            let handshake = try HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: configuration.staticKey)
            let transport = NoiseChannelHandler(handshake: handshake, maxQueuedBytes: configuration.limits.maxQueuedBytes)
            let session = ServerSessionHandler(hub: hub, transport: transport, configuration: configuration, address: address,
                                               loop: channel.eventLoop, logger: connectionLogger)
            try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(FrameDecoder()), transport, session])
            return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Tells every client the server is going away, gives the messages a moment to leave,
    /// then closes everything.
    /// With nobody connected there is nobody to tell: it stops at once.
    public func shutdown(grace: TimeAmount = .milliseconds(300)) async throws {
        let told = hub.connectionCount > 0
        hub.beginShutdown()
        trimmer?.cancel()
        pruning?.cancel()
        try? await channel?.close().get()
        if told { try await Task.sleep(nanoseconds: UInt64(max(0, grace.nanoseconds))) }
        try await group.shutdownGracefully()
        await hub.blocking.shutdown()
    }
}
