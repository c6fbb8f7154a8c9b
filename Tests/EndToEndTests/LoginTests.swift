import Foundation
import SottoClient
import SottoCore
import Testing

@Suite(.takesTurns) struct LoginTests {
    @Test func wrongPasswordIsRefusedWithAClearSentence() async throws {
        let server = try await TestServer()
        let mallory = try TestClient("mallory", server: server, password: "guess")
        mallory.client.connect()
        let failure = try await mallory.waitForFailure()
        #expect(failure == .server(ServerError(.wrongPassword, fatal: true)))
        #expect(failure.description == "Wrong server password.")
        #expect(server.server.onlineCount == 0)
        mallory.stop()
        await server.stop()
    }

    @Test func aNameHeldByAnotherIdentityIsRefused() async throws {
        let server = try await TestServer()
        let first = try TestClient("Alice", server: server)
        try await first.connectAndWait()
        let second = try TestClient("alice", server: server)  // same name, other case, other device
        second.client.connect()
        let failure = try await second.waitForFailure()
        guard case .server(let error) = failure else { Issue.record("unexpected \(failure)"); return }
        #expect(error.code == .nameTaken)
        #expect(failure.description.contains("The name alice belongs to another member of this server"))
        #expect(first.state == .online)
        first.stop(); second.stop()
        await server.stop()
    }

    @Test func invalidNamesAreRefused() async throws {
        let server = try await TestServer()
        for bad in ["", String(repeating: "x", count: 33), "tab\there", " lead"] {
            let c = try TestClient(bad, server: server)
            c.client.connect()
            guard case .server(let error) = try await c.waitForFailure() else { Issue.record("no server error for \(bad)"); continue }
            #expect(error.code == .invalidName)
            c.stop()
        }
        await server.stop()
    }

    @Test func theSameIdentityReconnectingReplacesItsStaleSession() async throws {
        let server = try await TestServer()
        let dir = temporaryDirectory("shared-identity")
        let identity = try ClientIdentity.loadOrCreate(in: dir)
        let watcher = try TestClient("watcher", server: server)
        try await watcher.connectAndWait()
        let old = try TestClient("dana", server: server, identity: identity, reconnect: false)
        try await old.connectAndWait()
        try await watcher.waitForUsers(["dana", "watcher"])
        let fresh = try TestClient("dana", server: server, identity: identity)
        try await fresh.connectAndWait()
        let failure = try await old.waitForFailure()
        #expect(failure == .server(ServerError(.replaced, fatal: true)))
        try await watcher.waitForUsers(["dana", "watcher"])
        #expect(server.server.onlineCount == 2)
        #expect(!watcher.systemLines.contains("dana is away"))
        for c in [watcher, old, fresh] { c.stop() }
        await server.stop()
    }

    @Test func aChangedServerKeyIsRefusedShowingBothFingerprints() async throws {
        let server = try await TestServer()
        let dir = temporaryDirectory("pinned")
        let pinned = "SHA256:" + String(repeating: "A", count: 43)
        try KnownServers(url: KnownServers.defaultURL(in: dir)).pin(host: "127.0.0.1", port: server.port, fingerprint: pinned)
        let c = try TestClient("erin", server: server, trust: TrustPolicy(trustOnFirstUse: true), directory: dir)
        c.client.connect()
        let failure = try await c.waitForFailure()
        #expect(failure == .serverKeyChanged(host: "127.0.0.1", port: server.port, expected: pinned, actual: server.fingerprint))
        #expect(failure.description.contains(pinned) && failure.description.contains(server.fingerprint))
        #expect(server.server.onlineCount == 0)
        c.stop()
        await server.stop()
    }

    @Test func anUnknownServerNeedsTrustAndAMismatchedInviteIsRefused() async throws {
        let server = try await TestServer()
        let unknown = try TestClient("fay", server: server, trust: TrustPolicy())
        unknown.client.connect()
        #expect(try await unknown.waitForFailure() == .serverKeyUnknown(host: "127.0.0.1", port: server.port, fingerprint: server.fingerprint))
        // The person compares the fingerprint and accepts it: the client connects and pins it.
        unknown.client.trustServer(fingerprint: server.fingerprint)
        try await eventually("online after trust") { unknown.state == .online }
        #expect(KnownServers(url: KnownServers.defaultURL(in: unknown.directory)).fingerprint(host: "127.0.0.1", port: server.port) == server.fingerprint)

        let wrong = "SHA256:" + String(repeating: "B", count: 43)
        let invited = try TestClient("gus", server: server, trust: TrustPolicy(vouched: wrong))
        invited.client.connect()
        #expect(try await invited.waitForFailure() == .serverKeyNotVouched(expected: wrong, actual: server.fingerprint))
        unknown.stop(); invited.stop()
        await server.stop()
    }

    @Test func serverNotRunningIsAClearSentence() async throws {
        let server = try await TestServer()
        let port = server.port
        await server.stop()
        let c = try TestClient("hal", server: server, port: port)
        c.client.connect()
        let failure = try await c.waitForFailure()
        guard case .unreachable(_, _, let reason) = failure else { Issue.record("unexpected \(failure)"); return }
        #expect(reason == "connection refused")
        #expect(failure.description.hasPrefix("Cannot reach a Sotto server at 127.0.0.1:\(port)"))
        c.stop()
    }

    /// A slow or busy machine can take longer to derive the password key than the server
    /// waits for a login: the server hangs up mid-login, and one more attempt, with the key
    /// kept, gets in at once.
    @Test func aLoginHungUpOnAfterTheServersHelloIsTriedOnceMore() async throws {
        let server = try await TestServer()
        let proxy = try await TCPProxy(targetPort: server.port)
        proxy.hangUpAfterServerSpeaks(times: 1)
        let slow = try TestClient("slow", server: server, port: proxy.port, reconnect: false)
        try await slow.connectAndWait()
        #expect(proxy.connectionCount == 2)
        #expect(slow.systemLines.contains { $0.hasPrefix("The server hung up while this device was still preparing the login") })

        // Hung up on twice: no loop, the clear failure after the second attempt.
        proxy.hangUpAfterServerSpeaks(times: 2)
        let unlucky = try TestClient("unlucky", server: server, port: proxy.port, reconnect: false)
        unlucky.client.connect()
        #expect(try await unlucky.waitForFailure() == .closedDuringLogin)
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(proxy.connectionCount == 4)
        #expect(unlucky.failure == .closedDuringLogin)
        slow.stop(); unlucky.stop()
        await proxy.stop()
        await server.stop()
    }
}
