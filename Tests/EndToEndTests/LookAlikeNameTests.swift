import Foundation
import SottoClient
import SottoCore
import Testing

/// Names that read as someone else's, against the real server and clients.
@Suite(.takesTurns) struct LookAlikeNameTests {
    /// Finding: `аlice` (Cyrillic а), fullwidth letters, `aIice` and `STRASSE` beside
    /// `straße` were all accepted next to the real users.
    @Test func aNameThatReadsAsAnOnlineMembersIsTakenAndAMixedOneIsRefused() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let port = server.port
        let holders = try await onOwnThread { try ["alice", "straße"].map { name in let r = try RawConnection(port: port); try r.login(name: name); return r } }
        let answers = try await onOwnThread {
            try ["aIice", "AIice", "ＡＬＩＣＥ", "ALICE", "𝐚𝐥𝐢𝐜𝐞", "STRASSE", "\u{430}lice"].map { name in
                UncheckedBox(try RawConnection(port: port).attemptLogin(name: name).1)
            }
        }.map(\.value)
        let codes = answers.map { answer -> ErrorCode? in if case .error(let e)? = answer { e.code } else { nil } }
        #expect(codes == [.nameTaken, .nameTaken, .nameTaken, .nameTaken, .nameTaken, .nameTaken, .invalidName])
        if case .error(let e)? = answers.last { #expect(e.text.contains("mixes writing systems")) }
        _ = holders
        await server.stop()
    }

    /// The server keeps look-alikes apart only while both are online: a client warns when a
    /// newcomer's name reads as that of someone it met before.
    @Test func aClientWarnsWhenANewNameLooksLikeOneItHasMet() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let bob = try TestClient("bob", server: server)
        try await bob.connectAndWait()
        let ace = try TestClient("ace", server: server)
        try await ace.connectAndWait()
        try await bob.waitForUsers(["ace", "bob"])
        ace.client.send("hi bob")  // bob pins ace's key on first sight
        try await bob.waitForMessages(1)
        ace.stop()
        try await bob.waitForUsers(["bob"])
        // The server refuses a name that reads as a registered one; once the operator has
        // released "ace" (or if the server lies) the clients must still warn.
        _ = try server.server.configuration.members.release(Username("ace"))
        // All Cyrillic (one script, so allowed), and reads as "ace".
        let impostor = try TestClient("\u{430}\u{441}\u{435}", server: server)
        try await impostor.connectAndWait()
        try await eventually("warned") { bob.errors.contains { $0.hasPrefix("WARNING: \u{430}\u{441}\u{435} looks like ace") } }
        #expect(!bob.errors.contains { $0.contains("looks like") && $0.hasPrefix("WARNING: ace") })
        impostor.stop()
        bob.stop()
        await server.stop()
    }
}
