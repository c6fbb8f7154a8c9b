import Foundation
import SottoClient
import SottoCore
import Testing
@testable import SottoServer

/// Messages for a member who is away wait on the real server, as ciphertext, and reach them
/// at their next login exactly once and in order: across a SIGKILL of the server, and with
/// the member's app started afresh (its state read back from its key store).
@Suite(.takesTurns) struct OfflineDeliveryTests {
    /// A person's app: its own config and data directories, its key store on disk.
    static func app(_ name: String, port: Int, fingerprint: String, password: String, directory: URL)
        throws -> (ChatClient, EventLog, Counter) {
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, username: name, password: password,
                                                trust: TrustPolicy(vouched: fingerprint))
        configuration.backoffBase = 0.1
        configuration.backoffMax = 0.5
        let identity = try ClientIdentity.loadOrCreate(in: directory)
        let log = EventLog(), counter = Counter()
        let client = ChatClient(configuration: configuration, identity: identity, knownServers: KnownServers(url: KnownServers.defaultURL(in: directory)),
                                keyStore: SQLiteKeyStateStore(dataDirectory: directory.appendingPathComponent("data"), identityFingerprint: identity.fingerprint)) { event in
            log.append(event)
            if case .message(let m) = event, !m.isOwn { counter.add(m.text) }
        }
        return (client, log, counter)
    }

    /// carol registered and away; alice and mallory online, seeing her away; what may wait
    /// for one member is `perMember` bytes.
    static func carolAway(perMember: Int) async throws
        -> (TestServer, (String, URL) throws -> (ChatClient, EventLog, Counter), carolHome: URL, alice: ChatClient, mallory: ChatClient, malloryLog: EventLog) {
        let server = try await TestServer(limits: relaxedLimits(), scrypt: .floor) {
            $0.retention = Retention(maxAge: 3_600, maxTotalBytes: 1 << 30, maxBytesPerMember: perMember)
        }
        let app = { (name: String, home: URL) throws -> (ChatClient, EventLog, Counter) in
            try Self.app(name, port: server.port, fingerprint: server.fingerprint, password: TestServer.password, directory: home)
        }
        let carolHome = temporaryDirectory("flooded-carol")
        do {
            let (carol, carolLog, _) = try app("carol", carolHome)
            carol.connect()
            try await CrashRecoveryTests.setup("carol registers", ["carol": carolLog]) { carolLog.contains(.caughtUp) }
            carol.shutdown()
        }
        let (alice, aliceLog, _) = try app("alice", temporaryDirectory("flooded-alice"))
        let (mallory, malloryLog, _) = try app("mallory", temporaryDirectory("flooded-mallory"))
        alice.connect()
        mallory.connect()
        try await CrashRecoveryTests.setup("both see carol away", ["alice": aliceLog, "mallory": malloryLog]) {
            [aliceLog, malloryLog].allSatisfy { log in
                log.snapshot.contains { if case .users(let u) = $0 { u.contains { $0.name == "carol" && !$0.online } } else { false } }
            }
        }
        return (server, app, carolHome, alice, mallory, malloryLog)
    }

    /// An attacker's review: mallory, a member with the stock client, sent carol (away)
    /// direct messages until what may wait for her was full, and retention gave up her oldest
    /// entries, alice's message among them: carol never saw it. One sender may fill only a
    /// share of what waits for a member; past it their messages to her are refused, to them.
    @Test func aMemberCannotPushOutWhatOthersSentToSomeoneAway() async throws {
        try await floodingCarolLeavesWhatOthersSentHer(floodTo: "carol", refusal: "Too much from you is already waiting for carol", share: 1.0 / 4)
    }

    /// An attacker's review: one member flooding the room filled what may wait for someone
    /// away, and retention gave up their oldest entries: what others had written to them (and
    /// the keys to read it) was gone at their return. One sender may fill only a quarter of it
    /// in the room too; past that they are refused, and told.
    @Test func aMemberCannotFloodTheRoomToPushOutWhatOthersSentSomeoneAway() async throws {
        // Refused past a quarter once three quarters wait in all (before that nothing is given up).
        try await floodingCarolLeavesWhatOthersSentHer(floodTo: "", refusal: "Too much from you is already waiting in the room for members who are away", share: 3.0 / 4)
    }

    /// alice writes to carol (away) and to the room; mallory sends half again as much as may
    /// wait for carol (`floodTo`: her, or the room) and is refused past `share` of it, told so;
    /// retention runs; carol comes back to alice's messages and that much of mallory's at most.
    func floodingCarolLeavesWhatOthersSentHer(floodTo target: String, refusal: String, share: Double) async throws {
        let perMember = 400_000
        let (server, app, carolHome, alice, mallory, malloryLog) = try await Self.carolAway(perMember: perMember)
        let secret = "the real meeting is at 5pm", said = "lunch is on me today"
        alice.send(secret, to: "carol")
        alice.send(said)
        try await eventually("alice's messages stored") { alice.pendingCount() == 0 }
        let flood = String(repeating: "x", count: 10_000)
        for i in 0..<(perMember * 3 / 2 / flood.count) { mallory.send("\(i) \(flood)", to: target) }
        try await eventually("mallory's messages answered", timeout: 60) { mallory.pendingCount() == 0 }
        let refused = malloryLog.snapshot.compactMap { if case .rejected = $0 { 1 } else { nil } }.count
        #expect(refused > 0, "nothing of mallory's was refused")
        #expect(malloryLog.history.contains(refusal), "\(malloryLog.history)")
        // Retention runs (every minute on a real server), then carol comes back.
        await server.server.prune()
        alice.shutdown()
        mallory.shutdown()
        let (carol, carolLog, carolRead) = try app("carol", carolHome)
        carol.connect()
        try await CrashRecoveryTests.setup("carol caught up", ["carol": carolLog]) { carolLog.contains(.caughtUp) }
        try await eventually("alice's messages read") { carolRead.all.contains(secret) && carolRead.all.contains(said) }
        // What mallory was let send waited too, and reached her.
        let fromMallory = carolRead.all.filter { $0.hasSuffix(flood) }.count
        #expect(fromMallory > 0 && fromMallory < Int(Double(perMember) * share) / flood.count + 1, "\(fromMallory) of mallory's")
        carol.shutdown()
        await server.stop()
    }

    @Test func whatWaitsSurvivesASIGKILLAndArrivesOnceInOrderAndTheServerNeverHoldsItsText() async throws {
        let data = temporaryDirectory("offline-server")
        let extra = ["--records-per-second", "100000", "--record-burst", "100000"]
        let (first, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data, extra: extra)
        let bobHome = temporaryDirectory("offline-bob"), aliceHome = temporaryDirectory("offline-alice")
        // Bob registers, then goes away.
        do {
            let (bob, bobLog, _) = try Self.app("bob", port: port, fingerprint: fingerprint, password: password, directory: bobHome)
            bob.connect()
            try await CrashRecoveryTests.setup("bob registers", ["bob": bobLog]) { bobLog.contains(.caughtUp) }
            bob.shutdown()
        }
        let (alice, aliceLog, _) = try Self.app("alice", port: port, fingerprint: fingerprint, password: password, directory: aliceHome)
        alice.connect()
        try await CrashRecoveryTests.setup("alice sees bob away", ["alice": aliceLog]) {
            aliceLog.snapshot.contains { if case .users(let u) = $0 { u.contains { $0.name == "bob" && !$0.online } } else { false } }
        }
        // Markers nobody could guess: if any reaches the server's files, it holds plaintext.
        let marker = UUID().uuidString
        var sent: [String] = []
        for i in 0..<40 {
            let text = "\(marker) room \(i)"
            alice.send(text)
            sent.append(text)
            if i % 8 == 0 {
                let direct = "\(marker) for bob \(i)"
                alice.send(direct, to: "bob")
                sent.append(direct)
            }
        }
        try await eventually("all stored", timeout: 120) { alice.pendingCount() == 0 }

        // The server is killed (no shutdown, no flush) and started again on its data.
        first.signal(SIGKILL)
        _ = await first.waitForExit()
        for file in try FileManager.default.contentsOfDirectory(atPath: data.path) {
            let bytes = try Data(contentsOf: data.appendingPathComponent(file))
            #expect(bytes.range(of: Data(marker.utf8)) == nil, "\(file) holds message text")
        }
        let restarted = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--data-dir", data.path, "--port", "\(port)"] + extra)
        defer { restarted.signal(SIGTERM) }
        try await eventually("restarted", timeout: 20) { restarted.stdout.contains("Waiting for connections...") }

        // Bob's app starts again: everything that waited, once, in the order it was sent.
        let (bob, bobLog, received) = try Self.app("bob", port: port, fingerprint: fingerprint, password: password, directory: bobHome)
        bob.connect()
        try await CrashRecoveryTests.setup("bob catches up", ["bob": bobLog]) { received.count >= sent.count }
        try await eventually("alice is back", timeout: 30) { aliceLog.onlineCount >= 2 }
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(received.all == sent)
        #expect(!bobLog.snapshot.contains { if case .notice(let n) = $0 { n.isWarning } else { false } }, "\(bobLog.history)")
        // And once bob has confirmed, a third start hands him nothing again.
        try await eventually("bob confirmed") { bobLog.contains(.caughtUp) }
        try await Task.sleep(nanoseconds: 300_000_000)
        bob.shutdown()
        let (bob3, bob3Log, again) = try Self.app("bob", port: port, fingerprint: fingerprint, password: password, directory: bobHome)
        bob3.connect()
        try await CrashRecoveryTests.setup("bob back again", ["bob": bob3Log]) { bob3Log.contains(.caughtUp) }
        alice.send("\(marker) live")
        try await eventually("live") { again.count >= 1 }
        #expect(again.all == ["\(marker) live"])
        alice.shutdown(); bob3.shutdown()
    }
}

