import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoCore
import SottoTransport

/// A Sotto client connection on its own network thread. Every public method may be called
/// from any thread; events arrive on the network thread through `onEvent`.
///
/// Messages handed to `send` go into an outbox with a client message id and leave it only
/// when the server acknowledges them, so a message typed while the connection is down is
/// sent once it is back, and a resend of one the server already relayed is not repeated.
public final class ChatClient: @unchecked Sendable {
    private struct Pending {
        let id: UInt64
        let to: String
        let body: [UInt8]
    }

    private let group: MultiThreadedEventLoopGroup
    private let loop: EventLoop
    private let identity: ClientIdentity
    private let knownServers: KnownServers
    private let onEvent: @Sendable (ClientEvent) -> Void
    private var logger: Logger

    // Confined to `loop`.
    private var configuration: ClientConfiguration
    private var channel: Channel?
    private var generation = 0
    private var state = ConnectionState.disconnected
    private var wantsConnection = false
    private var hasBeenOnline = false
    private var reconnectAttempt = 0
    private var reconnectTask: Scheduled<Void>?
    private var outbox: [Pending] = []
    /// How many outbox entries (from the front) were written on the current connection.
    private var transmitted = 0
    private var pumping = false
    private var users: [String: OnlineUser] = [:]
    private var userListParts: [OnlineUser] = []
    private var passwordKeyCache: (salt: [UInt8], scrypt: ScryptParameters, key: [UInt8])?
    private var serverFingerprint = ""

    private let idLock = NIOLock()
    /// Client message ids: a random epoch per client instance in the upper 32 bits and a
    /// counter below, so the server can drop resends by remembering one number per epoch.
    private var nextID = UInt64(UInt32.random(in: 1...UInt32.max)) << 32

    public init(configuration: ClientConfiguration, identity: ClientIdentity, knownServers: KnownServers,
                logger: Logger = Logger(label: "sotto.client"), onEvent: @escaping @Sendable (ClientEvent) -> Void) {
        self.configuration = configuration
        self.identity = identity
        self.knownServers = knownServers
        self.logger = logger
        self.onEvent = onEvent
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        loop = group.next()
    }

    // MARK: Commands (any thread)

    public func connect() {
        loop.execute {
            self.wantsConnection = true
            self.reconnectAttempt = 0
            self.openConnection()
        }
    }

    /// Accepts the given server fingerprint for this connection (a person compared it), then connects.
    public func trustServer(fingerprint: String) {
        loop.execute {
            self.configuration.trust.vouched = fingerprint
            self.wantsConnection = true
            self.openConnection()
        }
    }

    /// Queues a message and returns its id; it is sent now if online, else once back online.
    @discardableResult
    public func send(_ text: String, to recipient: String = "") -> UInt64 {
        let id = idLock.withLock { () -> UInt64 in
            nextID &+= 1
            return nextID
        }
        loop.execute {
            let pending = Pending(id: id, to: recipient, body: Array(text.utf8))
            self.outbox.append(pending)
            self.onEvent(.queued(id: id, to: recipient, text: text))
            if self.state == .online { self.pumpOutbox() }
        }
        return id
    }

    public func disconnect() {
        loop.execute { _ = self.closeConnection() }
    }

    /// Says goodbye (when online) and closes; the future completes once the socket is closed.
    private func closeConnection() -> EventLoopFuture<Void> {
        wantsConnection = false
        reconnectTask?.cancel()
        reconnectTask = nil
        guard let channel else {
            setState(.disconnected)
            return loop.makeSucceededVoidFuture()
        }
        if state == .online {
            channel.writeAndFlush(NoiseOutbound.record(ClientRecord.bye.encoded()), promise: nil)
        }
        channel.close(promise: nil)
        return channel.closeFuture
    }

    /// Disconnects and stops the network thread. The client cannot be used afterwards.
    public func shutdown() {
        _ = try? loop.flatSubmit { self.closeConnection() }.wait()
        try? group.syncShutdownGracefully()
    }

    /// Messages not yet acknowledged by the server (for tests and the UI's pending marks).
    public func pendingCount() -> Int {
        (try? loop.submit { self.outbox.count }.wait()) ?? 0
    }

    // MARK: Connection lifecycle (on loop)

    private func setState(_ new: ConnectionState) {
        guard new != state else { return }
        state = new
        onEvent(.state(new))
    }

