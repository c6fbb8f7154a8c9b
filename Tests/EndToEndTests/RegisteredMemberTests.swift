import Foundation
import SottoClient
import SottoCore
import Testing
@testable import SottoServer

/// A name is a member's from its first login: a stranger with the password cannot take it
/// while its owner is offline.
@Suite(.takesTurns) struct RegisteredMemberTests {
    /// The attacker: someone who knows the server password, on a client of their own (a new
    /// identity), logging in as alice, or as a name that reads as hers, while she is away.
    @Test func aStrangerWithThePasswordCannotTakeAnOfflineMembersName() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let identity = try ClientIdentity.generate()
        let alice = try TestClient("alice", server: server, identity: identity)
        try await alice.connectAndWait()
        alice.stop()
        try await eventually("alice gone") { server.server.onlineCount == 0 }

        let port = server.port
        let answers = try await onOwnThread {
            try ["alice", "ALICE", "aIice"].map { name in UncheckedBox(try RawConnection(port: port).attemptLogin(name: name).1) }
        }.map(\.value)
        for (name, answer) in zip(["alice", "ALICE", "aIice"], answers) {
            guard case .error(let error)? = answer else { Issue.record("\(name) was let in: \(String(describing: answer))"); continue }
            #expect(error.code == .nameTaken, "\(name)")
            #expect(error.text.contains("another member of this server"), "\(name): \(error.text)")
        }
        if case .error(let e)? = answers.last { #expect(e.text.contains("The name aIice (U+0061 U+0049 U+0069 U+0063 U+0065) reads like alice")) }

        // Alice herself, from her own device, comes back under her name.
        let back = try TestClient("alice", server: server, identity: identity)
        try await back.connectAndWait()
        back.stop()
        await server.stop()
    }

