import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoCore
import SottoTransport

/// A Sotto client connection on its own network thread: the NIO shell around `ClientCore`.
/// It only moves things: calls and socket events become the core's inputs, and the core's
/// effects become sockets opened and closed, records written, timers set and events handed
/// to `onEvent`. Every public method may be called from any thread; events arrive on the
/// network thread.
public final class ChatClient: @unchecked Sendable {
    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let loop: EventLoop
    private let identity: ClientIdentity
    private let store: ClientStore
    private let onEvent: @Sendable (ClientEvent) -> Void
    /// The end-to-end state kept between runs, read and written on `keyQueue`, never here.
    private let keyStore: KeyStateStore
    private let keyQueue = DispatchQueue(label: "sotto.keys")
    /// Runs on `keyQueue` before each store: whatever the app keeps of the events handed to
    /// it so far (its history) is written first, so a confirmed position never outruns it.
    private let beforeStore: (@Sendable () -> Void)?
    private let logger: Logger

    // Confined to `loop`.
    private let core: ClientCore
    private var connectTimeout: Double
    private var keepalive: (ping: Double, dead: Double)
    /// The current connection's channel and session handler, by the core's connection number.
    private var channel: (number: Int, channel: Channel, handler: ClientSessionHandler)?
    private var timers: [ClientCore.Timer: Scheduled<Void>] = [:]
    private var draining = false

    private let idLock = NIOLock()
    private var isShutDown = false
    /// Client message ids: a random epoch per client instance in the upper 32 bits and a
    /// counter below, so the server can drop resends by remembering one number per epoch.
    private var nextID = UInt64(UInt32.random(in: 1...UInt32.max)) << 32
    private let prekeyPolicy: PrekeyPolicy

    /// With `group`, the connection runs on one of its loops (many clients can share a few
    /// threads, as the benchmark does); otherwise the client owns one network thread.
    public init(configuration: ClientConfiguration, identity: ClientIdentity, knownServers: KnownServers,
                peerKeys: PeerKeys? = nil, group sharedGroup: EventLoopGroup? = nil,
                keyStore: KeyStateStore = InMemoryKeyStateStore(), beforeStore: (@Sendable () -> Void)? = nil,
                logger: Logger = Logger(label: "sotto.client"), onEvent: @escaping @Sendable (ClientEvent) -> Void) {
        self.keyStore = keyStore
        self.beforeStore = beforeStore
        self.logger = logger
        let peerKeys = peerKeys ?? PeerKeys(url: knownServers.url.deletingLastPathComponent().appendingPathComponent("peers.json"))
        self.identity = identity
        store = FileClientStore(knownServers: knownServers, peerKeys: peerKeys)
        core = ClientCore(configuration: configuration, identity: identity, store: store, logger: logger)
        connectTimeout = configuration.connectTimeout
        keepalive = (configuration.pingInterval, configuration.deadAfter)
        prekeyPolicy = configuration.prekeyPolicy
        self.onEvent = onEvent
        ownedGroup = sharedGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        loop = (sharedGroup ?? ownedGroup!).next()
    }

    // MARK: Commands (any thread)

    public func connect() {
        onLoop { self.run(.connect) }
    }

    /// Accepts the given server fingerprint for this connection (a person compared it), then connects.
    public func trustServer(fingerprint: String) {
        onLoop { self.run(.trust(fingerprint: fingerprint)) }
    }

    /// Queues a message and returns its id; it is sent now if online, else once back online.
    @discardableResult
    public func send(_ text: String, to recipient: String = "") -> UInt64 {
        let id = idLock.withLock { () -> UInt64 in
            nextID &+= 1
            return nextID
        }
        onLoop { self.run(.send(id: id, to: recipient, text: text)) }
        return id
    }

    /// Stops (or resumes) reading from the socket, as a frozen laptop would: for load
    /// generators and tests of how the server treats a member that does not read.
    public func setReadingPaused(_ paused: Bool) {
        onLoop { _ = self.channel?.channel.setOption(ChannelOptions.autoRead, value: !paused) }
    }

    public func disconnect() {
        onLoop { self.run(.disconnect) }
    }

