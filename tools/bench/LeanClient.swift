import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoCore
import SottoTransport

/// A member reduced to what the server sees: the real Noise handshake, a real login with a
/// real identity bundle, a ping every 20 s, and every record it is sent read, decrypted and
/// counted, but no member list, no end-to-end layer. Ten thousand full clients in one
/// process would each keep a list of ten thousand (10^8 entries); these keep a count, so
/// `idle --clients lean` can measure the server at that size on one machine.
/// (It does not pin the server key: the benchmark spawned that server itself.)
final class LeanClient: @unchecked Sendable {
    let name: String
    private let lock = NIOLock()
    private var _online = false
    private var _members = 0
    private var _failure: String?
    private var channel: Channel?

    var isOnline: Bool { lock.withLock { _online } }
    /// Members this client knows are online (list plus joins minus departures).
    var members: Int { lock.withLock { _members } }
    var failure: String? { lock.withLock { _failure } }

    // Fan-out: what it sent and what reached it, stamped on its network thread.
    private var _inFlight = 0
    private var _arrivals: [(id: UInt64, at: UInt64)] = []
    /// Called on the network thread after each acknowledgement (set before sending starts).
    var onAcknowledged: (() -> Void)?
    var inFlight: Int { lock.withLock { _inFlight } }
    var receivedCount: Int { lock.withLock { _arrivals.count } }
    var arrivals: [(id: UInt64, at: UInt64)] { lock.withLock { _arrivals } }

    private let nameBytes: [UInt8]

    init(name: String) {
        self.name = name
        nameBytes = Array(name.utf8)
    }

