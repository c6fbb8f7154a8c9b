import NIOCore
import SottoCore

/// Every bound the server enforces, each with the default a LAN chat wants.
public struct ServerLimits: Sendable {
    /// From TCP accept to logged in (handshake and login together).
    public var loginTimeout: TimeAmount = .seconds(10)
    /// A logged-in connection that sends nothing (not even the client's keepalive ping) for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(90)
    /// Largest chat body accepted; announced to clients in the server hello.
    public var maxBodyBytes: Int = WireLimits.defaultBodyBytes
    /// Sustained records per second per connection, and the burst allowed above it.
    /// Past it the server stops reading from that socket until tokens refill: the sender
    /// is slowed by TCP backpressure, nothing is dropped, nobody else notices.
    public var recordsPerSecond: Double = 20
    public var recordBurst: Double = 50
    public var maxConnections: Int = 4_096
    public var maxConnectionsPerAddress: Int = 32
    /// Records waiting for a peer that does not read; past this the peer is cut off.
    public var maxQueuedBytes: Int = 1 << 20
    /// Failed logins from one address before backoff starts, its first step and its ceiling.
    public var freeLoginFailures: Int = 2
    public var loginBackoffBase: TimeAmount = .milliseconds(500)
    public var loginBackoffMax: TimeAmount = .seconds(30)
    /// How long an address's failures are remembered after its last failure.
    public var loginFailureMemory: TimeAmount = .minutes(15)
    /// Logins examined per second from all sources together, and the burst above it (a
    /// restarted server's members all come back at once); past it, error 4 at once.
    public var loginsPerSecond: Double = 200
    public var loginBurst: Double = 5_000
    /// New names registered from one source (an address, an IPv6 /64): this many at once,
    /// then one every `registrationInterval` seconds (20 an hour). Every login receives the
    /// whole member list: one password holder minting identities must not grow it past what
    /// a login can read.
    public var registrationBurst: Int = 20
    public var registrationInterval: Double = 180
    public var listenBacklog: Int32 = 4_096

    public init() {}
}
