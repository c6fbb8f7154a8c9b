import Crypto
import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import SottoClient
import SottoCore
@testable import SottoServer

/// The real server, made to record and to misbehave through its test hook.
final class RelayRecorder: @unchecked Sendable {
    private let lock = NIOLock()
    private var seen: [ChatMessage] = []
    /// Decides what is delivered for the n-th relayed message (1-based).
    var rewrite: ((Int, ChatMessage) -> [ChatMessage])?

    func hook(_ m: ChatMessage) -> [ChatMessage] {
        let n: Int = lock.withLock { seen.append(m); return seen.count }
        return rewrite?(n, m) ?? [m]
    }

    var messages: [ChatMessage] { lock.withLock { seen } }
}

@Suite(.takesTurns) struct EndToEndEncryptionTests {
    func start(_ names: [String]) async throws -> (TestServer, RelayRecorder, [TestClient]) {
        let server = try await TestServer(limits: relaxedLimits())
        let recorder = RelayRecorder()
        server.server.relayHook = recorder.hook
        let clients = try names.map { try TestClient($0, server: server) }
        for c in clients { try await c.connectAndWait() }
        for c in clients { try await c.waitForUsers(names.sorted()) }
        return (server, recorder, clients)
    }

    @Test func theServerRelaysOnlyWhatItCannotRead() async throws {
        let (server, recorder, clients) = try await start(["alice", "bob", "carol"])
        let (alice, bob, carol) = (clients[0], clients[1], clients[2])
        alice.client.send("the eagle lands at noon")
        bob.client.send("copy that, eagle")
        carol.client.send("a secret for alice", to: "alice")
        try await alice.waitForMessages(3)
        try await bob.waitForMessages(2)
        try await carol.waitForMessages(3)
        #expect(Set(alice.messages.map(\.text)) == ["the eagle lands at noon", "copy that, eagle", "a secret for alice"])
        #expect(bob.messages.map(\.text).sorted() == ["copy that, eagle", "the eagle lands at noon"])
        #expect(!bob.messages.contains { $0.text.contains("secret") })
        for m in alice.messages where !m.isOwn {
            #expect(m.encryption == "end-to-end" && m.trust == .unverified)
        }
        #expect(alice.messages.first { $0.isDirect }?.conversation == .direct("carol"))
        // What the server held: three bodies, none readable.
        #expect(recorder.messages.count == 3)
        for m in recorder.messages {
            for secret in ["eagle", "noon", "copy", "secret", "alice"] {
                #expect(!m.body.containsSubsequence(Array(secret.utf8)))
            }
            #expect(try MessageEnvelope(decoding: m.body).ciphertext.count > 0)
        }
        // The direct message, handed to bob's session by a misbehaving server: refused.
        let direct = try #require(recorder.messages.first { $0.to == "alice" })
        let bobSession = try #require(bob.client.endToEndSessionForTesting())
        let attempt = try await bob.client.onNetworkThreadForTesting { bobSession.open(direct, now: Date()) }
        #expect(attempt.count == 1 && !attempt.contains { if case .message = $0 { true } else { false } })
        for c in clients { c.stop() }
        await server.stop()
    }

    @Test func aMemberAwayReadsWhatWaitedAndOneReleasedCannotReadWhatFollows() async throws {
        let (server, recorder, clients) = try await start(["alice", "bob", "carol"])
        let (alice, bob, carol) = (clients[0], clients[1], clients[2])
        alice.client.send("while carol is here")
        try await carol.waitForMessages(1)
        carol.client.disconnect()
        try await alice.waitForUsers(["alice", "bob"])
        // Away is not gone: what is said now waits for carol on the server, sealed to her prekey.
        alice.client.send("while carol is away")
        alice.client.send("for carol, while she is away", to: "carol")
        try await bob.waitForMessages(2)
        try await eventually("stored") { alice.client.pendingCount() == 0 }
        carol.client.connect()
        try await carol.waitForMessages(3)
        #expect(carol.messages.map(\.text) == ["while carol is here", "while carol is away", "for carol, while she is away"])
        #expect(carol.errors.isEmpty, "\(carol.errors)")

        // Then the operator releases her name while she is away: she leaves the room, and
        // what follows is sealed under new chains she is not given.
        let kept = try #require(carol.client.endToEndSessionForTesting())
        carol.client.disconnect()
        try await alice.waitForUsers(["alice", "bob"])
        _ = try server.server.configuration.members.release(try Username("carol"))
        server.server.syncMembers()
        try await eventually("alice is told") { alice.notices.contains(.removed("carol")) }
        // The list follows the notice (a membership change is announced after what it says):
        // a full run under load saw the list a moment behind.
        try await eventually("alice lists carol no more") { alice.lastMembers?.map(\.name) == ["alice", "bob"] }
        alice.client.send("after carol left")
        alice.client.send("for bob only", to: "bob")
        try await bob.waitForMessages(4)
        let later = recorder.messages.suffix(2)
        #expect(later.count == 2)
        // Carol's session still holds alice's old chain and believes alice a member.
        let now = Date()
        for m in later {
            let events = kept.open(m, now: now)
            #expect(!events.contains { if case .message = $0 { true } else { false } })
        }
        #expect(kept.expire(now: now.addingTimeInterval(60)).contains(.undecryptable(from: "alice", count: 1)))
        for c in clients { c.stop() }
        await server.stop()
    }

