import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SottoClient
import SottoCore

@main
struct SottoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotto-bench",
        abstract: "Measures a Sotto server with real clients (handshake, login, end-to-end encryption).",
        discussion: "Spawns sotto-server on an ephemeral loopback port unless --host is given. The last line of output is a one-line summary.",
        subcommands: [Connect.self, Fanout.self, Idle.self, Baseline.self])
}

struct Common: ParsableArguments {
    @Option(help: "Use this server instead of spawning one.")
    var host: String?
    @Option(help: "Port of --host.")
    var port: Int = 8888
    @Option(help: "Password file for --host (a spawned server gets a random password).")
    var passwordFile: String?
    @Option(help: "Client network threads.")
    var threads = 1
    @Option(help: "Write every figure to this JSON file.")
    var json: String?

    func server() throws -> ServerUnderTest {
        raiseFileLimit()
        if let host {
            guard let file = passwordFile, let pw = PasswordFile.read(file) else { throw BenchError("--host needs --password-file") }
            return ServerUnderTest(host: host, port: port, password: pw)
        }
        return try ServerUnderTest(spawnWithPassword: ServerDataDirectoryPassword.random())
    }

    func write(_ figures: [String: Any]) throws {
        guard let json else { return }
        let data = try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: json))
    }
}

enum ServerDataDirectoryPassword {
    static func random() -> String { (0..<20).map { _ in "abcdefghjkmnpqrstuvwxyz23456789".randomElement()! }.map(String.init).joined() }
}

/// The clients of one run, in one room. One password-key cache and one known-servers file
/// for all: scrypt runs once, the server key is pinned once.
final class BenchRoom {
    let server: ServerUnderTest
    let group: EventLoopGroup
    private let keys = PasswordKeyCache()
    private let known: KnownServers
    private let directory: URL
    private(set) var clients: [BenchClient] = []

    init(server: ServerUnderTest, threads: Int) throws {
        self.server = server
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-bench-clients-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        known = KnownServers(url: directory.appendingPathComponent("known_servers"))
    }

    /// Connects `n` more clients one after another; returns each one's connect time in ms.
    @discardableResult
    func add(_ n: Int, prefix: String = "bench") throws -> [Double] {
        var timings: [Double] = []
        for i in 0..<n {
            let c = try BenchClient(name: "\(prefix)\(i)", server: server, group: group, keys: keys, known: known, directory: directory)
            let t0 = nowNanos()
            c.client.connect()
            try waitUntil("client \(i) online", timeout: 30) { c.isOnline || c.failed != nil }
            if let f = c.failed { throw BenchError("client \(i): \(f)") }
            timings.append(Double(nowNanos() - t0) / 1e6)
            clients.append(c)
            // Let the room settle (list updates, key shares) before the next newcomer, so each
            // measured connect is not queued behind the load generator's own end-to-end work.
            let size = clients.count
            try waitUntil("room of \(size) settles", timeout: 60) { clients.allSatisfy { $0.members >= size } }
            Thread.sleep(forTimeInterval: 0.003 * Double(size))  // their key shares: ~1.5 ms each way per member
            for loop in group.makeIterator() { try loop.submit {}.wait() }
        }
        return timings
    }

    func close() {
        for c in clients { c.client.disconnect() }
        try? group.syncShutdownGracefully()
    }
}

struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "TCP connect → handshake → logged in, per client (p50/p99).")
    @OptionGroup var common: Common
    @Option(help: "Clients.") var n = 100

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads)
        // One warm-up client derives the scrypt key once (a person's client caches it too).
        let warm = try room.add(1, prefix: "warmup")
        let timings = try room.add(n)
        let p = Percentiles(timings)
        print("connect: \(p.text)")
        try common.write(["mode": "connect", "n": n, "connect_ms": ["p50": p.p50, "p99": p.p99, "max": p.max], "first_connect_with_scrypt_ms": warm.first ?? 0])
        room.close()
        print(String(format: "summary: connect n=%d p50=%.2fms p99=%.2fms", n, p.p50, p.p99))
    }
}

struct Fanout: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N members, each sends M messages; deliveries/s, latency, server CPU per delivery.")
    @OptionGroup var common: Common
    @Option(help: "Members.") var n = 50
    @Option(help: "Messages per member.") var m = 20
    @Option(help: "Message size in bytes.") var size = 100
    @Option(help: "Messages per second per member (0: as fast as possible).") var rate = 0.0

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads)
        try room.add(n)
        let clients = room.clients
        try waitUntil("everyone sees everyone", timeout: 60) { clients.allSatisfy { $0.members == n } }
        Thread.sleep(forTimeInterval: 0.5)  // key shares settle
        let expected = n * m * (n - 1)
        let cpu0 = server.cpuSeconds
        let start = nowNanos()
        let padding = String(repeating: "x", count: max(0, size - 21))
        if rate > 0 {
            let interval = 1.0 / rate
            for k in 0..<m {
                let tick = Date()
                for c in clients { c.client.send("\(nowNanos()) \(padding)") }
                _ = k
                let spent = Date().timeIntervalSince(tick)
                if spent < interval { Thread.sleep(forTimeInterval: interval - spent) }
            }
        } else {
            for _ in 0..<m { for c in clients { c.client.send("\(nowNanos()) \(padding)") } }
        }
        try waitUntil("\(expected) deliveries", timeout: 600) { clients.reduce(0) { $0 + $1.receivedCount } >= expected }
        let seconds = Double(nowNanos() - start) / 1e9
        let cpu = (server.cpuSeconds ?? 0) - (cpu0 ?? 0)
        let serverDeliveries = Double(n * m * n)  // the server also echoes each message to its sender
        let latency = Percentiles(clients.flatMap(\.latencySamples))
        let perDelivery = cpu0 == nil ? -1 : cpu / serverDeliveries * 1e6
        print(String(format: "fanout: %d members × %d messages of %d B: %.0f deliveries/s; latency %@; server CPU %.2f µs per delivery",
                     n, m, size, Double(expected) / seconds, latency.text, perDelivery))
        try common.write(["mode": "fanout", "n": n, "m": m, "size": size, "rate": rate, "deliveries": expected,
                          "deliveries_per_second": Double(expected) / seconds,
                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max],
                          "server_cpu_us_per_delivery": perDelivery])
        room.close()
        print(String(format: "summary: fanout n=%d m=%d size=%d rate=%g deliveries/s=%.0f p50=%.2fms p99=%.2fms cpu/delivery=%.2fus",
                     n, m, size, rate, Double(expected) / seconds, latency.p50, latency.p99, perDelivery))
    }
}

struct Idle: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N logged-in idle clients: the server's RSS per connection.")
    @OptionGroup var common: Common
    @Option(help: "Clients.") var n = 500

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads)
        try room.add(1, prefix: "warmup")
        Thread.sleep(forTimeInterval: 0.5)
        let before = server.rssKiB ?? 0
        try room.add(n)
        Thread.sleep(forTimeInterval: 2)
        let after = server.rssKiB ?? 0
        let perConnection = (after - before) / Double(n)
        print(String(format: "idle: %d clients; server RSS %.0f → %.0f KiB; %.1f KiB per connection", n, before, after, perConnection))
        try common.write(["mode": "idle", "n": n, "rss_before_kib": before, "rss_after_kib": after, "kib_per_connection": perConnection])
        room.close()
        print(String(format: "summary: idle n=%d kib/connection=%.1f", n, perConnection))
    }
}
