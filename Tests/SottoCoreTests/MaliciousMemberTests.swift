import Crypto
import Foundation
import Testing
@testable import SottoCore

/// A member with a patched client: it holds a genuine identity and signs what it sends,
/// but chooses every field of its own shares and envelopes.
struct PatchedMember {
    let me: Room.Person
    let chainID = (0..<MessageEnvelope.chainIDLength).map { _ in UInt8.random(in: 0...255) }
    let signing = Curve25519.Signing.PrivateKey()
    let seed = (0..<32).map { _ in UInt8.random(in: 0...255) }
    var created = Date(timeIntervalSince1970: 1_800_000_000)

    /// A correctly sealed and signed share of a chain that starts at `index`.
    func share(index: UInt32, to recipient: Room.Person) throws -> [UInt8] {
        let chain = KeyShare.Chain(conversation: "", chainID: chainID, chainKey: ChainKey(key: seed, index: index),
                                   signingKey: Array(signing.publicKey.rawRepresentation), created: created)
        return try KeyShare.seal(chain, from: me.name, to: recipient.name, prekey: recipient.prekey.signed, sender: me.keys).encoded()
    }

    /// A room message at `index` of that chain, sealed with the key at `keyIndex` (its own
    /// position when the chain really got there), correctly signed.
    /// `sentMillis`: nil writes a version-1 envelope (no sealed time).
    func message(index: UInt32, keyIndex: UInt32, sequence: UInt64, sentMillis: UInt64? = 1_790_000_000_000, text: String = "boom") throws -> ChatMessage {
        let key = ChainKey(key: seed, index: keyIndex).messageKey
        let header = MessageEnvelope.header(conversation: "", from: me.name, to: "", chainID: chainID, index: index, sentMillis: sentMillis)
        let ciphertext = try key.seal(Array(text.utf8), header: header)
        let signature = Array(try signing.signature(for: header + ciphertext))
        let body = MessageEnvelope(conversation: "", chainID: chainID, index: index, sentMillis: sentMillis, ciphertext: ciphertext,
                                   signature: signature).encoded()
        return ChatMessage(sequence: sequence, time: 0, from: me.name, to: "", clientMessageID: sequence, body: body)
    }
}

@Suite struct MaliciousMemberTests {
    /// Finding: a share at index 2^32−1 and one message there trapped (`index + 1`) in every
    /// receiving process. Now the share is refused and nothing traps.
    @Test func aChainSharedAtTheEndOfTheIndexRangeIsRefusedWithoutATrap() throws {
        let room = try Room(["mallory", "bob"])
        let bob = room.person("bob")
        let mallory = PatchedMember(me: room.person("mallory"))
        for index in [UInt32.max, UInt32.max - 1, ChainKey.maxIndex, ChainKey.maxShareIndex + 1] {
            let events = bob.session.receiveKeyShare(from: "mallory", payload: try mallory.share(index: index, to: bob), now: room.now)
            #expect(events.contains { if case .rejected("mallory", .malformed) = $0 { true } else { false } }, "index \(index)")
        }
        bob.inbox += bob.session.open(try mallory.message(index: UInt32.max, keyIndex: UInt32.max, sequence: 1), now: room.now)
        #expect(bob.texts.isEmpty)
    }

    /// The highest index a share may carry still works; a message past the chain's end is
    /// refused as exhausted, not an overflow, and the chain stays usable below it.
    @Test func aChainNearItsEndRefusesMessagesPastItAndKeepsWorking() throws {
        let room = try Room(["mallory", "bob"])
        let bob = room.person("bob")
        let mallory = PatchedMember(me: room.person("mallory"))
        let start = ChainKey.maxIndex - 2
        var chain = ChainKey(key: mallory.seed, index: ChainKey.maxShareIndex)
        // The share must be at most maxShareIndex; walk a receiving chain to the end by hand.
        var receiving = ReceivingChain(sender: "mallory", conversation: .room, id: mallory.chainID, chainKey: chain,
                                       signingKey: mallory.signing.publicKey, firstIndex: chain.index)
        receiving.chainKey = ChainKey(key: mallory.seed, index: start)
        #expect(throws: EndToEndError.chainExhausted) { try receiving.key(for: ChainKey.maxIndex + 1, maxSkip: 256, now: room.now) }
        #expect(throws: EndToEndError.chainExhausted) { try receiving.key(for: UInt32.max, maxSkip: 256, now: room.now) }
        #expect(receiving.chainKey.index == start && receiving.skipped.isEmpty)
        // The last index has no successor: refused, and the chain has not moved.
        #expect(throws: EndToEndError.chainExhausted) { try receiving.key(for: ChainKey.maxIndex, maxSkip: 256, now: room.now) }
        #expect(receiving.chainKey.index == start && receiving.skipped.isEmpty)
        _ = try receiving.key(for: start, maxSkip: 256, now: room.now)
        #expect(receiving.chainKey.index == start + 1)
        chain = ChainKey(key: [UInt8](repeating: 7, count: 32), index: ChainKey.maxIndex)
        #expect(throws: EndToEndError.chainExhausted) { try chain.next() }

        // Over the session: a share at maxShareIndex is accepted and its message read.
        let events = bob.session.receiveKeyShare(from: "mallory", payload: try mallory.share(index: ChainKey.maxShareIndex, to: bob), now: room.now)
        #expect(events.isEmpty)
        bob.inbox += bob.session.open(try mallory.message(index: ChainKey.maxShareIndex, keyIndex: ChainKey.maxShareIndex, sequence: 1), now: room.now)
        #expect(bob.texts == ["boom"])
        bob.inbox += bob.session.open(try mallory.message(index: UInt32.max, keyIndex: 0, sequence: 2), now: room.now)
        #expect(bob.rejections == [.chainExhausted])
    }
}

