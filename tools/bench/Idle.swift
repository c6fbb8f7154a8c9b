import ArgumentParser
import Foundation

/// N logged-in members that say nothing: the server's resident memory per connection.
struct Idle: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N logged-in idle clients: the server's RSS per connection.")
    @OptionGroup var common: Common
    @Option(help: "Clients.") var n = 1000
    @Option(help: "Clients connecting at once.") var wave = 50
    @Option(help: "Seconds to keep the clients connected after measuring (to inspect the server meanwhile).") var hold = 0.0
    @Option(help: "full: real ChatClients; lean: handshake, login and counting only (for 10,000).") var clients = ClientKind.full

    enum ClientKind: String, ExpressibleByArgument { case full, lean }

    func run() throws {
        raiseFileLimit()
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: .transport)
        let lean = LeanRoom(server: server, threads: common.threads)
        try room.join(1, prefix: "warmup")
        Thread.sleep(forTimeInterval: 0.5)
        let before = server.rssKiB ?? 0
        let t0 = nowNanos()
        switch clients {
        case .full:
            try room.join(n, wave: wave)
        case .lean:
            try lean.join(n, wave: wave)
            try lean.settle(timeout: 3_600)
        }
        let joinSeconds = Double(nowNanos() - t0) / 1e9
        Thread.sleep(forTimeInterval: 5)  // the server trims freed heap once joins settle
        let after = server.rssKiB ?? 0
        let perConnection = (after - before) / Double(n)
        print(String(format: "idle: %d %@ clients joined in %.1f s; server RSS %.0f → %.0f KiB; %.1f KiB per connection",
                     n, clients.rawValue, joinSeconds, before, after, perConnection))
        try common.write(["mode": "idle", "n": n, "clients": clients.rawValue, "join_seconds": joinSeconds, "rss_before_kib": before, "rss_after_kib": after,
                          "kib_per_connection": perConnection])
        if hold > 0 { Thread.sleep(forTimeInterval: hold) }
        lean.close()
        room.close()
        print(String(format: "summary: idle n=%d clients=\(clients.rawValue) kib/connection=%.1f join=%.1fs", n, perConnection, joinSeconds))
    }
}
