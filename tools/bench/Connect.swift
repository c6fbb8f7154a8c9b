import ArgumentParser
import Foundation
import NIOPosix

/// Connect → logged in, per client; then how soon a newcomer to a room where everyone has
/// spoken can read everyone and be read by everyone (end-to-end keys in place).
struct Connect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "TCP connect → logged in (p50/p99); then a newcomer's time until it can read and be read.")
    @OptionGroup var common: Common
    @Option(help: "Clients.") var n = 50
    @Option(help: "Newcomers timed end to end after the room is full.") var newcomers = 5
    @Option(help: "Visitors timed after the room is full, each leaving again, so every one joins a room of exactly n.")
    var samples = 100

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: .full)
        // One warm-up client derives the scrypt key once (a person's client caches it too).
        let warm = try room.add(1, prefix: "warmup")
        let timings = try room.add(n)
        let p = Percentiles(timings)
        print("connect while the room fills: \(p.text)")

        // A person's client has its own network thread (and machine): the one being timed does
        // not wait behind the room's clients handling the same join on a shared loop.
        let ownLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? ownLoop.syncShutdownGracefully() }
        // Each visitor comes twice: its first login registers its name (a database write and
        // the bundle's signature checked before the welcome); the second is a member's return,
        // what happens every day.
        var visits: [Double] = [], firstVisits: [Double] = []
        let size = room.clients.count  // the n, and the warm-up client
        for i in 0..<samples {
            let visitor = try room.makeClient("visitor\(i)", group: ownLoop)
            for first in [true, false] {
                visitor.forgetOnline()
                let t0 = nowNanos()
                visitor.client.connect()
                try waitUntil("visitor \(i) online", timeout: 30) { visitor.isOnline || visitor.failed != nil }
                if let f = visitor.failed { throw BenchError("visitor \(i): \(f)") }
                let ms = Double((visitor.onlineAt ?? nowNanos()) - t0) / 1e6
                if first { firstVisits.append(ms) } else { visits.append(ms) }
                visitor.client.disconnect()
                try waitUntil("visitor \(i) gone", timeout: 30) { room.clients.allSatisfy { $0.members == size } }
                try room.settle()
            }
        }
        let v = Percentiles(visits), f = Percentiles(firstVisits)
        if samples > 0 {
            print("connect into a room of \(size), first login (registers the name): \(f.text)")
            print("connect into a room of \(size), a member's return: \(v.text)")
        }

        // Everyone speaks once, so each member has a room chain to hand a newcomer.
        let log = SendLog()
        for c in room.clients { log.send("hello", from: c) }
        let members = room.clients.count
        try waitUntil("everyone read everyone", timeout: 120) { room.clients.allSatisfy { $0.receivedCount >= members - 1 } }

        var canBeRead: [Double] = [], canRead: [Double] = []
        for k in 0..<newcomers {
            let existing = room.clients
            let before = existing.map(\.receivedCount)
            let newcomer = try room.makeClient("newcomer\(k)", group: ownLoop)
            let t0 = nowNanos()
            newcomer.client.connect()
            newcomer.client.send("hi, I am new")  // sealed as soon as the member list is known
            try waitUntil("newcomer online", timeout: 30) { newcomer.isOnline || newcomer.failed != nil }
            if let f = newcomer.failed { throw BenchError("newcomer: \(f)") }
            // Welcomes are sealed once each member knows the newcomer is here (what was sealed
            // before is not theirs to read).
            try waitUntil("members see the newcomer", timeout: 30) { existing.allSatisfy { $0.members == existing.count + 1 } }
            for c in existing { c.client.send("welcome") }
            try waitUntil("newcomer read by all", timeout: 60) { zip(existing, before).allSatisfy { $0.receivedCount > $1 } }
            canBeRead.append(Double(nowNanos() - t0) / 1e6)
            try waitUntil("newcomer reads all", timeout: 60) { newcomer.receivedCount >= existing.count }
            canRead.append(Double(nowNanos() - t0) / 1e6)
            room.adopt(newcomer)
            try room.settle()
            try waitUntil("welcomes read", timeout: 60) {
                zip(existing, before).allSatisfy { $0.receivedCount >= $1 + existing.count }  // the newcomer's line and n-1 welcomes
            }
        }
        let read = Percentiles(canRead), beRead = Percentiles(canBeRead)
        print(String(format: "newcomer in a room of %d: can read everyone after %.1f ms, read by everyone after %.1f ms (medians of %d)",
                     members, read.p50, beRead.p50, newcomers))
        try common.write(["mode": "connect", "n": n, "samples": samples,
                          "connect_ms": ["p50": v.p50, "p99": v.p99, "max": v.max],
                          "first_connect_ms": ["p50": f.p50, "p99": f.p99, "max": f.max],
                          "connect_while_filling_ms": ["p50": p.p50, "p99": p.p99, "max": p.max],
                          "first_connect_with_scrypt_ms": warm.first ?? 0,
                          "newcomer_can_read_ms": ["p50": read.p50, "max": read.max],
                          "newcomer_can_be_read_ms": ["p50": beRead.p50, "max": beRead.max]])
        room.close()
        print(String(format: "summary: connect n=%d samples=%d p50=%.2fms p99=%.2fms filling_p50=%.2fms newcomer_can_read=%.1fms newcomer_can_be_read=%.1fms",
                     n, samples, v.p50, v.p99, p.p50, read.p50, beRead.p50))
    }
}