    /// Review finding: records sent with message 3 arrived while the name was being checked
    /// (off the loop) and were dropped. A member's first words are heard.
    @Test func recordsSentWithTheLoginAreRelayedOnceItIsAccepted() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let port = server.port
        let heard = try await onOwnThread { () -> UncheckedBox<ServerRecord?> in
            let watcher = try RawConnection(port: port)
            try watcher.login(name: "watcher")
            let keys = try IdentityKeys()
            let eager = try RawConnection(port: port)
            let first = ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 1, body: Array("first words".utf8))).encoded()
            let answer = try eager.loginWithPayload(identity: keys.noiseStatic, { hello, hash in
                try eager.loginPayload(name: "eager", bundle: keys.encodedBundle, hello: hello, handshakeHash: hash)
            }, thenSend: [first])
            guard case .welcome? = answer else { return UncheckedBox(answer) }
            return UncheckedBox(try watcher.readUntil { if case .message = $0 { true } else { false } })
        }.value
        guard case .message(let message)? = heard else { Issue.record("not relayed: \(String(describing: heard))"); return }
        #expect(message.from == "eager" && message.body == Array("first words".utf8))
        await server.stop()
    }

    /// A newcomer's stream starts where the room heard of them, not at what is committed by
    /// the time that is looked up: their own first message, committed meanwhile, came back as
    /// an acknowledgement without its copy (the stock Noise client of `ProcessTests` saw it
    /// on a busy machine). Here the lookup waits until that message is committed.
    @Test func aNewcomersFirstMessageComesBackToThemWhateverIsCommittedFirst() async throws {
        let store = StreamReadAfterFirstCommit()
        let server = try await TestServer(limits: relaxedLimits()) { $0.deliveries = store }
        let port = server.port
        let (copies, acked) = try await onOwnThread { () -> (Int, Bool) in
            let newcomer = try RawConnection(port: port)
            let first = ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 1, body: Array("hello, I am new".utf8))).encoded()
            _ = try newcomer.loginWithPayload({ hello, hash in try newcomer.loginPayload(name: "newcomer", hello: hello, handshakeHash: hash) },
                                              thenSend: [first])
            var copies = 0
            let ack = try newcomer.readUntil { record in
                if case .message(let m) = record, m.from == "newcomer" { copies += 1 }
                if case .ack = record { return true }
                return false
            }
            return (copies, ack != nil)
        }
        #expect(acked)
        #expect(copies == 1)
        await server.stop()
    }

    /// Review finding (the fix above): a message given its position before a newcomer was
    /// announced, and committed only after their stream went live, reached them as it was
    /// committed: a newcomer must get nothing from before they joined.
    @Test func aMessageCommittedAfterANewcomerArrivedButSentBeforeIsNotTheirs() async throws {
        let store = GatedStore(gating: .commit)
        let server = try await TestServer(limits: relaxedLimits()) { $0.deliveries = store }
        let port = server.port
        let texts = try await onOwnThread { () -> [String] in
            let speaker = try RawConnection(port: port)
            try speaker.login(name: "speaker")
            store.hold()
            try speaker.sendRecords([ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 1, body: Array("before you came".utf8))).encoded()])
            Thread.sleep(forTimeInterval: 0.2)  // numbered, its commit held
            let newcomer = try RawConnection(port: port)
            try newcomer.login(name: "newcomer")
            Thread.sleep(forTimeInterval: 0.2)  // their stream read and caught up meanwhile
            store.release()
            try speaker.sendRecords([ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 2, body: Array("after you came".utf8))).encoded()])
            var texts: [String] = []
            _ = try newcomer.readUntil { record in
                guard case .message(let m) = record else { return false }
                texts.append(String(decoding: m.body, as: UTF8.self))
                return texts.last == "after you came"
            }
            return texts
        }
        #expect(texts == ["after you came"])
        await server.stop()
    }

    /// Found by a CLI test that failed one run in six: a new member whose first session closed
    /// before the server had read where their stream starts kept no start; at their next
    /// login it started anew, and what was sent to them meanwhile was confirmed away unseen.
    @Test func aNewMemberGoneAtOnceStillGetsWhatWaitedAtTheirNextLogin() async throws {
        let store = GatedStore(gating: .streamRead)
        let server = try await TestServer(limits: relaxedLimits()) { $0.deliveries = store }
        let port = server.port
        let texts = try await onOwnThread { () -> [String] in
            let speaker = try RawConnection(port: port)
            try speaker.login(name: "speaker")
            let bobKey = DHPrivateKey()
            store.hold()
            do {
                let bob = try RawConnection(port: port)
                try bob.login(name: "bob", identity: bobKey)
            }  // closed at once, while the server reads where bob's stream starts
            _ = try speaker.readUntil { if case .presence(let p) = $0 { p.event == .left && p.user.name == "bob" } else { false } }
            store.release()  // the read answers once bob is gone
            try speaker.sendRecords([ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 1, body: Array("while you were away".utf8))).encoded()])
            _ = try speaker.readUntil { if case .ack = $0 { true } else { false } }
            let bob = try RawConnection(port: port)
            try bob.login(name: "bob", identity: bobKey)
            var texts: [String] = []
            _ = try bob.readUntil { record in
                if case .message(let m) = record { texts.append(String(decoding: m.body, as: UTF8.self)) }
                if case .caughtUp = record { return true }
                return false
            }
            return texts
        }
        #expect(texts == ["while you were away"])
        await server.stop()
    }

    /// Review finding: the operator released alice while she was online; a stranger's login
    /// as alice was refused (she is online) but had registered the name already, so alice
    /// was locked out at her next login. A refused login binds nothing.
    @Test func aLoginRefusedBecauseTheNameIsOnlineBindsNothing() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let identity = try ClientIdentity.generate()
        let alice = try TestClient("alice", server: server, identity: identity)
        try await alice.connectAndWait()
        let members = server.server.configuration.members
        _ = try members.release(Username("alice"))
        let port = server.port
        let answer = try await onOwnThread { UncheckedBox(try RawConnection(port: port).attemptLogin(name: "alice").1) }.value
        guard case .error(let error)? = answer else { Issue.record("let in: \(String(describing: answer))"); return }
        #expect(error.code == .nameTaken)
        try await eventually("the stranger's registration withdrawn") { try members.members().isEmpty }
        alice.client.shutdown()
        try await eventually("alice gone") { server.server.onlineCount == 0 }
        let back = try TestClient("alice", server: server, identity: identity)
        try await back.connectAndWait()
        back.stop()
        await server.stop()
    }

    /// A login whose bundle does not verify is refused and binds nothing: the name's owner
    /// can still register it afterwards.
    /// A password holder minting identities to register names by the thousand (every login
    /// receives the whole member list: 20,000 names would make it too long to read) registers
    /// a few, then is told to wait; members already registered log in as before.
    @Test func registrationsFromOneAddressAreBudgeted() async throws {
        var limits = relaxedLimits()
        limits.registrationBurst = 3
        limits.registrationInterval = 3_600
        let server = try await TestServer(limits: limits)
        let port = server.port
        let keys = (0..<5).map { _ in DHPrivateKey() }
        let answers = try await onOwnThread {
            try (0..<5).map { i in UncheckedBox(try RawConnection(port: port).attemptLogin(name: "minted\(i)", identity: keys[i]).1) }
        }.map(\.value)
        #expect(answers.prefix(3).allSatisfy { if case .welcome? = $0 { true } else { false } }, "\(answers)")
        for answer in answers.suffix(2) {
            guard case .error(let e)? = answer else { Issue.record("\(String(describing: answer))"); continue }
            #expect(e.code == .tooManyAttempts && e.text.contains("Too many new names were registered from your address"))
        }
        // A member returns: no registration, no budget spent.
        let back = try await onOwnThread { UncheckedBox(try RawConnection(port: port).attemptLogin(name: "minted0", identity: keys[0]).1) }.value
        #expect({ if case .welcome? = back { true } else { false } }(), "\(String(describing: back))")
        await server.stop()
    }

    @Test func aForgedIdentityCannotSquatAName() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let keys = try IdentityKeys()
        var forged = keys.encodedBundle
        forged[forged.count - 1] ^= 1  // the signature is the last field
        let port = server.port
        let answer = try await onOwnThread { () -> UncheckedBox<ServerRecord?> in
            let squatter = try RawConnection(port: port)
            return UncheckedBox(try squatter.loginWithPayload(identity: keys.noiseStatic, { hello, hash in
                try squatter.loginPayload(name: "carol", bundle: forged, hello: hello, handshakeHash: hash)
            }, thenSend: []))
        }.value
        #expect(answer == .error(ServerError(.invalidIdentity, fatal: true)))
        let carol = try TestClient("carol", server: server)
        try await carol.connectAndWait()
        carol.stop()
        await server.stop()
    }
}

