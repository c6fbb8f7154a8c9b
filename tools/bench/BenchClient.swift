import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SottoClient
import SottoCore

/// How a benchmark member receives.
enum ReceiverMode: String, ExpressibleByArgument, CaseIterable {
    /// Opens every message as a person's client does (AEAD open and an Ed25519 verification).
    case full
    /// Counts and timestamps each relayed message without opening it: the load generator
    /// stays cheap enough to saturate the server, which is what is being measured.
    case transport
}

/// When each message (by client message id) was handed to `send`, across all clients.
final class SendLog: @unchecked Sendable {
    private let lock = NIOLock()
    private var times: [UInt64: UInt64] = [:]

    func send(_ text: String, from client: BenchClient, to recipient: String = "") {
        let t = nowNanos()
        client.noteSent()
        let id = client.client.send(text, to: recipient)
        lock.withLock { times[id] = t }
    }

    func record(_ id: UInt64, at time: UInt64) { lock.withLock { times[id] = time } }
    var count: Int { lock.withLock { times.count } }
    func time(of id: UInt64) -> UInt64? { lock.withLock { times[id] } }
    var all: [UInt64: UInt64] { lock.withLock { times } }
}

/// One delivery as a member saw it.
struct Arrival {
    let from: String
    let id: UInt64
    let at: UInt64
}

/// A benchmark member: a real ChatClient (handshake, login, end-to-end sealing) on a shared
/// loop group, recording what arrives.
final class BenchClient: @unchecked Sendable {
    let name: String
    let client: ChatClient
    private let lock = NIOLock()
    private var online = false
    private var memberCount = 0
    private var failure: ClientFailure?
    private var state = ConnectionState.disconnected
    private var arrivals: [Arrival] = []
    private var rejected = 0
    private var sent = 0
    private var acknowledged = 0
    private var membersChangedAt: UInt64 = 0
    private var onlineAtNanos: UInt64?
    /// Called on the network thread after each acknowledgement (set before sending starts).
    var onAcknowledged: (() -> Void)?

    init(name: String, server: ServerUnderTest, group: EventLoopGroup, keys: PasswordKeyCache, known: KnownServers,
         peers: PeerKeys, receivers: ReceiverMode, reconnect: Bool = false) throws {
        self.name = name
        var configuration = ClientConfiguration(host: server.host, port: server.port, username: name, password: server.password,
                                                trust: TrustPolicy(vouched: server.fingerprint, trustOnFirstUse: server.fingerprint == nil),
                                                reconnect: reconnect)
        configuration.sharedPasswordKeys = keys
        let box = Box()
        if receivers == .transport {
            configuration.relayedMessageTap = { message in
                box.tap?(message)
                return false
            }
        }
        client = ChatClient(configuration: configuration, identity: try ClientIdentity.generate(),
                            knownServers: known,
                            peerKeys: peers,
                            group: group, onEvent: { box.sink?($0) })
        box.sink = { [weak self] in self?.handle($0) }
        box.tap = { [weak self] m in self?.arrived(from: m.from, id: m.clientMessageID) }
    }

    private final class Box: @unchecked Sendable {
        var sink: ((ClientEvent) -> Void)?
        var tap: ((ChatMessage) -> Void)?
    }

    /// Forgets that it was online, so that a reconnect is timed afresh.
    func forgetOnline() { lock.withLock { online = false; onlineAtNanos = nil } }

    private func arrived(from: String, id: UInt64) {
        let now = nowNanos()
        lock.withLock { arrivals.append(Arrival(from: from, id: id, at: now)) }
    }

    private func handle(_ event: ClientEvent) {
        switch event {
        case .state(let s):
            lock.withLock {
                state = s
                if s == .online {
                    online = true
                    if onlineAtNanos == nil { onlineAtNanos = nowNanos() }
                }
                if case .failed(let f) = s { failure = f }
            }
        case .users(let members):
            let now = nowNanos()
            // Who is online (members away stay listed).
            lock.withLock { memberCount = members.count { $0.online }; membersChangedAt = now }
        case .message(let m) where !m.isOwn:
            arrived(from: m.from, id: m.clientMessageID)
        case .rejected:
            lock.withLock { rejected += 1; acknowledged += 1 }
            onAcknowledged?()
        case .delivered:
            lock.withLock { acknowledged += 1 }
            onAcknowledged?()
        default: break
        }
    }

    func noteSent() { lock.withLock { sent += 1 } }
    /// Messages handed to `send` and not yet acknowledged by the server.
    var inFlight: Int { lock.withLock { sent - acknowledged } }
    var isOnline: Bool { lock.withLock { online } }
    /// When the client first reached `online` (the welcome), stamped on its network thread,
    /// so a connect time is not rounded up to the waiting loop's polling interval.
    var onlineAt: UInt64? { lock.withLock { onlineAtNanos } }
    var connectionState: ConnectionState { lock.withLock { state } }
    var members: Int { lock.withLock { memberCount } }
    var lastMembershipChange: UInt64 { lock.withLock { membersChangedAt } }
    var failed: ClientFailure? { lock.withLock { failure } }
    var receivedCount: Int { lock.withLock { arrivals.count } }
    var rejectedCount: Int { lock.withLock { rejected } }
    var received: [Arrival] { lock.withLock { arrivals } }
}

/// Latencies (ms) of every arrival whose send time is known.
func latencies(of clients: [BenchClient], log: SendLog) -> [Double] {
    let sent = log.all
    return clients.flatMap { c in c.received.compactMap { a in sent[a.id].map { Double(a.at &- $0) / 1e6 } } }
}
