import Foundation
import SottoClient
import SottoCore
import Testing

@Suite(.takesTurns) struct ReconnectTests {
    @Test func aCutConnectionReconnectsAndEveryMessageArrivesExactlyOnce() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let proxy = try await TCPProxy(targetPort: server.port)
        let sender = try TestClient("sender", server: server, port: proxy.port)
        let reader = try TestClient("reader", server: server)
        try await sender.connectAndWait()
        try await reader.connectAndWait()
        // Sent before the sender knows the reader is here, a message is sealed for nobody.
        try await sender.waitForUsers(["reader", "sender"])
        let count = 600
        for i in 0..<count { sender.client.send("\(i) " + String(repeating: "z", count: 500)) }
        try await eventually("some delivered") { reader.messages.count >= 100 }
        proxy.cutAll()  // mid-stream: some messages relayed but not acknowledged, some not sent
        for i in count..<(count + 20) { sender.client.send("\(i) typed while reconnecting") }
        try await reader.waitForMessages(count + 20, timeout: 60)
        try await eventually("outbox drained") { sender.client.pendingCount() == 0 }
        try await Task.sleep(nanoseconds: 200_000_000)
        let received = reader.messages.map { Int($0.text.split(separator: " ")[0])! }
        #expect(received == Array(0..<(count + 20)), "every message once, in order")
        // Nothing the sender sealed again was dropped by the server as a resend: no index of
        // its new chain went missing (that showed as "too far ahead" or a lost message).
        #expect(!reader.systemLines.contains { $0.contains("Rejected") || $0.contains("could not be decrypted") }, "\(reader.systemLines)")
        #expect(sender.events.contains { if case .state(.reconnecting) = $0 { return true } else { return false } })
        #expect(sender.state == .online)
        sender.stop(); reader.stop()
        await proxy.stop()
        await server.stop()
    }

    @Test func theServerSaysWhichMessagesItRelayedAlready() async throws {
        let server = try await TestServer()
        let raw = try RawConnection(port: server.port)
        try raw.login(name: "asker")
        let epoch: UInt64 = 0x1234 << 32
        try raw.sendRecords([ClientRecord.send(SendRequest(clientMessageID: epoch | 1, body: [1])).encoded(),
                             ClientRecord.send(SendRequest(clientMessageID: epoch | 2, body: [2])).encoded()])
        #expect(try raw.readUntil({ $0 == .ack(clientMessageID: epoch | 2, sequence: 2) }) != nil)
        try raw.sendRecords([ClientRecord.relayedQuery([epoch | 1, epoch | 2, epoch | 3, 0x9999 << 32 | 1]).encoded()])
        #expect(try raw.readUntil({ if case .relayed = $0 { true } else { false } }) == .relayed([epoch | 1, epoch | 2]))
        await server.stop()
    }

    @Test func aRestartedServerIsRejoinedAutomatically() async throws {
        let first = try await TestServer(limits: relaxedLimits())
        let port = first.port, key = first.staticKey
        let a = try TestClient("a", server: first), b = try TestClient("b", server: first)
        try await a.connectAndWait()
        try await b.connectAndWait()
        await first.stop()
        try await eventually("a notices") { if case .reconnecting = a.state { return true } else { return false } }
        #expect(a.systemLines.contains { $0.contains("shutting down") })
        a.client.send("sent while the server was down")
        let second = try await TestServer(limits: relaxedLimits(), port: port, staticKey: key)
        try await a.waitForUsers(["a", "b"])
        try await eventually("a's queued message relayed") { a.client.pendingCount() == 0 && a.messages.count == 1 }
        // Relayed once, by the new server, under its own sequence; b may have rejoined after it.
        #expect(a.messages.map(\.text) == ["sent while the server was down"])
        b.client.send("and one after")
        try await a.waitForMessages(2)
        #expect(a.messages.last?.text == "and one after")
        a.stop(); b.stop()
        await second.stop()
    }
}
