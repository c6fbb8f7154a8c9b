import ArgumentParser
import Foundation

/// Many members, each sending at a steady rate for a while: proves nothing is lost or
/// doubled under sustained load, and what it costs the server.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N members each send R messages/s for D seconds; checks every message arrives exactly once.")
    @OptionGroup var common: Common
    @Option(help: "Members.") var n = 1000
    @Option(help: "Messages per second per member.") var rate = 1.0
    @Option(help: "Seconds of sending.") var duration = 60.0
    @Option(help: "Message size in bytes (plaintext).") var size = 100
    @Option(help: "Who each member writes to: next (a direct message to the next member) or room (everyone).")
    var to = Target.next
    @Option(help: "How members receive: full (open and verify, as a person's client) or transport (count only).")
    var receivers = ReceiverMode.full
    @Option(help: "Clients connecting at once.") var wave = 50
    @Option(help: "Every k-th member (k = 1/this) goes offline a third of the way through and comes back at two thirds; what is sent to them meanwhile waits on the server (0: nobody).")
    var away = 0.0
    @Option(help: "Kill the server with SIGKILL this many seconds into the sending and start it again on its data (members reconnect).")
    var killAt: Double?

    enum Target: String, ExpressibleByArgument { case next, room }

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: receivers, reconnect: killAt != nil)
        let t0 = nowNanos()
        try room.join(n, wave: wave)
        let joinSeconds = Double(nowNanos() - t0) / 1e9
        print(String(format: "load: %d members joined in %.1f s; server RSS %.0f KiB", n, joinSeconds, server.rssKiB ?? 0))
        let clients = room.clients
        func recipient(of i: Int) -> String { to == .room ? "" : clients[(i + 1) % n].name }

        let log = SendLog()
        var senderOf: [UInt64: Int] = [:]
        let text = String(repeating: "l", count: size)
        let ticks = Int(duration * rate)
        let cpu0 = server.cpuSeconds
        let start = nowNanos()
        let every = away > 0 ? max(1, Int((1 / away).rounded())) : 0
        let awayGroup = every > 0 ? clients.indices.filter { $0 % every == every - 1 }.map { clients[$0] } : []
        var phase = 0  // 0 all here, 1 the away group gone, 2 back
        var killed: Double?
        // Each member sends once per 1/rate seconds, members spread evenly over that interval.
        for k in 0..<ticks {
            let elapsed = Double(nowNanos() - start) / 1e9
            if !awayGroup.isEmpty, phase == 0, elapsed >= duration / 3 {
                for c in awayGroup { c.client.disconnect() }
                phase = 1
                print(String(format: "load: %d members went away at %.1f s", awayGroup.count, elapsed))
            } else if phase == 1, elapsed >= duration * 2 / 3 {
                for c in awayGroup { c.client.connect() }
                phase = 2
                print(String(format: "load: they came back at %.1f s", elapsed))
            }
            if let killAt, killed == nil, elapsed >= killAt {
                let gone = try server.killAndRestart()
                killed = elapsed
                print(String(format: "load: server killed (SIGKILL) at %.1f s and running again %.2f s later", elapsed, gone))
            }
            for i in 0..<n {
                sleep(until: spreadDue(start: start, tick: k, member: i, of: n, rate: rate))
                let t = nowNanos()
                let id = clients[i].client.send(text, to: recipient(of: i))
                log.record(id, at: t)
                senderOf[id] = i
            }
        }
        let sendSeconds = Double(nowNanos() - start) / 1e9
        let expected = to == .room ? ticks * n * (n - 1) : ticks * n
        _ = try? waitUntil("every message delivered", timeout: 120) { clients.reduce(0) { $0 + $1.receivedCount } >= expected }
        Thread.sleep(forTimeInterval: 1)  // anything extra (a duplicate) would arrive now
        let cpu = (server.cpuSeconds ?? 0) - (cpu0 ?? 0)

        // Exactly once: each message at each of its recipients once, from its sender, and nowhere else.
        // (Options read once: a property wrapper's getter in these loops took minutes at 1,000 members.)
        let toRoom = to == .room
        var lost = 0, duplicated = 0, misdelivered = 0
        for (index, c) in clients.enumerated() {
            var counts: [UInt64: Int] = [:]
            for a in c.received {
                guard let sender = senderOf[a.id], clients[sender].name == a.from,
                      toRoom ? sender != index : (sender + 1) % n == index
                else { misdelivered += 1; continue }
                counts[a.id, default: 0] += 1
            }
            duplicated += counts.values.reduce(0) { $0 + max(0, $1 - 1) }
            // What this member should have: every message in the room but its own, or its neighbour's.
            let owed = toRoom ? senderOf.count - senderOf.values.lazy.filter { $0 == index }.count
                            : senderOf.values.lazy.filter { ($0 + 1) % n == index }.count
            lost += owed - counts.count
        }
        let delivered = clients.reduce(0) { $0 + $1.receivedCount }
        let failed = clients.filter { $0.failed != nil || $0.connectionState != .online }.count
        let rejected = clients.reduce(0) { $0 + $1.rejectedCount }
        let latency = Percentiles(latencies(of: clients, log: log))
        let perDelivery = cpu / Double(max(delivered, 1)) * 1e6
        print(String(format: "load: %d members × %.1f msg/s × %.0f s (to %@, %@ receivers): sent %d in %.1f s, delivered %d of %d; lost %d, duplicated %d, misdelivered %d, rejected %d; clients not online at the end %d",
                     n, rate, duration, to.rawValue, receivers.rawValue, log.count, sendSeconds, delivered, expected, lost, duplicated, misdelivered, rejected, failed))
        print(String(format: "  latency %@; server CPU %.1f s (%.1f %% of a core), %.2f µs per delivery; RSS %.0f KiB",
                     latency.text, cpu, cpu / sendSeconds * 100, perDelivery, server.rssKiB ?? 0))
        try common.write(["mode": "load", "n": n, "rate": rate, "duration": duration, "to": to.rawValue, "receivers": receivers.rawValue,
                          "away": awayGroup.count, "killed_at": killed ?? -1,
                          "join_seconds": joinSeconds, "sent": log.count, "expected": expected, "delivered": delivered,
                          "lost": lost, "duplicated": duplicated, "misdelivered": misdelivered, "rejected": rejected, "not_online": failed,
                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max],
                          "server_cpu_seconds": cpu, "server_cpu_us_per_delivery": perDelivery, "server_rss_kib": server.rssKiB ?? 0])
        room.close()
        print(String(format: "summary: load n=%d rate=%g duration=%g away=%d killed=%@ sent=%d delivered=%d lost=%d duplicated=%d p50=%.2fms p99=%.2fms cpu/delivery=%.2fus",
                     n, rate, duration, awayGroup.count, killed.map { String(format: "%.1fs", $0) } ?? "no", log.count, delivered, lost, duplicated,
                     latency.p50, latency.p99, perDelivery))
        if lost + duplicated + misdelivered + rejected + failed > 0 { throw ExitCode(1) }
    }
}
