import Foundation
import SottoClient
import SottoCore
import Testing

@Suite(.takesTurns) struct WireSecrecyTests {
    @Test func neitherThePasswordNorAnyMessageTextCrossesTheWireReadable() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let proxy = try await TCPProxy(targetPort: server.port)
        let alice = try TestClient("alice-the-sender", server: server, port: proxy.port)
        let bob = try TestClient("bob-the-receiver", server: server, port: proxy.port)
        try await alice.connectAndWait()
        try await bob.connectAndWait()
        // Sealed before alice knows bob is here, a message is not bob's to read.
        try await alice.waitForUsers(["alice-the-sender", "bob-the-receiver"])
        let secretText = "the launch code is 0000 and the treasure is under the old oak"
        alice.client.send(secretText)
        alice.client.send("a private word for bob", to: "bob-the-receiver")
        try await bob.waitForMessages(2)
        #expect(bob.messages.map(\.text) == [secretText, "a private word for bob"])

        let wire = proxy.recorded
        #expect(wire.count > 1_000)
        for needle in [TestServer.password, secretText, "launch code", "treasure", "a private word", "alice-the-sender", "bob-the-receiver"] {
            #expect(!wire.containsSubsequence(Array(needle.utf8)), "'\(needle)' is readable on the wire")
        }
        alice.stop(); bob.stop()
        await proxy.stop()
        await server.stop()
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        var i = 0
        while i <= count - needle.count {
            if self[i] == needle[0], Array(self[i..<(i + needle.count)]) == needle { return true }
            i += 1
        }
        return false
    }
}
