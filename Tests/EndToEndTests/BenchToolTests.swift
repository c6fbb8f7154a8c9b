import Foundation
import Testing

/// Every `sotto-bench` mode, tiny, against a server it spawns: the examples in
/// docs/BENCHMARKS.md keep running, and their figures add up. (No timing is asserted.)
@Suite(.serialized, .takesTurns) struct BenchToolTests {
    func bench(_ args: [String], timeout: Double = 120) async throws -> (status: Int32?, summary: String, figures: [String: Any], output: String) {
        let json = temporaryDirectory("bench").appendingPathComponent("figures.json")
        try FileManager.default.createDirectory(at: json.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Its own temporary directory: what the run leaves there is seen (the spawned server's
        // data, 50 MB after a fan-out, was left at every run).
        let scratch = temporaryDirectory("bench-tmp")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let p = try ChildProcess(Products.url("sotto-bench"), args + ["--json", json.path], environment: ["TMPDIR": scratch.path])
        let status = await p.waitForExit(timeout: timeout)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []
        #expect(left.isEmpty, "left in the temporary directory: \(left)")
        let summary = p.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let figures = (try? JSONSerialization.jsonObject(with: Data(contentsOf: json))) as? [String: Any] ?? [:]
        return (status, summary, figures, p.stdout + p.stderr)
    }

    @Test func fanoutCountsEveryDeliveryAndTheServersCPU() async throws {
        let r = try await bench(["fanout", "--n", "3", "--m", "5"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary.hasPrefix("summary: fanout n=3 m=5"))
        #expect(r.figures["deliveries"] as? Int == 3 * 5 * 2)
        #expect((r.figures["server_cpu_us_per_delivery"] as? Double ?? -1) >= 0)
        #expect((r.figures["stolen_ms"] as? Double ?? -1) >= 0, "the hypervisor's share is reported")
        let paced = try await bench(["fanout", "--n", "3", "--m", "3", "--rate", "20", "--receivers", "full"])
        #expect(paced.status == 0, "\(paced.output)")
        #expect(paced.figures["receivers"] as? String == "full")
        let lean = try await bench(["fanout", "--n", "3", "--m", "5", "--clients", "lean"])
        #expect(lean.status == 0, "\(lean.output)")
        #expect(lean.figures["deliveries"] as? Int == 3 * 5 * 2 && lean.figures["clients"] as? String == "lean")
        #expect((lean.figures["body_bytes"] as? Int ?? 0) > 100)  // a sealed envelope's size, not the text's
        #expect(((lean.figures["latency_ms"] as? [String: Double])?["p50"] ?? 0) > 0)
    }

    @Test func connectTimesNewcomersEndToEnd() async throws {
        let r = try await bench(["connect", "--n", "3", "--newcomers", "2", "--samples", "4"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary.hasPrefix("summary: connect n=3 samples=4"))
        #expect(r.output.contains("connect into a room of 4, a member's return: ") && r.output.contains("(n=4)"), "\(r.output)")
        #expect(r.output.contains("connect into a room of 4, first login (registers the name): "), "\(r.output)")
        #expect(((r.figures["connect_ms"] as? [String: Double])?["p50"] ?? 0) > 0)
        #expect(((r.figures["first_connect_ms"] as? [String: Double])?["p50"] ?? 0) > 0)
        let read = r.figures["newcomer_can_read_ms"] as? [String: Double]
        #expect((read?["p50"] ?? 0) > 0)
    }

    @Test func loadChecksExactlyOnceAndIdleMeasuresMemory() async throws {
        let load = try await bench(["load", "--n", "6", "--rate", "4", "--duration", "2"])
        #expect(load.status == 0, "\(load.output)")
        #expect(load.figures["sent"] as? Int == 6 * 8)
        #expect(load.figures["delivered"] as? Int == 6 * 8)
        #expect(load.figures["lost"] as? Int == 0 && load.figures["duplicated"] as? Int == 0)
        let room = try await bench(["load", "--n", "3", "--rate", "4", "--duration", "1", "--to", "room", "--receivers", "transport"])
        #expect(room.status == 0, "\(room.output)")
        #expect(room.figures["delivered"] as? Int == 3 * 4 * 2)
        let idle = try await bench(["idle", "--n", "5"])
        #expect(idle.status == 0, "\(idle.output)")
        #expect((idle.figures["kib_per_connection"] as? Double) != nil)
        let lean = try await bench(["idle", "--n", "20", "--clients", "lean", "--wave", "7"])
        #expect(lean.status == 0, "\(lean.output)")
        #expect(lean.figures["clients"] as? String == "lean" && (lean.figures["n"] as? Int) == 20)
    }

    @Test func aRenewalIsCountedShareByShare() async throws {
        let r = try await bench(["renewal", "--members", "6", "--repeats", "1"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary.hasPrefix("summary: renewal members=6 shares=5 "), "\(r.output)")
        #expect((r.figures["shares"] as? Int) == 5 && ((r.figures["bytes_per_share"] as? Double) ?? 0) > 2_500)
    }

    @Test func aReturnToWhatWaitedIsTimed() async throws {
        let r = try await bench(["return", "--waiting", "20", "--samples", "1"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary.hasPrefix("summary: return waiting=20 "), "\(r.output)")
        #expect(((r.figures["all_shown_ms"] as? [String: Double])?["p50"] ?? 0) >= ((r.figures["first_shown_ms"] as? [String: Double])?["p50"] ?? 1))
    }

    /// The load with a third of the members away for a while and the server killed (SIGKILL)
    /// and started again mid-run: still every message once.
    @Test func loadWithMembersAwayAndASIGKILLLosesNothing() async throws {
        let r = try await bench(["load", "--n", "9", "--rate", "2", "--duration", "6", "--away", "0.33", "--kill-at", "2.5"], timeout: 180)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.figures["away"] as? Int == 3 && ((r.figures["killed_at"] as? Double) ?? -1) > 0, "\(r.output)")
        #expect(r.figures["delivered"] as? Int == 9 * 12 && r.figures["lost"] as? Int == 0 && r.figures["duplicated"] as? Int == 0)
    }

    @Test func aSlowReaderIsCutOffAndTheReasonIsReported() async throws {
        let r = try await bench(["slowreader", "--n", "3", "--rate", "50", "--size", "4000", "--before", "1", "--after", "1",
                                 "--max-queued-bytes", "65536", "--max-wait", "60"])
        #expect(r.status == 0, "\(r.output)")
        #expect((r.figures["cut_off_reason"] as? String)?.contains("outbound queue overflow") == true, "\(r.figures)")
    }

    @Test func operationsAreTimedOneByOne() async throws {
        let r = try await bench(["operations", "--repeats", "20"], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        let us = r.figures["us"] as? [String: Double] ?? [:]
        #expect((us["X25519 Diffie-Hellman"] ?? 0) > 0 && (us["Noise XX handshake, both sides, in memory"] ?? 0) > 0, "\(r.figures)")
    }

    @Test func theBaselineMovesTheSameBytesOverPlainTCP() async throws {
        let r = try await bench(["baseline", "--n", "3", "--m", "20"], timeout: 30)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.summary.hasPrefix("summary: baseline n=3 m=20"), "\(r.output)")
        #expect((r.figures["deliveries_per_second"] as? Double ?? 0) > 0)
        #expect((r.figures["stolen_ms"] as? Double ?? -1) >= 0)
    }
}
