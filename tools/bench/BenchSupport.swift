import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoClient
import SottoCore

/// Monotonic nanoseconds (same clock in every thread of this process).
func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

struct Percentiles: Codable {
    var count: Int
    var p50: Double, p99: Double, max: Double

    init(_ samples: [Double]) {
        let s = samples.sorted()
        count = s.count
        func at(_ q: Double) -> Double { s.isEmpty ? 0 : s[Swift.min(s.count - 1, Int((Double(s.count - 1) * q).rounded()))] }
        p50 = at(0.5); p99 = at(0.99); max = s.last ?? 0
    }

    var text: String { String(format: "p50 %.3f ms, p99 %.3f ms, max %.3f ms (n=%d)", p50, p99, max, count) }
}

/// The server under test: spawned here on an ephemeral loopback port, or given.
final class ServerUnderTest {
    let host: String
    let port: Int
    let fingerprint: String?
    let password: String
    let process: Process?

    /// Spawns `sotto-server` (next to this executable) with limits out of the way of a load test.
    init(spawnWithPassword password: String) throws {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("sotto-server")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-bench-\(UUID().uuidString)")
        let p = Process()
        p.executableURL = exe
        p.arguments = ["--host", "127.0.0.1", "--port", "0", "--data-dir", data.path, "--records-per-second", "1000000",
                       "--record-burst", "1000000", "--max-connections", "20000", "--max-connections-per-address", "20000",
                       "--log-level", "warning"]
        var env = ProcessInfo.processInfo.environment
        env["SOTTO_PASSWORD"] = password
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var banner = ""
        let deadline = Date().addingTimeInterval(30)
        while !banner.contains("Waiting for connections"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { usleep(10_000) } else { banner += String(decoding: chunk, as: UTF8.self) }
        }
        guard let portLine = banner.split(separator: "\n").first(where: { $0.hasPrefix("Listening on port ") }),
              let port = Int(portLine.dropFirst("Listening on port ".count).prefix { $0.isNumber }),
              let fp = banner.split(separator: "\n").first(where: { $0.hasPrefix("Fingerprint:") })?.split(separator: " ").last
        else { p.terminate(); throw BenchError("the spawned server did not start: \(banner)") }
        host = "127.0.0.1"
        self.port = port
        fingerprint = String(fp)
        self.password = password
        process = p
    }

    init(host: String, port: Int, password: String) {
        self.host = host
        self.port = port
        self.password = password
        fingerprint = nil
        process = nil
    }

    /// CPU seconds (user + system) the server has used, from /proc.
    var cpuSeconds: Double? {
        guard let pid = process?.processIdentifier,
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        let fields = stat.split(separator: ")").last!.split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory in KiB, from /proc.
    var rssKiB: Double? {
        guard let pid = process?.processIdentifier,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Double(line.split(separator: " ").dropFirst().first ?? "")
    }

    func stop() {
        process?.interrupt()
        process?.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A benchmark client: a real ChatClient (handshake, login, end-to-end) on a shared loop group.
final class BenchClient: @unchecked Sendable {
    let name: String
    let client: ChatClient
    private let lock = NIOLock()
    private(set) var online = false
    private(set) var memberCount = 0
    private(set) var failure: ClientFailure?
    private var latencies: [Double] = []
    private var received = 0
    var onMessage: ((ReceivedMessage) -> Void)?

    init(name: String, server: ServerUnderTest, group: EventLoopGroup, keys: PasswordKeyCache, known: KnownServers, directory: URL) throws {
        self.name = name
        var configuration = ClientConfiguration(host: server.host, port: server.port, username: name, password: server.password,
                                                trust: TrustPolicy(vouched: server.fingerprint, trustOnFirstUse: server.fingerprint == nil),
                                                reconnect: false)
        configuration.sharedPasswordKeys = keys
        let box = Box()
        client = ChatClient(configuration: configuration, identity: try ClientIdentity.generate(),
                            knownServers: known,
                            peerKeys: PeerKeys(url: directory.appendingPathComponent("peers-\(name).json")),
                            group: group, onEvent: { box.sink?($0) })
        box.sink = { [weak self] in self?.handle($0) }
    }

    private final class Box: @unchecked Sendable { var sink: ((ClientEvent) -> Void)? }

    private func handle(_ event: ClientEvent) {
        switch event {
        case .state(.online): lock.withLock { online = true }
        case .state(.failed(let f)): lock.withLock { failure = f }
        case .users(let members): lock.withLock { memberCount = members.count }
        case .message(let m) where !m.isOwn:
            let now = nowNanos()
            if let sent = UInt64(m.text.prefix { $0.isNumber }) {
                lock.withLock {
                    latencies.append(Double(now &- sent) / 1e6)
                    received += 1
                }
            }
        default: break
        }
    }

    var isOnline: Bool { lock.withLock { online } }
    var members: Int { lock.withLock { memberCount } }
    var failed: ClientFailure? { lock.withLock { failure } }
    var receivedCount: Int { lock.withLock { received } }
    var latencySamples: [Double] { lock.withLock { latencies } }
}

func waitUntil(_ what: String, timeout: Double, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { throw BenchError("timed out waiting for \(what)") }
        usleep(1_000)
    }
}

/// Raises the open-files limit to its hard ceiling (thousands of connections).
func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