    /// Disconnects and stops the network thread. The client cannot be used afterwards;
    /// calling it again does nothing.
    public func shutdown() {
        let first = idLock.withLock { () -> Bool in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        _ = try? loop.flatSubmit { () -> EventLoopFuture<Void> in
            let closing = self.channel?.channel.closeFuture
            self.run(.disconnect)
            return closing ?? self.loop.makeSucceededVoidFuture()
        }.wait()
        keyQueue.sync {}  // the last store of the key state (and the history before it) is done
        try? ownedGroup?.syncShutdownGracefully()
        store.flush()  // pins from the last second are not left behind
    }

    /// Runs on the network thread unless the client was shut down (then nothing happens).
    private func onLoop(_ work: @escaping () -> Void) {
        guard !idLock.withLock({ isShutDown }) else { return }
        loop.execute(work)
    }

    private func onLoop<T>(_ work: @escaping () -> T) -> T? {
        guard !idLock.withLock({ isShutDown }) else { return nil }
        return try? loop.submit(work).wait()
    }

    /// Messages not yet acknowledged by the server (for tests and the UI's pending marks).
    public func pendingCount() -> Int {
        onLoop { self.core.pendingCount } ?? 0
    }

    /// Messages typed and not yet acknowledged, oldest first, and whether the client is
    /// online (so they may still be acknowledged in a moment).
    public func unsentMessages() -> (online: Bool, messages: [UnsentMessage]) {
        onLoop { (self.core.state == .online, self.core.unsent) } ?? (false, [])
    }

    /// Tests only: the current end-to-end session (to prove what its keys can and cannot open).
    func endToEndSessionForTesting() -> EndToEndSession? {
        onLoop { self.core.endToEndSession } ?? nil
    }

    /// Tests only: runs work on the network thread, where the session lives.
    func onNetworkThreadForTesting<T>(_ work: @escaping () -> T) async throws -> T {
        try await loop.submit(work).get()
    }

    /// This device's identity fingerprint (no waiting: it is fixed).
    public var fingerprint: String { identity.fingerprint }

    /// Your fingerprint (nil), or a member's with the safety number you share: answered by
    /// an `.identity` event, or a `.notOnline` notice. Never waits.
    public func showIdentity(of name: String? = nil) {
        onLoop { self.run(.showIdentity(name)) }
    }

    /// Marks a member's current identity key as verified (after comparing safety numbers);
    /// this also accepts a changed key. Answered by a notice (`.verified`, `.notOnline`).
    /// Never waits: the file write happens on the network thread.
    public func verify(_ name: String) {
        onLoop { self.run(.verify(name)) }
    }

    /// Leaves the server for good (`/leave NAME`): only with the person's own name, typed
    /// to confirm; answered by a notice (`youLeft`, or how to confirm).
    public func leave(confirming name: String?) {
        onLoop { self.run(.leave(confirming: name)) }
    }

    /// Tests only (it waits for the network thread): what `showIdentity` would answer.
    func identityInfo(of name: String? = nil) -> (fingerprint: String, safetyNumber: String?)? {
        guard let name else { return (identity.fingerprint, nil) }
        return onLoop { () -> (String, String?)? in
            defer { self.drain() }
            return self.core.identityInfo(of: name, now: Date())
        } ?? nil
    }

    // MARK: Inputs and effects (on loop)

    private func run(_ input: ClientCore.Input) {
        core.handle(input, now: Date())
        drain()
    }

    /// Carries out the core's effects in order. An effect can feed an input back (a write
    /// that flushes reports writability): its effects queue behind the rest.
    private func drain() {
        guard !draining else { return }
        draining = true
        defer { draining = false }
        while let effect = core.nextEffect() { perform(effect) }
    }

    private func perform(_ effect: ClientCore.Effect) {
        switch effect {
        case .open(let number, let host, let port):
            open(number, host: host, port: port)
        case .sendLogin(let number, let payload):
            guard let current = channel, current.number == number else { return }
            current.channel.writeAndFlush(NoiseOutbound.handshakePayload(payload), promise: nil)
        case .write(let number, let record):
            guard let current = channel, current.number == number else { return }
            current.channel.write(NoiseOutbound.record(record), promise: nil)
        case .flush(let number):
            guard let current = channel, current.number == number else { return }
            current.channel.flush()
        case .close(let number):
            guard let current = channel, current.number == number else { return }
            current.channel.close(promise: nil)
        case .abort(let number, let failure):
            guard let current = channel, current.number == number else { return }
            current.handler.fail(current.channel, failure)
        case .schedule(let timer, let delay):
            timers.removeValue(forKey: timer)?.cancel()
            if delay <= 0, timer == .pump || timer == .membership {
                // Turns of the loop, not timers: each re-checks the phase when it runs.
                loop.execute { self.run(.timer(timer)) }
            } else {
                timers[timer] = loop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
                    self?.timers[timer] = nil
                    self?.run(.timer(timer))
                }
            }
        case .cancel(let timer):
            timers.removeValue(forKey: timer)?.cancel()
        case .loadKeyState(let number, let server):
            let store = keyStore, keys = identity.keys, policy = prekeyPolicy
            keyQueue.async {
                let result = Result { try store.load(server: server, identity: keys, policy: policy, now: Date()) }
                self.loop.execute {
                    switch result {
                    case .success(let state): self.run(.keyState(connection: number, state))
                    case .failure(let error): self.run(.keyStateFailed(connection: number, "\(error)"))
                    }
                }
            }
        case .storeKeyState(let number, let server, let changes, let stream, let position):
            let store = keyStore, before = beforeStore, logger = self.logger
            keyQueue.async {
                before?()
                do {
                    try store.save(server: server, changes, stream: stream, through: position)
                    self.loop.execute { self.run(.stored(connection: number, position: position)) }
                } catch {
                    logger.error("could not store the end-to-end state", metadata: ["error": "\(error)"])
                    self.loop.execute { self.run(.storeFailed(connection: number, "\(error)")) }
                }
            }
        case .rewindStream(let server, let stream, let position):
            let store = keyStore, logger = self.logger
            keyQueue.async {
                do { try store.rewindStream(server: server, stream: stream, to: position) } catch {
                    logger.error("could not store that the server's log went back", metadata: ["error": "\(error)"])
                }
            }
        case .rotatePrekeys(let number, let server):
            let store = keyStore, keys = identity.keys, policy = prekeyPolicy
            keyQueue.async {
                let result = Result { try store.load(server: server, identity: keys, policy: policy, now: Date()).prekeys }
                self.loop.execute {
                    switch result {
                    case .success(let prekeys): self.run(.prekeysRotated(connection: number, prekeys))
                    case .failure(let error): self.run(.prekeysNotRotated(connection: number, "\(error)"))
                    }
                }
            }
        case .event(let event):
            onEvent(event)
        }
    }

