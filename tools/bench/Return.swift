import ArgumentParser
import Foundation

/// A member's return after a day away: messages wait on the server for them, and the time
/// from connecting to the first of them shown, and to all of them shown (caught up).
struct ReturnBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "return",
        abstract: "A member returns to N messages that waited for them: time to the first shown, and to all.")
    @OptionGroup var common: Common
    @Option(help: "Messages sent to the room while the member is away.") var waiting = 1_000
    @Option(help: "Bytes of text in each.") var size = 100
    @Option(help: "Returns timed (each after another N messages).") var samples = 3

    func run() throws {
        let server = try common.server()
        defer { server.stop() }
        let room = try BenchRoom(server: server, threads: common.threads, receivers: .full)
        try room.add(1, prefix: "sender")
        let away = try room.makeClient("away")
        away.client.connect()
        try waitUntil("away online", timeout: 30) { away.isOnline || away.failed != nil }
        let sender = room.clients[0]
        try waitUntil("they see each other", timeout: 30) { sender.members == 2 && away.members == 2 }
        let log = SendLog()
        var first: [Double] = [], all: [Double] = []
        let text = String(repeating: "w", count: size)
        for _ in 0..<samples {
            away.client.disconnect()
            try waitUntil("away is away", timeout: 30) { sender.members == 1 }
            for i in 0..<waiting { log.send("\(i) \(text)", from: sender) }
            try waitUntil("all stored", timeout: 300) { sender.inFlight == 0 }
            let before = away.receivedCount
            away.forgetOnline()
            let t0 = nowNanos()
            away.client.connect()
            try waitUntil("all shown", timeout: 300) { away.receivedCount >= before + waiting || away.failed != nil }
            if let f = away.failed { throw BenchError("away: \(f)") }
            let arrivals = away.received
            first.append(Double(arrivals[before].at - t0) / 1e6)
            all.append(Double(arrivals[before + waiting - 1].at - t0) / 1e6)
        }
        let f = Percentiles(first), a = Percentiles(all)
        print(String(format: "a member's return to %d messages of %d B: first shown after %.1f ms, all shown after %.1f ms (medians of %d)",
                     waiting, size, f.p50, a.p50, samples))
        try common.write(["mode": "return", "waiting": waiting, "size": size, "samples": samples,
                          "first_shown_ms": ["p50": f.p50, "max": f.max], "all_shown_ms": ["p50": a.p50, "max": a.max]])
        room.close()
        print(String(format: "summary: return waiting=%d first=%.1fms all=%.1fms", waiting, f.p50, a.p50))
    }
}