    /// `login` builds message 3 from the server hello and this client's identity.
    func connect(host: String, port: Int, group: EventLoopGroup,
                 login: @escaping @Sendable (ServerHello, [UInt8], IdentityKeys) throws -> LoginRequest) {
        let handshake: HandshakeState
        let keys: IdentityKeys
        do {
            keys = try IdentityKeys()
            handshake = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: keys.noiseStatic)
        } catch {
            return fail("\(error)")
        }
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let noise = NoiseChannelHandler(handshake: handshake)
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(FrameDecoder()),
                        noise,
                        LeanSessionHandler(client: self, noise: noise, login: { hello, hash in try login(hello, hash, keys) }),
                    ])
                }
            }
        // As ChatClient does: a literal address skips the resolver.
        let connected = if let address = try? SocketAddress(ipAddress: host, port: port) {
            bootstrap.connect(to: address)
        } else {
            bootstrap.connect(host: host, port: port)
        }
        connected.whenComplete { result in
            switch result {
            case .success(let channel): self.lock.withLock { self.channel = channel }
            case .failure(let error): self.fail("connect: \(error)")
            }
        }
    }

    func close() {
        lock.withLock { channel }?.close(promise: nil)
    }

    /// Sends a room message whose body is opaque bytes (the server never opens one: these
    /// have the size of a real sealed envelope).
    func send(id: UInt64, body: [UInt8]) {
        let channel = lock.withLock { _inFlight += 1; return self.channel }
        channel?.writeAndFlush(NoiseOutbound.record(ClientRecord.send(SendRequest(clientMessageID: id, body: body)).encoded()), promise: nil)
    }

    fileprivate func fail(_ reason: String) {
        lock.withLock { if _failure == nil { _failure = reason } }
    }

    fileprivate func received(_ record: [UInt8]) {
        guard let type = record.first else { return }
        switch type {
        case 0x81:
            lock.withLock { _online = true }
        case 0x83, 0x84:
            guard let decoded = try? ServerRecord(decoding: record) else { return fail("undecodable record") }
            lock.withLock {
                switch decoded {
                case .users(let users, _): _members += users.count
                case .presence(let p): _members += p.event == .joined ? 1 : -1
                default: break
                }
            }
        case 0x85:
            // A relayed message: only the sender and the client message id (what a receiver
            // needs to time it), read in place: kind, sequence, time, sender, recipient, id.
            let at = nowNanos()
            func u16(_ i: Int) -> Int { Int(record[i]) << 8 | Int(record[i + 1]) }
            let senderAt = 1 + 8 + 8
            guard record.count >= senderAt + 2 else { return fail("undecodable message") }
            let senderLength = u16(senderAt), recipientAt = senderAt + 2 + senderLength
            guard record.count >= recipientAt + 2 else { return fail("undecodable message") }
            let idAt = recipientAt + 2 + u16(recipientAt)
            guard record.count >= idAt + 8 else { return fail("undecodable message") }
            if record[(senderAt + 2)..<recipientAt].elementsEqual(nameBytes) { return }  // our own, returned in order
            let id = record[idAt..<(idAt + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            lock.withLock { _arrivals.append((id, at)) }
        case 0x86:
            lock.withLock { _inFlight -= 1 }
            onAcknowledged?()
        case 0x82:
            if case .error(let e)? = try? ServerRecord(decoding: record) { fail("server: \(e.text)") }
        default:
            break
        }
    }
}

private final class LeanSessionHandler: ChannelInboundHandler {
    typealias InboundIn = NoiseInbound
    typealias OutboundOut = NoiseOutbound

    private let client: LeanClient
    private let login: @Sendable (ServerHello, [UInt8]) throws -> LoginRequest
    private let noise: NoiseChannelHandler
    private var pinger: RepeatedTask?

    init(client: LeanClient, noise: NoiseChannelHandler, login: @escaping @Sendable (ServerHello, [UInt8]) throws -> LoginRequest) {
        self.noise = noise
        self.client = client
        self.login = login
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(.handshakePayload([])), promise: nil)
        // The server closes connections silent for 90 s; a join of thousands takes longer.
        let channel = context.channel
        pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(20), delay: .seconds(20)) { _ in
            channel.writeAndFlush(NoiseOutbound.record(ClientRecord.ping(1).encoded()), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .handshakePayload(let payload, _):
            do {
                let request = try login(try ServerHello(decoding: payload), noise.hashBeforeFinalMessage ?? [])
                context.writeAndFlush(wrapOutboundOut(.handshakePayload(request.encoded())), promise: nil)
            } catch {
                client.fail("login: \(error)")
                context.close(promise: nil)
            }
        case .record(let record):
            client.received(record)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pinger?.cancel()
        client.fail("connection closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        client.fail("\(error)")
        context.close(promise: nil)
    }
}

/// Lean members in one room, joined in waves.
final class LeanRoom {
    let server: ServerUnderTest
    let group: EventLoopGroup
    private(set) var clients: [LeanClient] = []
    private let passwordKey = NIOLockedValueBox<[UInt8]?>(nil)

    init(server: ServerUnderTest, threads: Int) {
        self.server = server
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// A login with the client's real identity bundle (the server checks each one).
    private func loginMaker(_ name: String) -> @Sendable (ServerHello, [UInt8], IdentityKeys) throws -> LoginRequest {
        let password = server.password, cache = passwordKey
        return { hello, handshakeHash, keys in
            let key = try cache.withLockedValue { cached in
                if let cached { return cached }
                let derived = try PasswordKey.derive(password: password, salt: hello.passwordSalt, parameters: hello.scrypt)
                cached = derived
                return derived
            }
            return LoginRequest(username: name, proof: PasswordKey.proof(key: key, handshakeHash: handshakeHash), identity: keys.encodedBundle,
                                sessionNonce: (0..<WireLimits.sessionNonceLength).map { _ in UInt8.random(in: 0...255) })
        }
    }

    func join(_ n: Int, prefix: String = "lean", wave: Int = 100) throws {
        var i = 0
        while i < n {
            let batch = (i..<min(n, i + wave)).map { LeanClient(name: "\(prefix)\($0)") }
            for c in batch { c.connect(host: server.host, port: server.port, group: group, login: loginMaker(c.name)) }
            try waitUntil("wave from \(i) online", timeout: 300) { batch.allSatisfy { $0.isOnline || $0.failure != nil } }
            if let bad = batch.first(where: { $0.failure != nil }) { throw BenchError("\(bad.name): \(bad.failure!)") }
            clients += batch
            i += batch.count
        }
    }

    /// Waits until every member has heard of every other.
    func settle(timeout: Double) throws {
        let size = clients.count
        let deadline = Date().addingTimeInterval(timeout)
        // Checked ten times a second: a scan of ten thousand clients is not free.
        while !clients.allSatisfy({ $0.members >= size }) {
            if let bad = clients.first(where: { $0.failure != nil }) { throw BenchError("\(bad.name): \(bad.failure!)") }
            guard Date() < deadline else { throw BenchError("timed out waiting for the room of \(size) to settle") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    func close() {
        for c in clients { c.close() }
        Thread.sleep(forTimeInterval: 0.5)
        try? group.syncShutdownGracefully()
    }
}
