import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoClient
import SottoCore

/// Monotonic nanoseconds (same clock in every thread of this process).
func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// When member `i` of `n` sends its `k`-th message at `rate` a second: members spread evenly
/// over each interval, as people typing are (not all pressing Enter in the same microsecond).
func spreadDue(start: UInt64, tick k: Int, member i: Int, of n: Int, rate: Double) -> UInt64 {
    start + UInt64((Double(k) + Double(i) / Double(n)) / rate * 1e9)
}

func sleep(until due: UInt64) {
    let now = nowNanos()
    if due > now { Thread.sleep(forTimeInterval: Double(due - now) / 1e9) }
}

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
    private(set) var process: Process?
    /// How it was spawned: to start it again on its data after a SIGKILL.
    private var spawn: (executable: URL, arguments: [String], environment: [String: String])?
    /// CPU seconds of processes killed before the current one.
    private var earlierCPU = 0.0

    /// The spawned server's log (notice level and up), for the reasons it gives.
    let logURL: URL?
    /// The spawned server's data directory, removed at `stop` (a fan-out left 50 MB behind
    /// in the temporary directory at every run).
    private let dataDirectory: URL?

    /// Spawns `sotto-server` (next to this executable) with limits out of the way of a load test.
    init(spawnWithPassword password: String, maxQueuedBytes: Int? = nil, threads: Int? = nil, cpus: String? = nil) throws {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("sotto-server")
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-bench-\(UUID().uuidString)")
        dataDirectory = data
        var arguments = ["--host", "127.0.0.1", "--data-dir", data.path, "--records-per-second", "1000000",
                       "--record-burst", "1000000", "--max-connections", "20000", "--max-connections-per-address", "20000",
                       "--log-level", "notice", "--registrations-per-hour", "1000000"]
        if let maxQueuedBytes { arguments += ["--max-queued-bytes", "\(maxQueuedBytes)"] }
        if let threads { arguments += ["--threads", "\(threads)"] }
        let executable = cpus == nil ? exe : URL(fileURLWithPath: "/usr/bin/taskset")
        if let cpus { arguments = ["-c", cpus, exe.path] + arguments }
        var env = ProcessInfo.processInfo.environment
        env["SOTTO_PASSWORD"] = password
        let log = data.deletingLastPathComponent().appendingPathComponent("sotto-bench-server-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        logURL = log
        let (p, banner) = try Self.start(executable, arguments + ["--port", "0"], env, log: log)
        guard let portLine = banner.split(separator: "\n").first(where: { $0.hasPrefix("Listening on port ") }),
              let port = Int(portLine.dropFirst("Listening on port ".count).prefix { $0.isNumber }),
              let fp = banner.split(separator: "\n").first(where: { $0.hasPrefix("Fingerprint:") })?.split(separator: " ").last
        else { p.terminate(); throw BenchError("the spawned server did not start: \(banner)") }
        host = "127.0.0.1"
        self.port = port
        fingerprint = String(fp)
        self.password = password
        process = p
        spawn = (executable, arguments + ["--port", "\(port)"], env)
    }

    private static func start(_ executable: URL, _ arguments: [String], _ environment: [String: String], log: URL) throws -> (Process, String) {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = environment
        let out = Pipe()
        p.standardOutput = out
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardError = handle
        try p.run()
        var banner = ""
        let deadline = Date().addingTimeInterval(30)
        while !banner.contains("Waiting for connections"), Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { usleep(10_000) } else { banner += String(decoding: chunk, as: UTF8.self) }
        }
        guard banner.contains("Waiting for connections") else { p.terminate(); throw BenchError("the spawned server did not start: \(banner)") }
        return (p, banner)
    }

    /// Kills the server with SIGKILL (no shutdown, nothing flushed) and starts it again on its
    /// data directory and port; returns how long it was gone.
    @discardableResult
    func killAndRestart() throws -> Double {
        guard let spawn, let old = process, let logURL else { throw BenchError("only a spawned server can be restarted") }
        earlierCPU += sotto_bench.cpuSeconds(of: old.processIdentifier) ?? 0
        let t0 = nowNanos()
        kill(old.processIdentifier, SIGKILL)
        old.waitUntilExit()
        var lastError: Error?
        for _ in 0..<50 {  // the port is free again once the old socket is closed
            do {
                process = try Self.start(spawn.executable, spawn.arguments, spawn.environment, log: logURL).0
                return Double(nowNanos() - t0) / 1e9
            } catch {
                lastError = error
                usleep(100_000)
            }
        }
        throw lastError ?? BenchError("the server did not start again")
    }

    init(host: String, port: Int, password: String) {
        self.host = host
        self.port = port
        self.password = password
        fingerprint = nil
        process = nil
        logURL = nil
        dataDirectory = nil
    }

    /// CPU seconds (user + system) the server has used, from /proc (its killed predecessors' too).
    var cpuSeconds: Double? { process.flatMap { sotto_bench.cpuSeconds(of: $0.processIdentifier) }.map { $0 + earlierCPU } }

    /// Resident memory in KiB, from /proc.
    var rssKiB: Double? {
        guard let pid = process?.processIdentifier,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Double(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// Server log lines containing `text` (empty for a server this tool did not start).
    func logLines(containing text: String) -> [String] {
        guard let logURL, let log = try? String(contentsOf: logURL, encoding: .utf8) else { return [] }
        return log.split(separator: "\n").filter { $0.contains(text) }.map(String.init)
    }

    func stop() {
        process?.interrupt()
        process?.waitUntilExit()
        if let logURL { try? FileManager.default.removeItem(at: logURL) }
        if let dataDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func waitUntil(_ what: String, timeout: Double, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { throw BenchError("timed out waiting for \(what)") }
        usleep(1_000)
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
func cpuSeconds(of pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
    let fields = stat.split(separator: ")").last!.split(separator: " ")
    guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds the hypervisor gave to other guests while this VM's CPUs wanted to run
/// (`steal` on the `cpu` line of /proc/stat, summed over CPUs); 0 on bare metal. A latency
/// tail is only this machine's to fix when little was stolen.
func stolenSeconds() -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
          let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
    let fields = line.split(separator: " ")
    guard fields.count > 8, let steal = Double(fields[8]) else { return nil }
    return steal / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Keeps this process (and the threads it starts later) on the given CPUs, so that with
/// `--pin` the server's CPU time is its own and not shared with the load generator.
func pinSelf(to cpus: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    p.arguments = ["-a", "-p", "-c", cpus, "\(getpid())"]
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw BenchError("taskset could not pin the load generator to CPU \(cpus)") }
}

/// Raises the open-files limit to its hard ceiling (thousands of connections).
func raiseFileLimit() {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}