/// sotto-cli, as a person reads it in a terminal: who is away and since when, and where what
/// waited for them ends and the live conversation begins.
@Suite(.takesTurns) struct OfflineDeliveryCLITests {
    @Test func theCLISaysWhoIsAwayAndWhatWaited() async throws {
        let data = temporaryDirectory("offline-cli")
        let (server, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data)
        defer { server.signal(SIGTERM) }
        let cli = Products.url("sotto-cli")
        let base = ["--host", "127.0.0.1", "--port", "\(port)", "--trust", fingerprint]
        let bobDirs = ["SOTTO_CONFIG_DIR": temporaryDirectory("ocli-bc").path, "SOTTO_DATA_DIR": temporaryDirectory("ocli-bd").path,
                       "SOTTO_PASSWORD": password]
        let first = try ChildProcess(cli, base + ["--user", "bob"], environment: bobDirs)
        try await eventually("bob online") { first.stdout.contains("online as bob") }
        first.closeInput()
        #expect(await first.waitForExit() == 0)
        let aliceDirs = ["SOTTO_CONFIG_DIR": temporaryDirectory("ocli-ac").path, "SOTTO_DATA_DIR": temporaryDirectory("ocli-ad").path,
                         "SOTTO_PASSWORD": password]
        let away = try ChildProcess(cli, base + ["--user", "alice"], environment: aliceDirs)
        try await eventually("alice sees bob away") { away.stdout.contains("* online: alice; away: bob (since ") }
        away.write("the build is green\n/msg bob lunch at noon?\n")
        // At the end of its input sotto-cli leaves once all it sent is acknowledged: stored.
        // (Its echo came earlier; bob, back before the store, read them live, and the test
        // waited in vain for "2 messages waited": CI, loaded.)
        away.closeInput()
        #expect(await away.waitForExit() == 0)
        let back = try ChildProcess(cli, base + ["--user", "bob"], environment: bobDirs)
        do {
            try await eventually("bob reads what waited") { back.stdout.contains("* 2 messages waited for you (above); live from here") }
        } catch {
            Issue.record("bob's output: \(back.stdout)")
            throw error
        }
        let lines = back.stdout.split(separator: "\n").map(String.init)
        let marker = try #require(lines.firstIndex { $0.hasPrefix("* 2 messages waited for you") })
        #expect(lines[..<marker].contains { $0.contains("the build is green") } && lines[..<marker].contains { $0.contains("lunch at noon?") })
        let alice = try ChildProcess(cli, base + ["--user", "alice"], environment: aliceDirs)
        try await eventually("alice online again") { alice.stdout.contains("online as alice") }
        alice.write("welcome back\n")
        try await eventually("live") { back.stdout.contains("welcome back") }
        #expect(back.stdout.components(separatedBy: "waited for you").count == 2, "said once")
        back.closeInput(); alice.closeInput()
        _ = await back.waitForExit(); _ = await alice.waitForExit()
    }
}