    private func open(_ number: Int, host: String, port: Int) {
        let handshake: HandshakeState
        do {
            handshake = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity.noiseStatic)
        } catch {
            return run(.closed(connection: number, .protocolError("\(error)")))
        }
        let keepalive = self.keepalive
        let handler = ClientSessionHandler(client: self, connection: number)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(Int64(connectTimeout * 1000)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let noise = NoiseChannelHandler(handshake: handshake)
                    handler.noise = noise
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .milliseconds(Int64(keepalive.dead * 1000)),
                                         writeTimeout: .milliseconds(Int64(keepalive.ping * 1000))),
                        ByteToMessageHandler(FrameDecoder()),
                        noise,
                        handler,
                    ])
                }
            }
        // An address typed as digits needs no resolver: NIO's getaddrinfo runs on a dispatch
        // queue and Happy Eyeballs waits on it, a thread hop each way before the SYN.
        let connected = if let address = try? SocketAddress(ipAddress: host, port: port) {
            bootstrap.connect(to: address)
        } else {
            bootstrap.connect(host: host, port: port)
        }
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                // Given up on meanwhile (a disconnect, a newer attempt): closed unused.
                guard self.core.currentConnection == number else { return channel.close(promise: nil) }
                self.channel = (number, channel, handler)
                self.run(.connected(connection: number))
            case .failure(let error):
                self.run(.unreachable(connection: number, reason: Self.describe(error)))
            }
        }
    }

    private static func describe(_ error: Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case EHOSTUNREACH: return "host unreachable"
            case ENETUNREACH: return "network unreachable"
            default: return String(cString: strerror(io.errnoCode))
            }
        }
        if case ChannelError.connectTimeout = error { return "timed out" }
        if error is NIOConnectionError || "\(error)".contains("connectionRefused") { return "connection refused" }
        return "\(error)"
    }

    // MARK: Called by the session handler (on loop)

    func hello(_ hello: ServerHello, serverStatic: [UInt8], handshakeHash: [UInt8], connection: Int) {
        run(.hello(connection: connection, hello, serverStatic: serverStatic, handshakeHash: handshakeHash))
    }

    func received(_ record: ServerRecord, connection: Int) {
        run(.record(connection: connection, record))
    }

    func writabilityChanged(_ writable: Bool, connection: Int) {
        run(.writable(connection: connection, writable))
    }

    func closed(_ failure: ClientFailure?, connection: Int) {
        if channel?.number == connection { channel = nil }
        run(.closed(connection: connection, failure))
    }
}