/// A server that records every key share and message body and replays them: into the
/// recipient's next session, into the same session after the chain was evicted, or days
/// later. Nothing replayed is shown; each replayed share is refused with a reason.
@Suite struct ReplayingServerTests {
    /// Alice's shares to bob and her messages, recorded as the relay saw them.
    static func record(_ room: Room, _ texts: [String]) throws -> (shares: [[UInt8]], messages: [ChatMessage]) {
        let alice = room.person("alice"), bob = room.person("bob")
        var shares: [[UInt8]] = []
        var messages: [ChatMessage] = []
        for text in texts {
            _ = room.resolve(alice.session)
            let (body, events) = try alice.session.seal(Array(text.utf8), to: "", now: room.now)
            for case .keyShare("bob", let payload) in events {
                shares.append(payload)
                bob.inbox += bob.session.receiveKeyShare(from: "alice", payload: payload, now: room.now)
            }
            room.sequence += 1
            let m = ChatMessage(sequence: room.sequence, time: 0, from: "alice", to: "", clientMessageID: room.sequence, body: body)
            messages.append(m)
            room.relay(m)
        }
        return (shares, messages)
    }

    @Test func sharesAndBodiesReplayedAfterARestartAreRefused() throws {
        let room = try Room(["alice", "bob"])
        let bob = room.person("bob")
        let recorded = try Self.record(room, ["wire 500 EUR to the usual account"])
        #expect(bob.texts == ["wire 500 EUR to the usual account"])
        // Bob's app restarts: a new session from what his device stored, listed as such.
        bob.restart()
        _ = bob.session.updateMembers(room.people.map(\.user), now: room.now)
        // Three days later the server replays what it recorded (a share may wait that long
        // for someone away, so its age alone does not refuse it).
        let later = room.now.addingTimeInterval(3 * 86_400)
        for share in recorded.shares {
            bob.inbox += bob.session.receiveKeyShare(from: "alice", payload: share, now: later)
        }
        for m in recorded.messages { bob.inbox += bob.session.open(m, now: later) }
        bob.inbox += bob.session.expire(now: later.addingTimeInterval(60))
        #expect(bob.texts.isEmpty)
        #expect(bob.rejections == [.reusedIndex], "the chain is stored where bob left it: its old index is spent")

        // The chain let go of since (bob's device keeps four per sender), its id still remembered:
        // the share is refused as a replay.
        let forgotten = bob.stored.chains.filter { $0.sender == "alice" }
        #expect(forgotten.count == 1)
        bob.stored.chains.removeAll()
        bob.restart()
        _ = bob.session.updateMembers(room.people.map(\.user), now: room.now)
        for share in recorded.shares { bob.inbox += bob.session.receiveKeyShare(from: "alice", payload: share, now: later) }
        for m in recorded.messages { bob.inbox += bob.session.open(m, now: later) }
        #expect(bob.texts.isEmpty)
        #expect(bob.rejections == [.replayedChain])
    }

    @Test func aDeviceThatForgotWhatItAcceptedWouldShowAReplay() throws {
        // What the stored memory of accepted chains is for: without it, the same replay is shown.
        let room = try Room(["alice", "bob"])
        let bob = room.person("bob")
        let recorded = try Self.record(room, ["wire 500 EUR to the usual account"])
        bob.restart(keepingState: false)
        _ = bob.session.updateMembers(room.people.map(\.user), now: room.now)
        let later = room.now.addingTimeInterval(3 * 86_400)
        for share in recorded.shares { bob.inbox += bob.session.receiveKeyShare(from: "alice", payload: share, now: later) }
        for m in recorded.messages { bob.inbox += bob.session.open(m, now: later) }
        #expect(bob.texts == ["wire 500 EUR to the usual account"])
    }

