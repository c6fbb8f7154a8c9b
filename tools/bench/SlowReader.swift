import ArgumentParser
import Foundation

/// One member stops reading mid-run while the others keep chatting at a steady rate: the
/// others' delivered rate before, during and after, and when and why the server cut it off.
struct SlowReader: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "slowreader", abstract: "One member stops reading: the others' delivered rate before/during/after, and the cut-off.")
    @OptionGroup var common: Common
    @Option(help: "Members (one of them stops reading).") var n = 20
    @Option(help: "Messages per second per sending member.") var rate = 20.0
    @Option(help: "Message size in bytes (plaintext).") var size = 1000
    @Option(help: "Seconds before the member stops reading.") var before = 5.0
    @Option(help: "Longest wait for the cut-off, in seconds.") var maxWait = 120.0
    @Option(help: "Seconds measured after the cut-off.") var after = 5.0
    @Option(help: "The server's bound on bytes queued for one member (spawned server only).") var maxQueuedBytes = 1 << 20

    func run() throws {
        let server = try common.server(maxQueuedBytes: maxQueuedBytes)
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: .transport)
        try room.join(n)
        let stalled = room.clients.last!
        let others = Array(room.clients.dropLast())
        let warm = SendLog()
        for c in others { warm.send("warm-up", from: c) }
        try waitUntil("warm-up delivered", timeout: 60) { others.allSatisfy { $0.receivedCount >= n - 2 } }

        // Senders tick at `rate` on a thread of their own until told to stop.
        let log = SendLog()
        let text = String(repeating: "s", count: size)
        let stop = StopFlag()
        let start = nowNanos()
        let finished = DispatchSemaphore(value: 0)
        let sender = Thread {
            defer { finished.signal() }
            var k = 0
            while !stop.isSet {
                // Spread over the interval, as in fanout --rate.
                for (i, c) in others.enumerated() {
                    sleep(until: spreadDue(start: start, tick: k, member: i, of: others.count, rate: rate))
                    log.send(text, from: c)
                }
                k += 1
            }
        }
        sender.start()

        Thread.sleep(forTimeInterval: before)
        let paused = nowNanos()
        stalled.client.setReadingPaused(true)
        var cutOff: UInt64?
        try waitUntil("the stalled member is cut off", timeout: maxWait) {
            // The others learn of it from the server's presence record.
            if others.allSatisfy({ $0.members == n - 1 }) { cutOff = others.map(\.lastMembershipChange).max() }
            return cutOff != nil
        }
        Thread.sleep(forTimeInterval: after)
        stop.set()
        finished.wait()
        let end = nowNanos()

        // Deliveries between the others, counted by arrival time in each phase.
        let sentBy = Set(others.map(\.name))
        let arrivals = others.flatMap { $0.received.filter { sentBy.contains($0.from) && log.time(of: $0.id) != nil }.map(\.at) }
        func delivered(_ from: UInt64, _ to: UInt64) -> Double {
            Double(arrivals.filter { $0 >= from && $0 < to }.count) / (Double(to - from) / 1e9)
        }
        // The first second (at most half the run-up) is the sender thread's ramp-up.
        let rampUp = UInt64(min(1, before / 2) * 1e9)
        let rBefore = delivered(start + rampUp, paused), rDuring = delivered(paused, cutOff!), rAfter = delivered(cutOff!, end)
        let offered = Double((n - 1) * (n - 2)) * rate
        let stallSeconds = Double(cutOff! - paused) / 1e9
        let why = server.logLines(containing: "cut off").last.map { line -> String in
            guard let start = line.range(of: "detail=") else { return line }
            let rest = line[start.upperBound...]
            return String(rest[..<(rest.range(of: " peer=")?.lowerBound ?? rest.endIndex)])
        } ?? "(no server log)"
        let latency = Percentiles(latencies(of: others, log: log))
        print(String(format: "slowreader: %d members, %d sending %.0f × %d B/s each; offered %.0f deliveries/s to the others", n, n - 1, rate, size, offered))
        print(String(format: "  others' delivered rate: before %.0f/s, while stalled %.0f/s (%.1f %%), after the cut-off %.0f/s (%.1f %%)",
                     rBefore, rDuring, rDuring / rBefore * 100, rAfter, rAfter / rBefore * 100))
        print(String(format: "  cut off %.1f s after it stopped reading: %@", stallSeconds, why))
        print("  others' latency over the whole run: \(latency.text)")
        try common.write(["mode": "slowreader", "n": n, "rate": rate, "size": size, "offered_per_second": offered,
                          "before_per_second": rBefore, "during_per_second": rDuring, "after_per_second": rAfter,
                          "during_fraction": rBefore > 0 ? rDuring / rBefore : 0, "after_fraction": rBefore > 0 ? rAfter / rBefore : 0,
                          "cut_off_after_seconds": stallSeconds, "cut_off_reason": why, "max_queued_bytes": maxQueuedBytes,
                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max]])
        room.close()
        print(String(format: "summary: slowreader n=%d before=%.0f/s during=%.0f/s(%.1f%%) after=%.0f/s(%.1f%%) cutoff=%.1fs p99=%.2fms",
                     n, rBefore, rDuring, rDuring / rBefore * 100, rAfter, rAfter / rBefore * 100, stallSeconds, latency.p99))
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
