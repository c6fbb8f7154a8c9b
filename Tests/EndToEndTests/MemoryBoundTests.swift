import Foundation
import SottoCore
import Testing

/// Members that ask for much and read nothing, against the real server process, whose
/// memory the test reads from /proc.
@Suite(.takesTurns) struct MemoryBoundTests {
    static func residentKiB(_ pid: Int32, _ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// Finding: while a socket was writable a whole drain was sealed into NIO's buffer with no
    /// bound, and identity requests were not de-duplicated: six members that never read held
    /// ~100 MiB until the idle timeout. Now what waits for a connection, anywhere, counts
    /// against `--max-queued-bytes` (1 MiB here) and each requested name is answered once.
    @Test func membersThatRequestAndNeverReadAreCutOffAndTheServerStaysSmall() async throws {
        let data = temporaryDirectory("server-leeches")
        let (server, port, _, password) = try await ProcessTests.startServer(
            dataDir: data, extra: ["--records-per-second", "100000", "--record-burst", "100000", "--max-connections-per-address", "200",
                                   "--registrations-per-hour", "1000"])
        defer { server.signal(SIGKILL) }
        let pid = server.process.processIdentifier
        // A room of 64 members with identity bundles (1.4 KB each).
        let names = (0..<64).map { "member\($0)" }
        let members = try await onOwnThread {
            try names.map { name -> RawConnection in
                let keys = try IdentityKeys()
                let raw = try RawConnection(port: port)
                try raw.login(name: name, password: password, identity: keys.noiseStatic, bundle: keys.encodedBundle)
                return raw
            }
        }
        let before = Self.residentKiB(pid, "VmRSS")
        // Six members each ask 100 times for everyone's bundles, every name four times over:
        // 100 × 256 names × 1.4 KB = 36 MB of answers each, 215 MB in all, if all were answered.
        let leeches = 6, requests = 100
        let request = ClientRecord.identityRequest(Array((names + names + names + names).prefix(WireLimits.maxIdentityRequest))).encoded()
        let cutOff = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<leeches {
                group.addTask {
                    try await onOwnThread {
                        let leech = try RawConnection(port: port, receiveBuffer: 4096)
                        try leech.login(name: "leech\(i)", password: password)
                        for _ in 0..<requests {
                            guard (try? leech.sendRecords([request])) != nil else { break }  // cut off meanwhile
                        }
                        return leech
                    }.isClosedByPeer()
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(cutOff == Array(repeating: true, count: leeches))
        try await eventually("cut off in the log", timeout: 20) {
            server.stderr.components(separatedBy: "cut off").count - 1 >= leeches
        }
        let peakGrowthMiB = Double(Self.residentKiB(pid, "VmHWM") - before) / 1024
        // Six connections at the 1 MiB bound, each held up to four times over while a drain is
        // framed, copied and sealed, plus allocator slack: measured 26 MiB here, and 170 MiB
        // before the fix (which this bound catches).
        #expect(peakGrowthMiB < 40, "the server grew by \(peakGrowthMiB) MiB for members that never read")
        // The members who read are still there.
        for raw in members.prefix(3) {
            try raw.sendRecords([ClientRecord.ping(9).encoded()])
            #expect(try raw.readUntil { if case .pong(9) = $0 { true } else { false } } == .pong(9))
        }
    }
}