    @Test func tamperedReplayedReorderedAndForgedMessagesAreHandled() async throws {
        let (server, recorder, clients) = try await start(["alice", "bob"])
        let (alice, bob) = (clients[0], clients[1])
        var held: ChatMessage?
        recorder.rewrite = { n, m in
            var m = m
            switch n {
            case 2:  // replayed: delivered twice
                var again = m
                again.sequence += 10_000
                return [m, again]
            case 3:  // tampered
                var e = try! MessageEnvelope(decoding: m.body)
                e.ciphertext[0] ^= 0x40
                m.body = e.encoded()
                return [m]
            case 4:  // reordered: held until after the fifth
                held = m
                return []
            case 5:
                return [m, held!]
            case 6:  // forged: someone else's signature
                var e = try! MessageEnvelope(decoding: m.body)
                e.signature = Array(try! Curve25519.Signing.PrivateKey().signature(for: e.ciphertext))
                m.body = e.encoded()
                return [m]
            default:
                return [m]
            }
        }
        for i in 1...7 { alice.client.send("m\(i)") }
        try await bob.waitForMessages(5)
        try await eventually("rejections reported") { bob.systemLines.filter { $0.hasPrefix("Rejected a message from alice") }.count == 3 }
        #expect(bob.messages.map(\.text) == ["m1", "m2", "m5", "m4", "m7"])
        let rejections = bob.systemLines.filter { $0.hasPrefix("Rejected") }
        #expect(rejections.contains("Rejected a message from alice: a message index was used twice (replay)."))
        #expect(rejections.filter { $0 == "Rejected a message from alice: a message's signature does not verify." }.count == 2)
        let counts = try #require(bob.client.endToEndSessionForTesting()).rejections
        #expect(counts == ["reused index": 1, "bad signature": 2])
        for c in clients { c.stop() }
        await server.stop()
    }

    @Test func aChangedIdentityKeyRaisesTheWarningUntilAccepted() async throws {
        let (server, _, clients) = try await start(["alice", "bob"])
        let (alice, bob) = (clients[0], clients[1])
        bob.stop()
        try await alice.waitForUsers(["alice"])
        // "bob" again, from another device (a new identity): the same name, another key. The
        // server binds names to identities, so its operator released the name first (or the
        // server lies: the clients' warning below must not depend on it).
        _ = try server.server.configuration.members.release(Username("bob"))
        let impostor = try TestClient("bob", server: server)
        try await impostor.connectAndWait()
        try await eventually("warning") {
            alice.notices.contains { if case .keyChanged(name: "bob", _, _) = $0 { true } else { false } }
        }
        #expect(lastUsers(alice)?.first { $0.name == "bob" }?.trust == .changed(previous: alice.client.identityInfo(of: "bob").map { _ in previousFingerprint(alice) } ?? ""))
        impostor.client.send("trust me")
        try await alice.waitForMessages(1)
        guard case .changed = alice.messages[0].trust else { Issue.record("not marked"); return }
        #expect(alice.messages[0].encryption == "end-to-end, sender key changed")
        // Alice's messages do not reach the new key: it never gets her chain.
        alice.client.send("not for impostors")
        try await eventually("gap at bob") { impostor.notices.contains(.undecryptable(from: "alice", count: 1)) }
        #expect(!impostor.messages.contains { $0.text == "not for impostors" })
        // Alice compares safety numbers out of band and accepts the key.
        #expect(alice.client.identityInfo(of: "bob")?.safetyNumber?.split(separator: " ").count == 12)
        alice.client.verify("bob")
        try await eventually("verified") { alice.notices.contains { if case .verified(name: "bob", _) = $0 { true } else { false } } }
        alice.client.send("now you can read this")
        try await impostor.waitForMessages(2)
        #expect(impostor.messages.last?.text == "now you can read this")
        #expect(lastUsers(alice) == [
            SottoClient.Member(name: "alice", fingerprint: alice.client.identityInfo()!.fingerprint, trust: .verified, isMe: true),
            SottoClient.Member(name: "bob", fingerprint: alice.client.identityInfo(of: "bob")!.fingerprint, trust: .verified),
        ])
        alice.stop(); impostor.stop()
        await server.stop()
    }
}

func lastUsers(_ c: TestClient) -> [SottoClient.Member]? {
    for event in c.events.reversed() { if case .users(let members) = event { return members } }
    return nil
}

/// The fingerprint alice had pinned for bob, from her warning event.
func previousFingerprint(_ c: TestClient) -> String {
    for notice in c.notices { if case .keyChanged(_, let previous, _) = notice { return previous } }
    return ""
}
