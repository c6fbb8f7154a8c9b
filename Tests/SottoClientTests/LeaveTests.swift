import Foundation
import Testing
import SottoCore
@testable import SottoClient

/// `/leave NAME`: leaving a server for good, typed where a person types.
@Suite struct LeaveTests {
    private func wroteLeave(_ member: ScriptedServer.Member) -> Bool {
        member.written.contains { $0 == .leave }
    }

    @Test func leavingTakesYourOwnNameAndNothingReconnectsAfterIt() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice"), bob = try server.member("bob")
        server.connect(alice)
        server.connect(bob)
        server.input(alice, .send(id: 1, to: "", text: "bye all"))

        // Without a name, or with someone else's: nothing is sent, and the person is told how.
        server.input(alice, .leave(confirming: nil))
        server.input(alice, .leave(confirming: "bob"))
        #expect(!wroteLeave(alice))
        #expect(alice.notices.suffix(2) == [.leaveNeedsName("alice"), .leaveNeedsName("alice", typed: "bob")])
        #expect(alice.notices.last?.text.hasPrefix("bob is not your name, so nothing was done.") == true)
        #expect(alice.core.state == .online)

        // Their own name, in any case: it goes, and the server's word ends the session.
        server.input(alice, .leave(confirming: "Alice"))
        #expect(wroteLeave(alice))
        #expect(alice.notices.last == .youLeft("alice"))
        #expect(alice.core.state == .disconnected)
        #expect(alice.timers[.reconnect] == nil && alice.opening.isEmpty)
        // The room heard it: alice is no longer listed, and bob's next chain is not hers.
        #expect(bob.notices.contains(.removed("alice")))
        #expect(bob.core.endToEndSession?.members["alice"] == nil)
        // Typed afterwards: not kept to go out at a new membership (a newcomer found it sent
        // once they joined again).
        server.input(alice, .send(id: 9, to: "", text: "am I still here?"))
        #expect(alice.notices.last == .notSentAfterLeaving)
        #expect(alice.core.pendingCount == 0)
        #expect(!alice.events.contains(.queued(id: 9, to: "", text: "am I still here?")))
    }

    @Test func whatIsTypedAfterLeavingIsNotSent() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice"), bob = try server.member("bob")
        server.connect(alice)
        server.connect(bob)
        server.leavesAnswered = false
        server.input(alice, .leave(confirming: "alice"))
        server.input(alice, .send(id: 7, to: "", text: "after leaving"))
        #expect(!alice.written.contains { if case .send = $0 { true } else { false } })
        #expect(bob.texts.isEmpty)
    }

    /// The connection closes after `/leave` went out but before the server said it was done:
    /// a reconnect would register the name again, so nothing reconnects and the person is told.
    @Test func aLeaveTheServerNeverConfirmedIsNotFollowedByAReconnect() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice")
        server.connect(alice)
        server.leavesAnswered = false
        server.input(alice, .leave(confirming: "alice"))
        #expect(wroteLeave(alice))
        let connection = try #require(alice.core.currentConnection)
        server.input(alice, .closed(connection: connection, .connectionLost))
        #expect(alice.core.state == .failed(.leaveUnconfirmed))
        #expect(alice.timers[.reconnect] == nil && alice.opening.isEmpty)
    }

    /// Review finding: a server that never answers a leave kept the session connected and
    /// unable to send. It is given up after a while, as unconfirmed.
    @Test func aLeaveTheServerNeverAnswersIsGivenUp() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice")
        server.connect(alice)
        server.leavesAnswered = false
        server.input(alice, .leave(confirming: "alice"))
        #expect(alice.timers[.leaveAnswer] == ClientCore.leaveAnswerTimeout)
        server.fire(.leaveAnswer, for: alice)
        #expect(alice.core.state == .failed(.leaveUnconfirmed))
        #expect(alice.timers[.reconnect] == nil && alice.opening.isEmpty)
    }

    /// Joining again (here through the trust prompt's connect) is a new membership: what is
    /// typed while it reconnects later is kept, as for anyone.
    @Test func afterJoiningAgainWhatIsTypedOfflineIsKept() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice")
        server.connect(alice)
        server.input(alice, .leave(confirming: "alice"))
        #expect(alice.core.state == .disconnected)
        server.input(alice, .trust(fingerprint: server.fingerprint))
        server.accept(alice)
        #expect(alice.core.state == .online)
        server.drop(alice, because: .connectionLost)
        server.input(alice, .send(id: 3, to: "", text: "typed while reconnecting"))
        #expect(alice.notices.last != .notSentAfterLeaving)
        #expect(alice.core.pendingCount == 1)
    }

    /// A server that says we are no longer a member when we did not ask to leave is ignored.
    @Test func aRemovalOfUsWeDidNotAskForIsIgnored() throws {
        let server = ScriptedServer()
        let alice = try server.member("alice"), bob = try server.member("bob")
        server.connect(alice)
        server.connect(bob)
        let me = try #require(alice.user)
        server.deliver(.presence(Presence(event: .removed, user: me, time: 0)), to: alice)
        #expect(alice.core.state == .online)
        #expect(!alice.notices.contains(.youLeft("alice")))
        server.input(bob, .send(id: 1, to: "", text: "still here?"))
        #expect(alice.texts == ["still here?"])
    }
}