/// The operator's side, with the real executables: `sotto-server members list|release`
/// working on the data directory while the server runs.
@Suite(.takesTurns) struct MembersCommandTests {
    @Test func theOperatorListsAndReleasesANameWhileTheServerRuns() async throws {
        let data = temporaryDirectory("server-members")
        let (server, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data)
        let cli = Products.url("sotto-cli")
        func login(_ directory: URL) async throws -> (Int32?, String) {
            let client = try ChildProcess(cli, ["--host", "127.0.0.1", "--port", "\(port)", "--user", "alice", "--trust", fingerprint],
                                          environment: ["SOTTO_CONFIG_DIR": directory.path, "SOTTO_PASSWORD": password])
            client.closeInput()  // logs in, then leaves: nothing to send
            return (await client.waitForExit(timeout: 60), client.stdout + client.stderr)
        }
        let owner = temporaryDirectory("cli-owner"), newcomer = temporaryDirectory("cli-newcomer")
        #expect(try await login(owner).0 == 0)
        let (refused, said) = try await login(newcomer)
        #expect(refused == 5, "\(said)")
        #expect(said.contains("belongs to another member of this server"), "\(said)")

        func members(_ arguments: [String]) async throws -> (Int32?, String) {
            let run = try ChildProcess(Products.url("sotto-server"), ["members"] + arguments + ["--data-dir", data.path])
            return (await run.waitForExit(), run.stdout + run.stderr)
        }
        let ownerFingerprint = try ClientIdentity.loadOrCreate(in: owner).fingerprint
        let (listed, list) = try await members(["list"])
        #expect(listed == 0)
        #expect(list.hasPrefix("alice\t\(ownerFingerprint)\tregistered "), "\(list)")
        let (released, release) = try await members(["release", "ALICE"])
        #expect(released == 0)
        #expect(release.contains("Released alice (was \(ownerFingerprint))"), "\(release)")
        let (again, refusal) = try await members(["release", "alice"])
        #expect(again == 1 && refusal == "sotto-server: nobody is registered as alice.\n", "\(refusal)")

        // Free from the next login on: the newcomer takes it, and the old owner is refused.
        #expect(try await login(newcomer).0 == 0)
        #expect(try await login(owner).0 == 5)
        server.signal(SIGTERM)
        #expect(await server.waitForExit() == 0)
    }
}

/// The in-memory log, whose answer to "where does this member's stream start" waits (up to two
/// seconds) until a message has been committed.
final class StreamReadAfterFirstCommit: DeliveryStore, @unchecked Sendable {
    let inner = InMemoryDeliveryStore()
    private let committed = DispatchSemaphore(value: 0)
    func startup() throws -> DeliveryStartup { try inner.startup() }
    func commit(_ batch: DeliveryBatch) throws {
        try inner.commit(batch)
        if !batch.deliveries.isEmpty { committed.signal() }
    }
    func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64) {
        _ = committed.wait(timeout: .now() + 2)
        return try inner.stream(of: member)
    }
    func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage {
        try inner.pending(for: member, after: after, through: through, limit: limit, maxBytes: maxBytes)
    }
    func prune(now: UInt64, retention: Retention) throws { try inner.prune(now: now, retention: retention) }
    func confirmedPositions() throws -> [String: UInt64] { try inner.confirmedPositions() }
}

/// The in-memory log, one of whose operations waits while the test holds it: its commits (a
/// slow writer) or its answers to "where does this member's stream start" (a slow read).
final class GatedStore: DeliveryStore, @unchecked Sendable {
    enum Operation { case commit, streamRead }
    let inner = InMemoryDeliveryStore()
    private let gated: Operation
    private let gate = NSCondition()
    private var holding = false
    init(gating: Operation) { gated = gating }
    func hold() { gate.withLock { holding = true } }
    func release() { gate.withLock { holding = false; gate.broadcast() } }
    private func pass(_ operation: Operation) {
        guard operation == gated else { return }
        gate.withLock { while holding { _ = gate.wait(until: Date().addingTimeInterval(5)) } }
    }
    func startup() throws -> DeliveryStartup { try inner.startup() }
    func commit(_ batch: DeliveryBatch) throws {
        pass(.commit)
        try inner.commit(batch)
    }
    func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64) {
        pass(.streamRead)
        return try inner.stream(of: member)
    }
    func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage {
        try inner.pending(for: member, after: after, through: through, limit: limit, maxBytes: maxBytes)
    }
    func prune(now: UInt64, retention: Retention) throws { try inner.prune(now: now, retention: retention) }
    func confirmedPositions() throws -> [String: UInt64] { try inner.confirmedPositions() }
}
