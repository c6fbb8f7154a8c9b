import SottoClient
import Testing

/// A message that calls you, read as chat clients read it.
@Suite struct MentionTests {
    @Test func anAtNameAnywhereCallsThatMemberInAnyCase() {
        #expect(Mention.calls("alice", in: "@alice look at this"))
        #expect(Mention.calls("alice", in: "look at this @alice"))
        #expect(Mention.calls("alice", in: "thanks, @Alice!"))
        #expect(Mention.calls("alice", in: "(@ALICE) and @bob"))
        #expect(Mention.calls("ana maría", in: "@Ana María can you"))
        #expect(Mention.calls("李雷", in: "问问@李雷"))
        #expect(Mention.calls("alice", in: "first line\n@alice second"))
    }

    @Test func theNameOpeningAMessageAddressesThatMember() {
        #expect(Mention.calls("alice", in: "alice: the build is green"))
        #expect(Mention.calls("alice", in: "Alice, lunch?"))
        #expect(Mention.calls("alice", in: "  alice: after spaces"))
        #expect(!Mention.calls("alice", in: "alice is away today"))
        #expect(!Mention.calls("alice", in: "alice"))
        #expect(!Mention.calls("alice", in: "tell alice: no"))
    }

    /// A longer member's name that begins with yours calls them, not you.
    @Test func aLongerNameWrittenCallsItsMember() {
        let members = ["alice", "alice-team", "bob"]
        #expect(!Mention.calls("alice", in: "@alice-team please review", members: members))
        #expect(!Mention.calls("alice", in: "alice-team: deploy done", members: members))
        #expect(Mention.calls("alice-team", in: "@alice-team please review", members: members))
        #expect(Mention.calls("alice", in: "@alice-team and @alice", members: members))
        // Without such a member, "@alice-" is alice, a dash after her name.
        #expect(Mention.calls("alice", in: "@alice-see this", members: ["alice", "bob"]))
    }

    @Test func partOfAWordOrAnAddressIsNoCall() {
        #expect(!Mention.calls("alice", in: "@alicia knows"))
        #expect(!Mention.calls("alice", in: "@ali knows"))
        #expect(!Mention.calls("alice", in: "mail bob@alice.example"))
        #expect(!Mention.calls("alice", in: "mail bob.smith-2@alice.example"))
        #expect(!Mention.calls("alice", in: "@alice_2 knows"))
        #expect(!Mention.calls("alice", in: "alicex: hi"))
        #expect(!Mention.calls("alice", in: "@"))
        #expect(!Mention.calls("", in: "@ hello"))
        #expect(!Mention.calls("alice", in: "no one at all"))
    }
}
