import Foundation
import SottoClient
import SottoCore
import Testing
@testable import SottoServer

@Suite(.takesTurns) struct RobustnessTests {
    @Test func malformedInputClosesOnlyItsSenderAndEveryoneElseCarriesOn() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let alice = try TestClient("alice", server: server), bob = try TestClient("bob", server: server)
        try await alice.connectAndWait()
        try await bob.connectAndWait()

        // 1. Bytes that are not a Noise handshake.
        let garbage = try RawConnection(port: server.port)
        try garbage.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(garbage.isClosedByPeer())
        // 2. A zero-length frame.
        let empty = try RawConnection(port: server.port)
        try empty.sendRaw([0, 0])
        #expect(empty.isClosedByPeer())
        // 3. A logged-in member sending a record of an unknown type: told why, then closed.
        let unknown = try RawConnection(port: server.port)
        try unknown.login(name: "mallory")
        try unknown.sendRecords([[0x7e, 1, 2, 3]])
        let error = try unknown.readUntil { if case .error = $0 { return true } else { return false } }
        guard case .error(let e)? = error else { Issue.record("no error record"); return }
        #expect(e.code == .protocolViolation && e.fatal)
        #expect(unknown.isClosedByPeer())
        // 4. A transport message that is not a whole record.
        let partial = try RawConnection(port: server.port)
        try partial.login(name: "trudy")
        try partial.sendSealed([0, 9, 1])
        #expect(partial.isClosedByPeer())
        // 5. A handshake message 1 with a payload, and a bad login payload.
        let chatty = try RawConnection(port: server.port)
        var hs = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: DHPrivateKey())
        try chatty.sendFrame(try hs.writeMessage(payload: [1, 2, 3]))
        #expect(chatty.isClosedByPeer())

        alice.client.send("still here?")
        try await bob.waitForMessages(1)
        #expect(bob.messages.map(\.text) == ["still here?"])
        try await eventually("only the two members remain") { server.server.onlineCount == 2 && server.server.connectionCount == 2 }
        #expect(alice.state == .online && bob.state == .online)
        alice.stop(); bob.stop()
        await server.stop()
    }

    @Test func aMemberThatStopsReadingIsCutOffWhileTheOthersGetEverything() async throws {
        var limits = TestServer.limits
        limits.recordsPerSecond = 2_000
        limits.recordBurst = 200
        limits.maxQueuedBytes = 256 * 1024
        let server = try await TestServer(limits: limits)
        let sender = try TestClient("sender", server: server), reader = try TestClient("reader", server: server)
        try await sender.connectAndWait()
        try await reader.connectAndWait()
        let stalled = try RawConnection(port: server.port, receiveBuffer: 4096)
        try stalled.login(name: "stalled")
        try await reader.waitForUsers(["reader", "sender", "stalled"])

        // ~8 MB through the room: far more than the socket buffers and the 128 KiB queue hold.
        let count = 2_000
        let body = String(repeating: "m", count: 4_000)
        for i in 0..<count { sender.client.send("\(i) \(body)") }
        try await reader.waitForMessages(count, timeout: 120)
        #expect(reader.messages.map { Int($0.text.split(separator: " ")[0])! } == Array(0..<count))
        try await eventually("stalled member cut off") { reader.systemLines.contains("stalled is away") }
        #expect(server.server.onlineCount == 2)
        #expect(sender.state == .online && reader.state == .online)
        sender.stop(); reader.stop()
        await server.stop()
    }
}
