import Foundation
import SottoClient
import SottoCore
import Testing

/// A server the person trusts (its own invite, or trust on first use) that lies: it relays
/// logins elsewhere, lists names no server may accept, invents messages, never ends a list.
@Suite(.takesTurns) struct HostileServerTests {
    /// The real server's hello, copied by the hostile one: same salt, same scrypt.
    static func copiedHello(of real: TestServer) -> ServerHello {
        let c = real.server.configuration
        return ServerHello(serverName: c.serverName, maxBodyBytes: UInt32(c.limits.maxBodyBytes), passwordSalt: c.passwordSalt, scrypt: c.scrypt)
    }

    /// Finding: the login carried scrypt(password, salt) itself, so a second server that
    /// copied the real one's salt received a key that logged in to the real one. Now the
    /// login is a proof bound to its own handshake: relayed, it is refused.
    @Test func aLoginRelayedByAnotherTrustedServerDoesNotLogIn() async throws {
        let real = try await TestServer(limits: relaxedLimits())
        let hostile = try HostileServer()
        let alice = try TestClient("alice", server: real, trust: TrustPolicy(vouched: hostile.fingerprint), port: hostile.port, reconnect: false)
        let hello = Self.copiedHello(of: real)
        async let relayed: ServerRecord? = onOwnThread {
            let victim = try hostile.accept()
            let (login, _) = try victim.respond(hello: hello, staticKey: hostile.key)
            // Alice's proof and name, replayed on a fresh connection to the real server (her
            // identity bundle is bound to her device key, so the relay leaves it out).
            var relayed = login
            relayed.identity = []
            return try RawConnection(port: real.port).relayLogin { _, _ in relayed }
        }
        alice.client.connect()
        let answer = try await relayed
        guard case .error(let error)? = answer else {
            Issue.record("the relayed login was answered with \(String(describing: answer))")
            return
        }
        #expect(error.code == .wrongPassword)
        #expect(real.server.onlineCount == 0)
        // The same person, logging in to the real server itself, is welcome.
        let direct = try TestClient("alice", server: real)
        try await direct.connectAndWait()
        direct.stop()
        alice.stop()
        await real.stop()
    }

    /// A client refuses a server whose password hashing is too cheap to protect the proof
    /// it would receive (an offline guess per scrypt).
    @Test func aServerAskingForCheapPasswordHashingIsRefused() async throws {
        let real = try await TestServer(limits: relaxedLimits())
        let hostile = try HostileServer()
        let alice = try TestClient("alice", server: real, trust: TrustPolicy(vouched: hostile.fingerprint), port: hostile.port,
                                   reconnect: false) { $0.minimumPasswordHashing = .floor }
        var cheap = Self.copiedHello(of: real)
        cheap.scrypt = ScryptParameters(log2N: 10, r: 1, p: 1)
        let hello = cheap
        async let loggedIn: Bool = onOwnThread {
            let victim = try hostile.accept()
            return (try? victim.respond(hello: hello, staticKey: hostile.key)) != nil
        }
        alice.client.connect()
        #expect(try await loggedIn == false, "the client sent a login to a server with cheap password hashing")
        try await eventually("refused") { alice.failure != nil }
        guard case .protocolError(let why)? = alice.failure else { Issue.record("\(String(describing: alice.failure))"); return }
        #expect(why.contains("weaker than this client accepts"))
        alice.stop()
        await real.stop()
    }

    /// Names no login could have (control characters, empty, not NFC, invisible) are left
    /// out of the list, loudly; a message in our name that we never sent is not shown; a
    /// list that never ends is cut off.
    @Test func listedNamesAreValidatedAndInventedOwnMessagesAreNotShown() async throws {
        let real = try await TestServer(limits: relaxedLimits())
        let hostile = try HostileServer()
        let alice = try TestClient("alice", server: real, trust: TrustPolicy(vouched: hostile.fingerprint), port: hostile.port, reconnect: false)
        let hello = Self.copiedHello(of: real)
        let key = { (n: UInt8) in [UInt8](repeating: n, count: 32) }
        let nonce = [UInt8](repeating: 9, count: WireLimits.sessionNonceLength)
        let bad = ["\u{1B}]0;owned\u{07}", "", "a\u{0}b", "carol\n", "e\u{301}", "\u{3164}", " dave"]
        async let closed: Bool = onOwnThread {
            let victim = try hostile.accept()
            let (login, _) = try victim.respond(hello: hello, staticKey: hostile.key)
            let me = OnlineUser(name: "alice", staticKey: key(1), identityDigest: [], sessionNonce: login.sessionNonce)
            let users = [me, OnlineUser(name: "bob", staticKey: key(2), sessionNonce: nonce)]
                + bad.enumerated().map { OnlineUser(name: $1, staticKey: key(UInt8(10 + $0)), sessionNonce: nonce) }
            try victim.sendRecords([
                ServerRecord.welcome(name: "alice", time: 0).encoded(),
                ServerRecord.users(users, final: true).encoded(),
                ServerRecord.presence(Presence(event: .joined, user: OnlineUser(name: "mal\u{1B}[2K", staticKey: key(3), sessionNonce: nonce), time: 0)).encoded(),
                // Live from here: a copy "from alice" that this device did not send is an invention.
                ServerRecord.caughtUp(position: 0, dropped: 0).encoded(),
                ServerRecord.message(ChatMessage(sequence: 1, time: 0, from: "alice", to: "bob", clientMessageID: 77, body: [1, 2, 3])).encoded(),
            ])
            // Then list parts that never end: past the bound, the client hangs up.
            let part = (0..<500).map { OnlineUser(name: "m\($0)", staticKey: key(4), sessionNonce: nonce) }
            for _ in 0...(WireLimits.maxListedMembers / part.count) {
                guard (try? victim.sendRecords([ServerRecord.users(part, final: false).encoded()])) != nil else { break }
            }
            return victim.isClosedByPeer()
        }
        alice.client.connect()
        #expect(try await closed)
        try await eventually("cut off") { alice.failure != nil }
        #expect(alice.failure == .protocolError("the server's online list has more than \(WireLimits.maxListedMembers) members"))
        let lists = alice.events.compactMap { if case .users(let u) = $0 { u.map(\.name) } else { nil } }
        #expect(lists.first == ["alice", "bob"])
        #expect(alice.errors.filter { $0.contains("name is not allowed") }.count == bad.count + 1)
        #expect(alice.messages.isEmpty)
        #expect(alice.errors.contains { $0.contains("a message in your name that this device did not send") })
        alice.stop()
        await real.stop()
    }
}
