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

    /// A correctly sealed and signed share of a chain that starts at `index`.
    func share(index: UInt32, to recipient: Room.Person) throws -> [UInt8] {
        let chain = KeyShare.Chain(conversation: "", chainID: chainID, chainKey: ChainKey(key: seed, index: index),
                                   signingKey: Array(signing.publicKey.rawRepresentation))
        return try KeyShare.seal(chain, from: me.name, to: recipient.name, recipientKEMKey: recipient.keys.bundle.kemKey,
                                 sender: me.keys).encoded()
    }

    /// A room message at `index` of that chain, sealed with the key at `keyIndex` (its own
    /// position when the chain really got there), correctly signed.
    func message(index: UInt32, keyIndex: UInt32, sequence: UInt64) throws -> ChatMessage {
        let key = ChainKey(key: seed, index: keyIndex).messageKey
        let header = MessageEnvelope.header(conversation: "", from: me.name, to: "", chainID: chainID, index: index)
        let ciphertext = try key.seal(Array("boom".utf8), header: header)
        let signature = Array(try signing.signature(for: header + ciphertext))
        let body = MessageEnvelope(conversation: "", chainID: chainID, index: index, ciphertext: ciphertext, signature: signature).encoded()
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
