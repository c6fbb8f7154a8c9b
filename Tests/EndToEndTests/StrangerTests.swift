import Foundation
import SottoCore
import Testing

/// A stranger on the socket, or a member whose login is refused: what the server tells
/// them, and what the room never hears.
@Suite(.takesTurns) struct StrangerTests {
    /// Finding: a wrong schema version and a malformed message 3 were met with a silent
    /// close although the transport was up. Now the fatal error comes first.
    @Test func aWrongVersionOrMalformedLoginIsToldWhyBeforeTheClose() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let cases: [(String, ErrorCode, (RawConnection, ServerHello, [UInt8]) throws -> [UInt8])] = [
            ("schema version 9", .unsupportedVersion, { raw, hello, hash in [9] + (try raw.loginPayload(name: "v9", hello: hello, handshakeHash: hash)).dropFirst() }),
            ("schema version 2", .unsupportedVersion, { raw, hello, hash in [2] + (try raw.loginPayload(name: "v2", hello: hello, handshakeHash: hash)).dropFirst() }),
            ("truncated", .protocolViolation, { raw, hello, hash in Array((try raw.loginPayload(name: "cut", hello: hello, handshakeHash: hash)).dropLast(3)) }),
            ("invalid UTF-8 name", .protocolViolation, { raw, hello, hash in
                var bytes = try raw.loginPayload(name: "ok", hello: hello, handshakeHash: hash)
                bytes[3] = 0xC3
                return bytes
            }),
        ]
        for (what, code, payload) in cases {
            let answer = try await onOwnThread {
                let raw = try RawConnection(port: server.port)
                return UncheckedBox((try raw.loginWithPayload { hello, hash in try payload(raw, hello, hash) }, raw.isClosedByPeer()))
            }.value
            guard case .error(let error)? = answer.0 else { Issue.record("\(what): \(String(describing: answer.0))"); continue }
            #expect(error.code == code && error.fatal, "\(what)")
            #expect(answer.1, "\(what): closed after the error")
        }
        await server.stop()
    }

    /// Finding: records sent right after message 3 by a member whose bundle signature then
    /// failed were relayed ("Rejected a message from ghost" at every member). Nothing from a
    /// member is relayed before the room has been told of them.
    @Test func aMemberWhoseIdentityIsRefusedNeverSpeaks() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let watcher = try RawConnection(port: server.port)
        try watcher.login(name: "alice")
        let keys = try IdentityKeys()
        var forged = keys.encodedBundle
        forged[forged.count - 1] ^= 1  // the signature is the last field
        let ghost = try RawConnection(port: server.port)
        let speech = [
            ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 1, body: Array("boo".utf8))).encoded(),
            ClientRecord.keyShare(to: "alice", payload: [UInt8](repeating: 7, count: 100)).encoded(),
            ClientRecord.send(SendRequest(clientMessageID: 1 << 32 | 2, to: "alice", body: Array("psst".utf8))).encoded(),
        ]
        let answer = try ghost.loginWithPayload(identity: keys.noiseStatic, { hello, hash in
            try ghost.loginPayload(name: "ghost", bundle: forged, hello: hello, handshakeHash: hash)
        }, thenSend: speech)
        let refusal = if case .welcome? = answer { try ghost.readUntil { if case .error = $0 { true } else { false } } } else { answer }
        #expect(refusal == .error(ServerError(.invalidIdentity, fatal: true)))
        try watcher.sendRecords([ClientRecord.ping(1).encoded()])
        var heard: [ServerRecord] = []
        _ = try watcher.readUntil { record in
            if case .pong(1) = record { return true }
            heard.append(record)
            return false
        }
        #expect(!heard.contains { if case .message = $0 { true } else if case .keyShare = $0 { true } else { false } },
                "the room heard from a member whose identity does not verify: \(heard)")
        await server.stop()
    }
}
