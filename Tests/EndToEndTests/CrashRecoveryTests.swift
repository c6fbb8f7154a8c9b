import Foundation
import SottoClient
import SottoCore
import Testing

/// The real server process killed with SIGKILL mid-stream and started again.
@Suite(.takesTurns) struct CrashRecoveryTests {
    /// A client of the server under test, with its event log and the texts it received from others.
    static func client(_ name: String, port: Int, fingerprint: String, password: String, reconnect: Bool = true,
                       backoffMax: Double) throws -> (ChatClient, EventLog, Counter) {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, username: name, password: password,
                                                trust: TrustPolicy(vouched: fingerprint), reconnect: reconnect)
        configuration.backoffBase = 0.1
        configuration.backoffMax = backoffMax
        let dir = temporaryDirectory(name)
        let log = EventLog(), counter = Counter()
        let c = ChatClient(configuration: configuration, identity: try ClientIdentity.loadOrCreate(in: dir),
                           knownServers: KnownServers(url: KnownServers.defaultURL(in: dir))) { event in
            log.append(event)
            if case .message(let m) = event, !m.isOwn { counter.add(m.text) }
        }
        return (c, log, counter)
    }

    /// Setup, not the property under test: the whole suite starts at once on two cores, and a
    /// first login there has taken over 15 s. On a timeout, says what each client went through.
    static func setup(_ what: String, _ logs: [String: EventLog], _ condition: () -> Bool) async throws {
        do {
            try await eventually(what, timeout: 60, condition)
        } catch {
            for (name, log) in logs.sorted(by: { $0.key < $1.key }) { Issue.record("\(name): \(log.history)") }
            throw error
        }
    }

    @Test func afterSIGKILLEveryoneReconnectsAndEveryMessageArrivesExactlyOnce() async throws {
        let data = temporaryDirectory("crash")
        let args = ["--host", "127.0.0.1", "--data-dir", data.path, "--records-per-second", "100000", "--record-burst", "100000"]
        let (first, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data, extra: ["--records-per-second", "100000", "--record-burst", "100000"])
        func client(_ name: String) throws -> (ChatClient, EventLog, Counter) {
            // A loaded test machine may take a while to bring both back.
            try Self.client(name, port: port, fingerprint: fingerprint, password: password, backoffMax: 1)
        }
        let (sender, senderLog, _) = try client("sender")
        let (reader, readerLog, received) = try client("reader")
        sender.connect()
        reader.connect()
        try await Self.setup("they see each other", ["sender": senderLog, "reader": readerLog]) {
            senderLog.lastUsersCount == 2 && readerLog.lastUsersCount == 2
        }

        let count = 400
        for i in 0..<count { sender.send("message \(i) " + String(repeating: "~", count: 300)) }
        try await eventually("some arrive") { received.count >= 50 }
        first.signal(SIGKILL)
        _ = await first.waitForExit()
        let killedAt = Date()
        try await eventually("the sender notices") { senderLog.containsReconnecting }
        for i in count..<(count + 10) { sender.send("message \(i) typed while the server was down") }

        let restarted = try ChildProcess(Products.url("sotto-server"), args + ["--port", "\(port)"])
        defer { restarted.signal(SIGTERM) }
        try await eventually("restarted", timeout: 20) { restarted.stdout.contains("Waiting for connections...") }
        try await eventually("both back", timeout: 15) { senderLog.onlineCount >= 2 && readerLog.onlineCount >= 2 }
        #expect(Date().timeIntervalSince(killedAt) < 15, "reconnected within seconds of the restart")
        do {
            try await eventually("everything delivered", timeout: 90) { received.count >= count + 10 && sender.pendingCount() == 0 }
        } catch {
            let got = Set(received.all.map { $0.split(separator: " ")[1] })
            let missing = (0..<(count + 10)).filter { !got.contains(Substring(String($0))) }
            Issue.record("received \(received.count), pending \(sender.pendingCount()), missing \(missing.prefix(20))")
            throw error
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        let texts = received.all
        #expect(texts.count == count + 10, "each message exactly once (got \(texts.count))")
        #expect(Set(texts.map { $0.split(separator: " ")[1] }) == Set((0..<(count + 10)).map { Substring(String($0)) }))
        sender.shutdown()
        reader.shutdown()
    }
}

