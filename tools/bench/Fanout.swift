import ArgumentParser
import Foundation

/// N members in the room, each sending M messages: deliveries per second, latency from send
/// to each receiver, and the server's CPU per delivery.
struct Fanout: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "N members, each sends M messages; deliveries/s, latency, server CPU per delivery.")
    @OptionGroup var common: Common
    @Option(help: "Members.") var n = 50
    @Option(help: "Messages per member.") var m = 20
    @Option(help: "Message size in bytes (plaintext).") var size = 100
    @Option(help: "Messages per second per member (0: as fast as possible).") var rate = 0.0
    @Option(help: "Without --rate: messages each member keeps in flight (sent, not yet acknowledged), so the server, not the senders' queues, sets the pace.")
    var window = 4
    @Option(help: "How members receive: full (open and verify, as a person's client) or transport (count without opening).")
    var receivers = ReceiverMode.transport

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: receivers)
        try room.join(n)
        let clients = room.clients
        // Everyone speaks once first: chains are made and shared before the clock starts.
        let warm = SendLog()
        for c in clients { warm.send("warm-up", from: c) }
        try waitUntil("warm-up delivered", timeout: 120) { clients.allSatisfy { $0.receivedCount >= n - 1 } }
        Thread.sleep(forTimeInterval: 0.2)
        let base = clients.map(\.receivedCount)

        let log = SendLog()
        let expected = n * m * (n - 1)
        let cpu0 = server.cpuSeconds
        let start = nowNanos()
        let text = String(repeating: "x", count: size)
        if rate > 0 {
            let (m, rate) = (self.m, self.rate)
            for k in 0..<m {
                for (i, c) in clients.enumerated() {
                    sleep(until: spreadDue(start: start, tick: k, member: i, of: n, rate: rate))
                    log.send(text, from: c)
                }
            }
        } else {
            // Closed loop: each member tops up to `window` messages in flight; acknowledgements
            // wake this thread (no polling: it shares the CPU with the members' network thread).
            let (m, window) = (self.m, self.window)
            let acks = DispatchSemaphore(value: 0)
            for c in clients { c.onAcknowledged = { acks.signal() } }
            var sent = [Int](repeating: 0, count: n)
            var remaining = n * m
            while remaining > 0 {
                var any = false
                for (i, c) in clients.enumerated() where sent[i] < m && c.inFlight < window {
                    log.send(text, from: c)
                    sent[i] += 1
                    remaining -= 1
                    any = true
                }
                if !any { _ = acks.wait(timeout: .now() + .milliseconds(10)) }
            }
        }
        try waitUntil("\(expected) deliveries", timeout: 600) { zip(clients, base).reduce(0) { $0 + $1.0.receivedCount - $1.1 } >= expected }
        let seconds = Double(nowNanos() - start) / 1e9
        let cpu = (server.cpuSeconds ?? 0) - (cpu0 ?? 0)
        let serverDeliveries = Double(n * m * n)  // the server also returns each message to its sender, in order
        let latency = Percentiles(latencies(of: clients, log: log))
        let perDelivery = cpu0 == nil ? -1 : cpu / serverDeliveries * 1e6
        let rejected = clients.reduce(0) { $0 + $1.rejectedCount }
        print(String(format: "fanout: %d members × %d messages of %d B (%@ receivers): %.0f deliveries/s; latency %@; server CPU %.2f µs per delivery; %d rejected",
                     n, m, size, receivers.rawValue, Double(expected) / seconds, latency.text, perDelivery, rejected))
        try common.write(["mode": "fanout", "n": n, "m": m, "size": size, "rate": rate, "receivers": receivers.rawValue, "window": window,
                          "deliveries": expected, "deliveries_per_second": Double(expected) / seconds,
                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max],
                          "server_cpu_us_per_delivery": perDelivery, "server_cpu_seconds": cpu, "seconds": seconds])
        room.close()
        print(String(format: "summary: fanout n=%d m=%d size=%d rate=%g receivers=%@ deliveries/s=%.0f p50=%.2fms p99=%.2fms max=%.2fms cpu/delivery=%.2fus",
                     n, m, size, rate, receivers.rawValue, Double(expected) / seconds, latency.p50, latency.p99, latency.max, perDelivery))
    }
}