    @Test func anEvictedChainReSharedInTheSameSessionIsRefused() throws {
        var limits = EndToEndSession.Limits()
        limits.chainsKeptPerSender = 4
        let room = try Room(["alice", "bob", "carol"], limits: limits)
        let bob = room.person("bob"), alice = room.person("alice")
        // Alice's first chain; then five more (carol leaves and returns each time, so alice
        // starts a new chain), which evicts the first from bob's four.
        let first = try Self.record(room, ["first chain"])
        for i in 0..<5 {
            room.people.removeAll { $0.name == "carol" }
            room.sync()
            room.people.append(try Room.Person("carol"))
            room.sync()
            _ = try Self.record(room, ["chain \(i)"])
        }
        #expect(bob.texts == ["first chain", "chain 0", "chain 1", "chain 2", "chain 3", "chain 4"])
        #expect(alice.session.rejections.isEmpty)
        bob.inbox = []
        for share in first.shares { bob.inbox += bob.session.receiveKeyShare(from: "alice", payload: share, now: room.now) }
        for m in first.messages { bob.inbox += bob.session.open(m, now: room.now) }
        #expect(bob.texts.isEmpty)
        #expect(bob.rejections.first == .replayedChain)
        #expect(bob.session.rejections["replayed chain"] == 1)
    }

    @Test func aStaleOrFutureChainIsRefused() throws {
        let room = try Room(["mallory", "bob"])
        let bob = room.person("bob")
        var member = PatchedMember(me: room.person("mallory"))
        // Made longer ago than a share may wait for someone away (prekeys' 30 days, a chain's
        // hour, the clocks' skew): refused.
        let window: TimeInterval = 30 * 86_400 + 3_600 + 600
        member.created = room.now.addingTimeInterval(-(window + 1))
        #expect(bob.session.receiveKeyShare(from: "mallory", payload: try member.share(index: 0, to: bob), now: room.now)
            == [.rejected(from: "mallory", .staleChain)])
        // Dated in the future beyond the skew: refused, saying how far ahead (a newcomer's run:
        // a day-fast clock read only as "replayed or a wrong clock").
        member.created = room.now.addingTimeInterval(601)
        #expect(bob.session.receiveKeyShare(from: "mallory", payload: try member.share(index: 0, to: bob), now: room.now)
            == [.rejected(from: "mallory", .chainFromTheFuture(seconds: 601))])
        #expect(EndToEndError.chainFromTheFuture(seconds: 90_000).description.contains("25 hours ahead of this device's clock"))
        #expect(EndToEndError.chainFromTheFuture(seconds: 3 * 86_400).description.contains("3 days ahead"))
        // Within the window: accepted, and its message read.
        member.created = room.now.addingTimeInterval(-window)
        #expect(bob.session.receiveKeyShare(from: "mallory", payload: try member.share(index: 0, to: bob), now: room.now).isEmpty)
        bob.inbox += bob.session.open(try member.message(index: 0, keyIndex: 0, sequence: 1), now: room.now)
        #expect(bob.texts == ["boom"])
        // The same chain id again, even once the member sends a fresh share of it: refused.
        member.created = room.now
        bob.inbox += bob.session.receiveKeyShare(from: "mallory", payload: try member.share(index: 0, to: bob), now: room.now)
        #expect(bob.rejections.isEmpty, "a chain bob still holds, delivered again, is nothing new")
    }

    @Test func aMemberThatRestartsReadsOnWithTheChainsItStored() throws {
        let room = try Room(["alice", "bob"])
        let bob = room.person("bob")
        room.relay(try room.say("alice", "before"))
        #expect(bob.texts == ["before"])
        bob.restart()
        room.sync()
        room.relay(try room.say("alice", "after"))
        #expect(bob.texts == ["after"])
        #expect(bob.rejections.isEmpty)
    }
}

@Suite struct EnvelopeSizeTests {
    /// The size a sender checks before sealing is the size it then writes.
    @Test func theEnvelopeLengthIsTheEncodedLength() throws {
        let room = try Room(["alice", "bob"])
        for (to, direct) in [("", false), ("bob", true)] {
            for length in [0, 1, 100, 16_000] {
                let m = try room.say("alice", String(repeating: "x", count: length), to: to)
                #expect(m.body.count == MessageEnvelope.encodedLength(textLength: length, direct: direct), "\(length) to \(to)")
            }
        }
    }
}
