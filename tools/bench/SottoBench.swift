import ArgumentParser
import Foundation
import SottoCore

@main
struct SottoBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotto-bench",
        abstract: "Measures a Sotto server with real clients (handshake, login, end-to-end encryption).",
        discussion: "Spawns sotto-server on an ephemeral loopback port unless --host is given. The last line of output is a one-line summary.",
        subcommands: [Connect.self, Fanout.self, Idle.self, SlowReader.self, Load.self, Baseline.self, Operations.self, WindowBench.self, HistoryBench.self, RenewalBench.self, ReturnBench.self])
}

struct Common: ParsableArguments {
    @Option(help: "Use this server instead of spawning one.")
    var host: String?
    @Option(help: "Port of --host.")
    var port: Int = 8888
    @Option(help: "Password file for --host (a spawned server gets a random password).")
    var passwordFile: String?
    @Option(help: "Client network threads.")
    var threads = 1
    @Option(help: "Write every figure to this JSON file.")
    var json: String?
    @Option(help: "Network threads of the spawned server (default: one per core).")
    var serverThreads: Int?
    @Flag(help: "Pin the spawned server to the last CPU and this generator to the others, so neither steals the other's time.")
    var pin = false

    func server(maxQueuedBytes: Int? = nil) throws -> ServerUnderTest {
        raiseFileLimit()
        var serverCPUs: String?
        if pin, host == nil {
            let cpus = ProcessInfo.processInfo.activeProcessorCount
            guard cpus >= 2 else { throw BenchError("--pin needs at least two CPUs") }
            serverCPUs = "\(cpus - 1)"
            try pinSelf(to: cpus == 2 ? "0" : "0-\(cpus - 2)")
        }
        if let host {
            guard let file = passwordFile, let pw = PasswordFile.read(file) else { throw BenchError("--host needs --password-file") }
            return ServerUnderTest(host: host, port: port, password: pw)
        }
        return try ServerUnderTest(spawnWithPassword: randomPassword(), maxQueuedBytes: maxQueuedBytes, threads: serverThreads, cpus: serverCPUs)
    }

    func write(_ figures: [String: Any]) throws {
        guard let json else { return }
        let data = try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: json))
    }
}

func randomPassword() -> String {
    String((0..<20).map { _ in "abcdefghjkmnpqrstuvwxyz23456789".randomElement()! })
}