    private func openConnection() {
        guard wantsConnection, channel == nil else { return }
        reconnectTask?.cancel()
        reconnectTask = nil
        generation += 1
        let generation = self.generation
        let configuration = self.configuration
        let handshake: HandshakeState
        do {
            handshake = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity.noiseStatic)
        } catch {
            return finish(.protocolError("\(error)"), generation: generation)
        }
        setState(.connecting)
        ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(Int64(configuration.connectTimeout * 1000)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .milliseconds(Int64(configuration.deadAfter * 1000)),
                                         writeTimeout: .milliseconds(Int64(configuration.pingInterval * 1000))),
                        ByteToMessageHandler(FrameDecoder()),
                        NoiseChannelHandler(handshake: handshake),
                        ClientSessionHandler(client: self, generation: generation),
                    ])
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard generation == self.generation, self.wantsConnection else {
                        channel.close(promise: nil)
                        return
                    }
                    self.channel = channel
                    self.setState(.loggingIn)
                case .failure(let error):
                    guard generation == self.generation else { return }
                    self.finish(.unreachable(host: configuration.host, port: configuration.port, reason: Self.describe(error)), generation: generation)
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

    /// The end of one connection attempt or session: reconnect, or report and stop.
    private func finish(_ failure: ClientFailure?, generation: Int) {
        guard generation == self.generation else { return }
        channel = nil
        let wasOnline = state == .online
        if !wantsConnection {
            setState(.disconnected)
            return
        }
        let failure = failure ?? (wasOnline ? .connectionLost : .closedDuringLogin)
        if wasOnline, !users.isEmpty {
            users = [:]
            onEvent(.users([]))
        }
        if hasBeenOnline, configuration.reconnect, failure.isTransient {
            reconnectAttempt += 1
            let delay = configuration.backoff(attempt: reconnectAttempt)
            if wasOnline { onEvent(.system(failure.description + " Reconnecting…")) }
            setState(.reconnecting(attempt: reconnectAttempt, delay: delay))
            reconnectTask = loop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
                self?.reconnectTask = nil
                self?.openConnection()
            }
        } else {
            wantsConnection = false
            setState(.failed(failure))
        }
    }

    // MARK: Called by the session handler (on loop)

    func sessionEnded(_ failure: ClientFailure?, generation: Int) {
        finish(failure, generation: generation)
    }

    /// Message 2 arrived: check the server key, then build the login for message 3.
    func loginRequest(for hello: ServerHello, serverStatic: [UInt8]) throws -> LoginRequest {
        let fingerprint = Fingerprint.of(publicKey: serverStatic)
        let host = configuration.host, port = configuration.port
        switch configuration.trust.decide(pinned: knownServers.fingerprint(host: host, port: port), actual: fingerprint) {
        case .trusted(let pinNow):
            if pinNow {
                do { try knownServers.pin(host: host, port: port, fingerprint: fingerprint) } catch {
                    logger.warning("could not save known server", metadata: ["error": "\(error)"])
                }
            }
        case .changed(let expected, let actual):
            throw ClientFailure.serverKeyChanged(host: host, port: port, expected: expected, actual: actual)
        case .notVouched(let expected, let actual):
            throw ClientFailure.serverKeyNotVouched(expected: expected, actual: actual)
        case .unknown(let actual):
            throw ClientFailure.serverKeyUnknown(host: host, port: port, fingerprint: actual)
        }
        serverFingerprint = fingerprint
        guard hello.scrypt.isAcceptable else { throw ClientFailure.protocolError("unacceptable password hashing parameters") }
        let key: [UInt8]
        if let cached = passwordKeyCache, cached.salt == hello.passwordSalt, cached.scrypt == hello.scrypt {
            key = cached.key
        } else {
            key = try PasswordKey.derive(password: configuration.password, salt: hello.passwordSalt, parameters: hello.scrypt)
            passwordKeyCache = (hello.passwordSalt, hello.scrypt, key)
        }
        return LoginRequest(username: configuration.username, passwordKey: key)
    }

    func received(_ record: ServerRecord) {
        switch record {
        case .welcome(let name, _):
            hasBeenOnline = true
            reconnectAttempt = 0
            configuration.username = name
            setState(.online)
            onEvent(.welcome(name: name, serverFingerprint: serverFingerprint))
            transmitted = 0
            pumpOutbox()
        case .users(let part, let final):
            userListParts += part
            if final {
                users = Dictionary(userListParts.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                userListParts = []
                publishUsers()
            }
        case .presence(let presence):
            switch presence.event {
            case .joined:
                let previous = users[presence.user.name]
                users[presence.user.name] = presence.user
                if previous == presence.user { return }
                if previous == nil, presence.user.name != configuration.username { onEvent(.system("\(presence.user.name) joined")) }
            case .left:
                users[presence.user.name] = nil
                onEvent(.system("\(presence.user.name) left"))
            }
            publishUsers()
        case .message(let m):
            let text = String(validating: m.body, as: UTF8.self) ?? "(a message that is not valid text)"
            onEvent(.message(ReceivedMessage(
                sequence: m.sequence, time: Date(timeIntervalSince1970: Double(m.time) / 1000), from: m.from, to: m.to,
                text: text, isOwn: m.from == configuration.username, clientMessageID: m.clientMessageID)))
        case .ack(let id, let sequence):
            guard let index = outbox.firstIndex(where: { $0.id == id }) else { return }
            outbox.remove(at: index)
            if index < transmitted { transmitted -= 1 }
            onEvent(sequence == 0 ? .rejected(id: id) : .delivered(id: id))
        case .error(let error):
            onEvent(.error(error.text))
        case .pong:
            break
        }
    }

    private func publishUsers() {
        onEvent(.users(users.values.sorted { $0.name.lowercased() < $1.name.lowercased() }
            .map { Member(name: $0.name, fingerprint: Fingerprint.of(publicKey: $0.staticKey)) }))
    }

    /// Writes unsent outbox entries while the socket keeps up; the rest wait for
    /// `channelWritable`, so a long outbox never piles up in memory below the outbox.
    /// Each turn writes one slice and yields, so replies keep being read meanwhile.
    /// Not re-entrant: a write can flush, and a flush can report writability, which calls
    /// back here; that inner call is refused and the scheduled next turn carries on.
    func pumpOutbox() {
        guard !pumping, let channel, state == .online, transmitted < outbox.count, channel.isWritable else { return }
        pumping = true
        defer { pumping = false }
        var sliceBytes = 0
        while transmitted < outbox.count, sliceBytes < 64 * 1024 {
            let m = outbox[transmitted]
            transmitted += 1
            let record = ClientRecord.send(SendRequest(clientMessageID: m.id, to: m.to, body: m.body)).encoded()
            sliceBytes += record.count
            channel.write(NoiseOutbound.record(record), promise: nil)
        }
        channel.flush()
        if transmitted < outbox.count { loop.execute { self.pumpOutbox() } }
    }
}