/// The member's client killed (SIGKILL) while what waited is being handed over: at its next
/// start it gets what it had not stored, and its history holds every message exactly once.
@Suite(.takesTurns) struct ClientCrashTests {
    @Test(.timeLimit(.minutes(5))) func aClientKilledWhileCatchingUpKeepsEveryMessageOnce() async throws {
        let data = temporaryDirectory("client-crash")
        let (server, port, fingerprint, password) = try await ProcessTests.startServer(
            dataDir: data, extra: ["--records-per-second", "100000", "--record-burst", "100000"])
        defer { server.signal(SIGTERM) }
        let cli = Products.url("sotto-cli")
        let base = ["--host", "127.0.0.1", "--port", "\(port)", "--trust", fingerprint]
        let bobDirs = ["SOTTO_CONFIG_DIR": temporaryDirectory("crash-bc").path, "SOTTO_DATA_DIR": temporaryDirectory("crash-bd").path,
                       "SOTTO_PASSWORD": password]
        let first = try ChildProcess(cli, base + ["--user", "bob", "--json"], environment: bobDirs)
        try await eventually("bob registers") { first.stdout.contains("caught-up") }
        first.closeInput()
        #expect(await first.waitForExit() == 0)

        // Enough wait for bob that handing them over takes a while (on any machine): the kill
        // lands part way.
        let (alice, aliceLog, _) = try OfflineDeliveryTests.app("alice", port: port, fingerprint: fingerprint, password: password,
                                                                directory: temporaryDirectory("crash-alice"))
        alice.connect()
        try await CrashRecoveryTests.setup("alice online", ["alice": aliceLog]) { aliceLog.contains(.caughtUp) }
        let count = 3_000
        for i in 0..<count { alice.send("waited \(i) " + String(repeating: "~", count: 200)) }
        try await eventually("all stored", timeout: 60) { alice.pendingCount() == 0 }

        // Bob's app starts and is killed part way through what waited.
        let killed = try ChildProcess(cli, base + ["--user", "bob", "--json"], environment: bobDirs)
        try await eventually("some shown", timeout: 30) { killed.stdout.contains("\"waited ") }
        killed.signal(SIGKILL)
        _ = await killed.waitForExit()
        let shownBefore = HistoryTests.jsonLines(killed.stdout).filter { $0["type"] as? String == "message" }.count

        // Started again: the rest, and then the history holds each message once.
        let again = try ChildProcess(cli, base + ["--user", "bob", "--json"], environment: bobDirs)
        try await eventually("caught up", timeout: 120) { again.stdout.contains("caught-up") }
        again.write("/history 5000\n")
        try await eventually("history listed", timeout: 60) {
            again.stdout.components(separatedBy: "\"history\":true").count - 1 >= count
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let kept = HistoryTests.jsonLines(again.stdout).filter { $0["history"] as? Bool == true }.compactMap { $0["text"] as? String }
        #expect(kept.count == count, "\(kept.count) kept; \(shownBefore) shown before the kill")
        #expect(Set(kept).count == count)
        #expect(kept == (0..<count).map { "waited \($0) " + String(repeating: "~", count: 200) })
        #expect(shownBefore < count, "the kill came part way through")
        // Nothing was met twice as a replay, nothing went missing as undecryptable.
        let warnings = HistoryTests.jsonLines(again.stdout).filter { $0["type"] as? String == "error" }
        #expect(warnings.isEmpty, "\(warnings)")
        again.closeInput()
        _ = await again.waitForExit()
        alice.shutdown()
    }
}
