import Foundation
import NIOCore
import NIOPosix
import SottoClient

/// The clients of one run, in one room. One password-key cache and one known-servers file
/// for all: scrypt runs once, the server key is pinned once.
final class BenchRoom {
    let server: ServerUnderTest
    let group: EventLoopGroup
    let receivers: ReceiverMode
    private let keys = PasswordKeyCache()
    private let known: KnownServers
    /// One pin store for every simulated person: they all see the same identities, and a
    /// thousand clients each rewriting a thousand pins would measure JSON, not Sotto.
    private let peers: PeerKeys
    private let directory: URL
    private(set) var clients: [BenchClient] = []
    /// Clients reconnect after a lost connection (a server killed and restarted).
    let reconnect: Bool

    init(server: ServerUnderTest, threads: Int, receivers: ReceiverMode, reconnect: Bool = false) throws {
        self.server = server
        self.receivers = receivers
        self.reconnect = reconnect
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-bench-clients-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        known = KnownServers(url: directory.appendingPathComponent("known_servers"))
        peers = PeerKeys(url: directory.appendingPathComponent("peers.json"))
    }

    /// `group`: another network thread for this client (default: the room's).
    func makeClient(_ name: String, receivers: ReceiverMode? = nil, group: EventLoopGroup? = nil) throws -> BenchClient {
        try BenchClient(name: name, server: server, group: group ?? self.group, keys: keys, known: known, peers: peers,
                        receivers: receivers ?? self.receivers, reconnect: reconnect)
    }

    /// Connects `n` more clients one after another, letting the room settle after each, so
    /// each measured connect is not queued behind the generator's own work for the previous
    /// join. Returns each one's connect time in ms.
    @discardableResult
    func add(_ n: Int, prefix: String = "bench") throws -> [Double] {
        var timings: [Double] = []
        for i in 0..<n {
            let c = try makeClient("\(prefix)\(i)")
            let t0 = nowNanos()
            c.client.connect()
            try waitUntil("client \(i) online", timeout: 30) { c.isOnline || c.failed != nil }
            if let f = c.failed { throw BenchError("client \(i): \(f)") }
            timings.append(Double((c.onlineAt ?? nowNanos()) - t0) / 1e6)
            clients.append(c)
            try settle()
        }
        return timings
    }

    /// Connects `n` more clients in waves of `wave` at once (the way people arrive at a
    /// meeting), waiting for each wave to be online; then waits until everyone sees everyone.
    func join(_ n: Int, prefix: String = "member", wave: Int = 50) throws {
        var i = 0
        while i < n {
            let batch = try (i..<min(n, i + wave)).map { try makeClient("\(prefix)\($0)") }
            for c in batch { c.client.connect() }
            try waitUntil("wave from \(i) online", timeout: 120) { batch.allSatisfy { $0.isOnline || $0.failed != nil } }
            if let bad = batch.first(where: { $0.failed != nil }) { throw BenchError("\(bad.name): \(bad.failed!)") }
            clients += batch
            i += batch.count
        }
        try settle(timeout: 600)
    }

    /// Takes a client connected by hand into the room.
    func adopt(_ client: BenchClient) { clients.append(client) }

    /// Waits until every client sees the whole room and the generator's loops are idle.
    func settle(timeout: Double = 60) throws {
        let size = clients.count
        try waitUntil("room of \(size) settles", timeout: timeout) { clients.allSatisfy { $0.members >= size } }
        for loop in group.makeIterator() { try loop.submit {}.wait() }
    }

    func close() {
        for c in clients { c.client.disconnect() }
        Thread.sleep(forTimeInterval: 0.2)
        try? group.syncShutdownGracefully()
        try? FileManager.default.removeItem(at: directory)
    }
}
