import Foundation
import NIOCore
import SottoClient
import SottoCore
import Testing
@testable import SottoServer

/// Hostile input against the real server while two canary members keep chatting.
@Suite(.takesTurns) struct AbuseTests {
    final class Canary {
        let a: TestClient, b: TestClient
        var sent = 0
        init(server: TestServer) async throws {
            a = try TestClient("canary-a", server: server)
            b = try TestClient("canary-b", server: server)
            try await a.connectAndWait()
            try await b.connectAndWait()
            try await b.waitForUsers(["canary-a", "canary-b"])
        }
        /// One round trip through the room, or the test fails.
        func chirp() async throws {
            sent += 1
            a.client.send("chirp \(sent)")
            // A bound on liveness, not a timing: with every suite running on two cores (CI),
            // the first chirp after a flood once took longer than 20 s to arrive.
            try await b.waitForMessages(sent, timeout: 60)
            #expect(b.messages.last?.text == "chirp \(sent)")
        }
        func stop() { a.stop(); b.stop() }
    }

    func server(_ adjust: (inout ServerLimits) -> Void = { _ in }) async throws -> TestServer {
        var limits = relaxedLimits()
        limits.loginTimeout = .seconds(2)
        limits.maxConnectionsPerAddress = 64
        adjust(&limits)
        return try await TestServer(limits: limits)
    }

    @Test func aTwentyMegabyteStreamWithoutFrameBoundariesIsCutOffAtTheFirstFrame() async throws {
        let server = try await server()
        let canary = try await Canary(server: server)
        let raw = try RawConnection(port: server.port)
        var sent = 0
        let chunk = [UInt8](repeating: 0xAB, count: 64 * 1024)
        while sent < 20 * 1024 * 1024 {
            do { try raw.sendRaw(chunk) } catch { break }  // the server closed it
            sent += chunk.count
        }
        #expect(raw.isClosedByPeer())
        #expect(sent < 20 * 1024 * 1024, "the server read the whole 20 MB instead of closing")
        try await canary.chirp()
        canary.stop()
        await server.stop()
    }

    @Test func truncatedAndOversizeFramesAndBadNamesAreRefused() async throws {
        let server = try await server()
        let canary = try await Canary(server: server)
        // A frame that promises more than it sends, then silence: closed at the login timeout.
        let truncated = try RawConnection(port: server.port)
        try truncated.sendRaw([0x10, 0x00, 1, 2, 3])
        #expect(truncated.isClosedByPeer())
        // A maximum-size frame of garbage as message 1.
        let oversize = try RawConnection(port: server.port)
        try oversize.sendFrame([UInt8](repeating: 7, count: 65_535))
        #expect(oversize.isClosedByPeer())
        // Invalid UTF-8 in the name, and a wrong schema version.
        for payload in [
            LoginRequest(username: "ok", proof: [UInt8](repeating: 0, count: 32), sessionNonce: [UInt8](repeating: 0, count: 16)).encoded().enumerated().map { $0.offset == 3 ? 0xC3 : $0.element },
            [9] + Array(LoginRequest(username: "v9", proof: [UInt8](repeating: 0, count: 32), sessionNonce: [UInt8](repeating: 0, count: 16)).encoded().dropFirst()),
        ] {
            let raw = try RawConnection(port: server.port)
            var hs = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: DHPrivateKey())
            try raw.sendFrame(try hs.writeMessage(payload: []))
            _ = try hs.readMessage(try #require(try raw.readFrame()))
            try raw.sendFrame(try hs.writeMessage(payload: payload))
            #expect(raw.isClosedByPeer())
        }
        try await canary.chirp()
        canary.stop()
        await server.stop()
    }

    @Test func floodsOfHandshakesAndLoginsDoNotReachTheCanary() async throws {
        let server = try await server { $0.maxConnectionsPerAddress = 40 }
        let canary = try await Canary(server: server)
        // 150 connections at once from one address: at most 40 are admitted, the rest closed.
        var flood: [RawConnection] = []
        for _ in 0..<150 { if let c = try? RawConnection(port: server.port) { flood.append(c) } }
        try await eventually("admissions bounded") { server.server.connectionCount <= 40 + 2 }
        try await canary.chirp()
        flood.removeAll()
        // Wrong-password logins in a burst: each refused, later ones slowed down.
        for i in 0..<5 {
            let c = try TestClient("guess\(i)", server: server, password: "wrong \(i)")
            c.client.connect()
            _ = try await c.waitForFailure()
            c.stop()
        }
        try await canary.chirp()
        #expect(server.server.onlineCount == 2)
        canary.stop()
        await server.stop()
    }

    @Test func halfOpenAndSlowlorisConnectionsAreClosedAtTheLoginTimeout() async throws {
        let server = try await server { $0.loginTimeout = .seconds(1) }
        let canary = try await Canary(server: server)
        let silent = try RawConnection(port: server.port)
        let dribbler = try RawConnection(port: server.port)
        let started = Date()
        // One byte every 100 ms of a valid message 1: never enough, in time.
        var hs = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: DHPrivateKey())
        let m1 = try hs.writeMessage(payload: [])
        var closed = false
        for byte in [0, 32] + m1 {
            do { try dribbler.sendRaw([UInt8(byte)]) } catch { closed = true; break }
            try await Task.sleep(nanoseconds: 100_000_000)
            if Date().timeIntervalSince(started) > 3 { break }
        }
        #expect(closed || dribbler.isClosedByPeer())
        #expect(silent.isClosedByPeer())
        try await eventually("both released") { server.server.connectionCount == 2 }
        try await canary.chirp()
        canary.stop()
        await server.stop()
    }
}