extension CrashRecoveryTests {
    /// After a crash, what was acknowledged before is not sent again (the server stored it),
    /// so someone who joined since never reads it: only what came after.
    @Test func whatWasAcknowledgedBeforeACrashNeverReachesSomeoneWhoArrivedAfterwards() async throws {
        let data = temporaryDirectory("crash-newcomer")
        let (first, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data)
        func client(_ name: String, reconnect: Bool = true) throws -> (ChatClient, EventLog, Counter) {
            try Self.client(name, port: port, fingerprint: fingerprint, password: password, reconnect: reconnect, backoffMax: 0.5)
        }
        let (alice, aliceLog, _) = try client("alice", reconnect: false)  // comes back by hand, after carol
        let (bob, bobLog, bobGot) = try client("bob")
        alice.connect(); bob.connect()
        try await Self.setup("they see each other", ["alice": aliceLog, "bob": bobLog]) {
            aliceLog.lastUsersCount == 2 && bobLog.lastUsersCount == 2
        }
        alice.send("said before carol came")
        try await eventually("bob has it") { bobGot.count == 1 }
        try await eventually("acknowledged") { alice.pendingCount() == 0 }

        first.signal(SIGKILL)
        _ = await first.waitForExit()
        let restarted = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--data-dir", data.path, "--port", "\(port)"])
        defer { restarted.signal(SIGTERM) }
        try await eventually("restarted", timeout: 20) { restarted.stdout.contains("Waiting for connections...") }
        let (carol, carolLog, carolGot) = try client("carol")
        carol.connect()
        try await eventually("carol is in") { carolLog.contains(.state(.online)) }
        try await eventually("alice knows she lost the connection") {
            aliceLog.snapshot.contains { if case .state(.failed) = $0 { true } else { false } }
        }
        alice.connect()
        try await eventually("everyone back", timeout: 30) { aliceLog.onlineCount >= 2 && aliceLog.lastUsersCount == 3 }
        alice.send("hello carol")
        try await eventually("carol reads what came after") { carolGot.count >= 1 }
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(carolGot.all == ["hello carol"])
        #expect(bobGot.all == ["said before carol came", "hello carol"])
        alice.shutdown(); bob.shutdown(); carol.shutdown()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var texts: [String] = []
    func add(_ t: String) { lock.withLock { texts.append(t) } }
    var count: Int { lock.withLock { texts.count } }
    var all: [String] { lock.withLock { texts } }
}

extension EventLog {
    /// Who the last member list shows online.
    var lastUsersCount: Int { snapshot.reversed().compactMap { if case .users(let u) = $0 { u.filter(\.online).count } else { nil } }.first ?? 0 }
    var onlineCount: Int { snapshot.filter { $0 == .state(.online) }.count }
    var containsReconnecting: Bool { snapshot.contains { if case .state(.reconnecting) = $0 { true } else { false } } }
}

extension CrashRecoveryTests {
    /// An attacker's review: the server's data directory restored from a backup keeps its
    /// log's id and numbers new messages from where the backup ended; every client had stored
    /// a position past that and skipped what came, without a word, until positions passed it.
    /// Now the log is found behind, said, and read on.
    @Test func aServerRestoredFromABackupIsReadOnAndSaidSo() async throws {
        let data = temporaryDirectory("restore"), backup = temporaryDirectory("restore-backup")
        let (first, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data)
        func client(_ name: String) throws -> (ChatClient, EventLog, Counter) {
            try Self.client(name, port: port, fingerprint: fingerprint, password: password, backoffMax: 0.5)
        }
        let (alice, aliceLog, aliceGot) = try client("alice")
        let (bob, bobLog, _) = try client("bob")
        alice.connect(); bob.connect()
        try await Self.setup("they see each other", ["alice": aliceLog, "bob": bobLog]) {
            aliceLog.lastUsersCount == 2 && bobLog.lastUsersCount == 2
        }
        bob.send("before the backup")
        try await eventually("alice has it") { aliceGot.count == 1 }
        // The backup, taken with the server stopped.
        first.signal(SIGTERM)
        _ = await first.waitForExit()
        try FileManager.default.removeItem(at: backup)
        try FileManager.default.copyItem(at: data, to: backup)
        let second = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--data-dir", data.path, "--port", "\(port)"])
        try await eventually("restarted", timeout: 20) { second.stdout.contains("Waiting for connections...") }
        try await eventually("both back", timeout: 30) { aliceLog.onlineCount >= 2 && bobLog.onlineCount >= 2 }
        for i in 0..<3 { bob.send("after the backup \(i)") }
        try await eventually("alice has them") { aliceGot.count == 4 }
        try await Task.sleep(nanoseconds: 500_000_000)  // stored and confirmed (50 ms)
        // Restored.
        second.signal(SIGTERM)
        _ = await second.waitForExit()
        try FileManager.default.removeItem(at: data)
        try FileManager.default.copyItem(at: backup, to: data)
        let restored = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--data-dir", data.path, "--port", "\(port)"])
        defer { restored.signal(SIGTERM) }
        try await eventually("restored", timeout: 20) { restored.stdout.contains("Waiting for connections...") }
        try await eventually("both back again", timeout: 30) { aliceLog.onlineCount >= 3 && bobLog.onlineCount >= 3 }
        bob.send("after the restore")
        try await eventually("alice reads it", timeout: 20) { aliceGot.all.contains("after the restore") }
        #expect(aliceLog.contains(.notice(.logWentBack)))
        #expect(aliceGot.all.filter { $0 == "after the restore" }.count == 1)
        alice.shutdown(); bob.shutdown()
    }
}
