import Logging
import NIOCore
import NIOEmbedded

/// The real server pipeline and hub on in-memory channels, one thread, no sockets: for
/// fuzzing and for tests that feed a connection byte by byte. Every connection it makes
/// goes through the same admission and handlers as a TCP connection would.
public final class InMemoryServer {
    public let loop = EmbeddedEventLoop()
    let hub: Hub
    public let configuration: ServerConfiguration

    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
        var logger = Logger(label: "sotto.in-memory")
        logger.logLevel = .critical
        // An in-memory log cannot fail to open.
        hub = try! Hub(limits: configuration.limits, loops: [loop], logger: logger,
                       members: configuration.members, deliveries: configuration.deliveries, retention: configuration.retention,
                       blocking: BlockingWork(threads: nil))
    }

    /// A new connection, already accepted; write inbound bytes, read outbound frames.
    public func connect() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        var logger = Logger(label: "sotto.in-memory")
        logger.logLevel = .critical
        try ChatServer.accept(channel, hub: hub, configuration: configuration, logger: logger).wait()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    public var memberCount: Int { hub.memberCount }
}
