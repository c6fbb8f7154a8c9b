import ArgumentParser
import Foundation
import SottoCore

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
    @Option(help: "How full members receive: full (open and verify, as a person's client) or transport (count without opening).")
    var receivers = ReceiverMode.transport
    @Option(help: "full: ChatClients that seal and sign each message; lean: the real handshake, login and transport with bodies the size of a sealed envelope, arrivals counted, so the generator can outrun the server.")
    var clients = Idle.ClientKind.full

    /// One member as the driver sees it, whichever kind.
    struct Member {
        var inFlight: () -> Int
        var receivedCount: () -> Int
        var send: (UInt64) -> Void
        var setOnAcknowledged: (@escaping () -> Void) -> Void
    }

    func run() throws {
        // Options read once: each read of an ArgumentParser property goes through its
        // generic wrapper, and the loop below reads them for every member on every pass.
        let (n, m, size, rate, window) = (self.n, self.m, self.size, self.rate, self.window)
        let server = try common.server()
        defer { server.stop() }
        let log = SendLog()
        let members: [Member]
        let arrivals: () -> [(id: UInt64, at: UInt64)]
        let close: () -> Void
        var bodyBytes = size
        switch clients {
        case .full:
            let room = try BenchRoom(server: server, threads: common.threads, receivers: receivers)
            try room.join(n)
            let text = String(repeating: "x", count: size)
            // Everyone speaks once first: chains are made and shared before the clock starts.
            for c in room.clients { SendLog().send("warm-up", from: c) }
            try waitUntil("warm-up delivered", timeout: 120) { room.clients.allSatisfy { $0.receivedCount >= n - 1 } }
            members = room.clients.map { c in
                let base = c.receivedCount
                return Member(inFlight: { c.inFlight }, receivedCount: { c.receivedCount - base },
                              send: { _ in log.send(text, from: c) }, setOnAcknowledged: { c.onAcknowledged = $0 })
            }
            arrivals = { room.clients.flatMap { $0.received.map { ($0.id, $0.at) } } }
            close = room.close
        case .lean:
            let room = LeanRoom(server: server, threads: common.threads)
            try room.join(n, wave: 50)
            try room.settle(timeout: 120)
            let body = try Self.sealedBody(of: size)
            bodyBytes = body.count
            members = room.clients.enumerated().map { i, c in
                Member(inFlight: { c.inFlight }, receivedCount: { c.receivedCount },
                       send: { k in
                           let id = UInt64(i) << 32 | k
                           log.record(id, at: nowNanos())
                           c.send(id: id, body: body)
                       },
                       setOnAcknowledged: { c.onAcknowledged = $0 })
            }
            arrivals = { room.clients.flatMap(\.arrivals) }
            close = room.close
        }
        Thread.sleep(forTimeInterval: 0.2)

        let expected = n * m * (n - 1)
        let cpu0 = server.cpuSeconds
        let stolen0 = stolenSeconds()
        let start = nowNanos()
        if rate > 0 {
            for k in 0..<m {
                for (i, c) in members.enumerated() {
                    sleep(until: spreadDue(start: start, tick: k, member: i, of: n, rate: rate))
                    c.send(UInt64(k))
                }
            }
        } else {
            // Closed loop: each member tops up to `window` messages in flight; acknowledgements
            // wake this thread (no polling: it shares the CPU with the members' network thread).
            let acks = DispatchSemaphore(value: 0)
            for c in members { c.setOnAcknowledged { acks.signal() } }
            var sent = [Int](repeating: 0, count: n)
            var remaining = n * m
            while remaining > 0 {
                var any = false
                for (i, c) in members.enumerated() where sent[i] < m && c.inFlight() < window {
                    c.send(UInt64(sent[i]))
                    sent[i] += 1
                    remaining -= 1
                    any = true
                }
                if !any { _ = acks.wait(timeout: .now() + .milliseconds(10)) }
            }
        }
        try waitUntil("\(expected) deliveries", timeout: 600) { members.reduce(0) { $0 + $1.receivedCount() } >= expected }
        let seconds = Double(nowNanos() - start) / 1e9
        let cpu = (server.cpuSeconds ?? 0) - (cpu0 ?? 0)
        let stolenMs = ((stolenSeconds() ?? 0) - (stolen0 ?? 0)) * 1000
        let serverDeliveries = Double(n * m * n)  // the server also returns each message to its sender, in order
        let sentAt = log.all
        let latency = Percentiles(arrivals().compactMap { a in sentAt[a.id].map { Double(a.at &- $0) / 1e6 } })
        let perDelivery = cpu0 == nil ? -1 : cpu / serverDeliveries * 1e6
        let kind = clients == .lean ? "lean" : receivers.rawValue
        print(String(format: "fanout: %d members × %d messages of %d B (%d B sealed, %@ receivers): %.0f deliveries/s; latency %@; server CPU %.2f µs per delivery (%.0f %% of a core); %.0f ms of CPU stolen by the hypervisor",
                     n, m, size, bodyBytes, kind, Double(expected) / seconds, latency.text, perDelivery, cpu / seconds * 100, stolenMs))
        try common.write(["mode": "fanout", "n": n, "m": m, "size": size, "body_bytes": bodyBytes, "rate": rate, "clients": clients.rawValue,
                          "receivers": kind, "window": window,
                          "deliveries": expected, "deliveries_per_second": Double(expected) / seconds,
                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max],
                          "server_cpu_us_per_delivery": perDelivery, "server_cpu_seconds": cpu, "server_cpu_share": cpu / seconds,
                          "seconds": seconds, "stolen_ms": stolenMs])
        close()
        print(String(format: "summary: fanout n=%d m=%d size=%d rate=%g receivers=%@ deliveries/s=%.0f p50=%.2fms p99=%.2fms max=%.2fms cpu/delivery=%.2fus stolen=%.0fms",
                     n, m, size, rate, kind, Double(expected) / seconds, latency.p50, latency.p99, latency.max, perDelivery, stolenMs))
    }

    /// The body a person's client sends for `size` bytes of text: sealed for a room once.
    static func sealedBody(of size: Int) throws -> [UInt8] {
        let me = try IdentityKeys()
        let session = EndToEndSession(me: "me", identity: me, restored: KeyState()) { _, _ in .unverified }
        return try session.seal([UInt8](repeating: 0x78, count: size), to: "", now: Date()).body
    }
}
