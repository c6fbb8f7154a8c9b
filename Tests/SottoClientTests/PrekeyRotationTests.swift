import Foundation
import Testing
import SottoCore
@testable import SottoClient

/// A window left open for weeks: its session outlives the prekey it logged in with.
@Suite struct PrekeyRotationTests {
    static let day: TimeInterval = 86_400

    /// Alice stays logged in for 31 days. Her session makes, stores and publishes a new prekey
    /// once the login's is due for rotation; bob fetches it when he next seals a chain to
    /// her. Without that, bob refuses her login's prekey once it is 30 days old, and alice
    /// could no longer read the room though she never left it.
    @Test func aSessionThatOutlivesItsPrekeyPublishesANewOneAndKeepsReading() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice"), bob = try server.member("bob")
        server.connect(alice)
        server.connect(bob)
        server.input(bob, .send(id: 1, to: "", text: "day 0"))
        #expect(alice.texts == ["day 0"])
        let loginPrekey = try #require(try SignedPrekey(decoding: alice.prekey, signingKey: alice.identity.keys.bundle.signingKey))

        // Not due yet: nothing is asked of the key store.
        server.now = server.now.addingTimeInterval(6 * Self.day)
        server.fire(.expiry, for: alice)
        #expect(!alice.written.contains { if case .prekey = $0 { true } else { false } })

        server.now = server.now.addingTimeInterval(2 * Self.day)
        server.fire(.expiry, for: alice)
        let published = alice.written.compactMap { if case .prekey(let p) = $0 { p } else { nil } }
        #expect(published.count == 1)
        let fresh = try #require(try SignedPrekey(decoding: try #require(published.first), signingKey: alice.identity.keys.bundle.signingKey))
        #expect(fresh.created > loginPrekey.created)
        // Kept on the device before it was published: a share sealed to it can be opened.
        let kept = try alice.keyStore.load(server: server.fingerprint, identity: alice.identity.keys, policy: PrekeyPolicy(), now: server.now)
        #expect(kept.prekeys.contains { $0.signed.id == fresh.id })
        // Once a period: the next second asks nothing more.
        server.fire(.expiry, for: alice)
        #expect(alice.written.filter { if case .prekey = $0 { true } else { false } }.count == 1)

        // Day 31: bob's chain is old, his new one goes to alice's new prekey.
        server.now = server.now.addingTimeInterval(23 * Self.day)
        server.input(bob, .send(id: 2, to: "", text: "day 31"))
        #expect(alice.texts == ["day 0", "day 31"], "\(alice.notices)")
        #expect(!bob.notices.contains(.noCurrentPrekey("alice")))
    }

    /// A server that says a member published a new prekey when they did not only makes
    /// clients fetch the member's keys again: what it hands over is checked as ever.
    @Test func aFalseNewPrekeyOnlyMakesTheClientFetchAgain() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice"), bob = try server.member("bob")
        server.connect(alice)
        server.connect(bob)
        server.input(bob, .send(id: 1, to: "", text: "one"))
        let asked = bob.written.filter { if case .identityRequest = $0 { true } else { false } }.count
        server.deliver(.presence(Presence(event: .newPrekey, user: try #require(alice.user), time: 0)), to: bob)
        server.now = server.now.addingTimeInterval(2 * 3_600)  // bob's chain is renewed
        server.input(bob, .send(id: 2, to: "", text: "two"))
        #expect(bob.written.filter { if case .identityRequest = $0 { true } else { false } }.count == asked + 1)
        #expect(alice.texts == ["one", "two"])
    }
}
