import Crypto
import Foundation
import Testing
@testable import SottoCore

/// Known answers, computed once from this implementation and frozen: any change to the
/// ratchet, the key expansion or the AEAD construction shows up here.
@Suite struct RatchetKnownAnswerTests {
    let start = ChainKey(key: [UInt8](repeating: 0x01, count: 32), index: 0)

    @Test func chainAndMessageKeys() throws {
        var chain = start
        var seeds: [String] = []
        for _ in 0..<3 {
            seeds.append(Hex.encode(chain.messageKey.seed))
            chain = try chain.next()
        }
        #expect(chain.index == 3)
        #expect(seeds == FrozenVectors.messageSeeds)
        #expect(Hex.encode(chain.key) == FrozenVectors.chainKeyAfter3)
    }

    @Test func messageSealing() throws {
        // Version 1's header (no sealed time): its frozen vector still opens.
        let header = MessageEnvelope.header(conversation: "", from: "alice", to: "", chainID: [UInt8](repeating: 7, count: 16), index: 0, sentMillis: nil)
        let sealed = try start.messageKey.seal(Array("hello, room".utf8), header: header)
        #expect(Hex.encode(sealed) == FrozenVectors.sealedHello)
        #expect(try start.messageKey.open(sealed, header: header) == Array("hello, room".utf8))
        var otherHeader = header
        otherHeader[otherHeader.count - 1] ^= 1
        #expect(throws: EndToEndError.decryptionFailed) { try start.messageKey.open(sealed, header: otherHeader) }
    }

    @Test func keysDoNotRepeatAndTheRatchetDoesNotGoBack() throws {
        var chain = start
        var seen = Set<[UInt8]>()
        for _ in 0..<100 {
            #expect(seen.insert(chain.messageKey.seed).inserted)
            #expect(seen.insert(chain.key).inserted)
            chain = try chain.next()
        }
    }
}

/// Frozen from this implementation and cross-checked with Python's hmac, hashlib and
/// cryptography (HKDF-SHA256, ChaCha20-Poly1305) computing the same construction.
enum FrozenVectors {
    static let messageSeeds = [
        "cc6efb872c237f565ee82df42e4cab00098b13710395e3c6d29f2907d69e4f04",
        "7f9b7eee1ac1776859f044f1ff38b8be2f1098100c357c2060305853f192ccd1",
        "4869ee1a65f17daba4f4a0bbc2e79307f865e3009eec1a57f8761f3330349a42",
    ]
    static let chainKeyAfter3 = "f71214c4f0401491482f20d6b2b9a4fde6a39237a84c7b0f9a806367faf073d0"
    static let sealedHello = "f7311035c4129a7ec0671d0ebb6f611266deb8ecd6700683ed5861"
}

@Suite struct IdentityBundleTests {
    @Test func bundlesRoundTripAndRefuseTampering() throws {
        let keys = try IdentityKeys()
        let encoded = keys.bundle.encoded()
        #expect(encoded.count < WireLimits.maxIdentityBytes)
        #expect(try IdentityBundle(decoding: encoded) == keys.bundle)
        #expect(Fingerprint.isWellFormed(keys.bundle.fingerprint))
        for position in [5, 40, 700, encoded.count - 70, encoded.count - 1] {
            var bad = encoded
            bad[position] ^= 0x20
            #expect(throws: (any Error).self) { try IdentityBundle(decoding: bad) }
        }
        // Another person's KEM key spliced into my bundle does not verify.
        let other = try IdentityKeys()
        var w = WireWriter()
        w.u8(1); w.bytes16(keys.bundle.signingKey); w.bytes16(other.bundle.kemKey); w.bytes16(keys.bundle.noiseKey); w.bytes16(keys.bundle.signature)
        #expect(throws: WireError.invalid("identity bundle signature does not verify")) { try IdentityBundle(decoding: w.bytes) }
    }

    @Test func safetyNumbersAreSymmetricAndPairSpecific() throws {
        let a = try IdentityKeys().bundle, b = try IdentityKeys().bundle, c = try IdentityKeys().bundle
        let ab = IdentityBundle.safetyNumber(a, b)
        #expect(ab == IdentityBundle.safetyNumber(b, a))
        #expect(ab != IdentityBundle.safetyNumber(a, c))
        #expect(ab.split(separator: " ").count == 12 && ab.split(separator: " ").allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) })
    }
}

@Suite struct KeyShareTests {
    @Test func sealedToOneRecipientsPrekeySignedByTheSender() throws {
        let alice = try IdentityKeys(), bob = try IdentityKeys(), carol = try IdentityKeys()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let bobPrekey = try PrekeyPair.generate(now: now, identity: bob), carolPrekey = try PrekeyPair.generate(now: now, identity: carol)
        let chain = KeyShare.Chain(conversation: "", chainID: [UInt8](repeating: 3, count: 16),
                                   chainKey: ChainKey(key: [UInt8](repeating: 9, count: 32), index: 42), signingKey: [UInt8](repeating: 4, count: 32),
                                   created: now)
        let share = try KeyShare.seal(chain, from: "alice", to: "bob", prekey: bobPrekey.signed, sender: alice)
        let wire = share.encoded()
        #expect(wire.count <= KeyShare.maxLength && KeyShare.maxLength <= WireLimits.maxKeyShareBytes)
        #expect(share.senderBundle == alice.encodedBundle && alice.encodedBundle.count == IdentityBundle.encodedLength)
        #expect(share.prekeyID == bobPrekey.signed.id)
        let decoded = try KeyShare(decoding: wire)
        let bobs: ([UInt8]) -> XWingMLKEM768X25519.PrivateKey? = { $0 == bobPrekey.signed.id ? bobPrekey.privateKey : nil }
        #expect(try decoded.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: bobs) == chain)
        // Not with the long-term key: only the prekey opens it (deleted after rotation, nothing does).
        #expect(throws: EndToEndError.decryptionFailed) {
            try decoded.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: { _ in bob.kem })
        }
        #expect(throws: EndToEndError.unknownPrekey) {
            try decoded.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: { _ in nil })
        }
        // Not for carol; not from carol; not re-addressed.
        #expect(throws: EndToEndError.decryptionFailed) {
            try decoded.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: { _ in carolPrekey.privateKey })
        }
        #expect(throws: EndToEndError.badSignature) { try decoded.open(from: "alice", to: "bob", senderSigningKey: carol.bundle.signingKey, prekey: bobs) }
        #expect(throws: EndToEndError.badSignature) { try decoded.open(from: "alice", to: "carol", senderSigningKey: alice.bundle.signingKey, prekey: bobs) }
        // Another prekey named: the signature covers which.
        var renamed = decoded
        renamed.prekeyID = carolPrekey.signed.id
        #expect(throws: EndToEndError.badSignature) { try renamed.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: bobs) }
        var tampered = decoded
        tampered.sealed[0] ^= 1
        #expect(throws: EndToEndError.badSignature) { try tampered.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: bobs) }
    }

    @Test func aPrekeyIsSignedByItsOwnerAndRotatesAndIsDeletedAfterItsGrace() throws {
        let bob = try IdentityKeys(), mallory = try IdentityKeys()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let prekey = try PrekeyPair.generate(now: now, identity: bob)
        #expect(try SignedPrekey(decoding: prekey.signed.encoded(), signingKey: bob.bundle.signingKey) == prekey.signed)
        #expect(prekey.signed.encoded().count == SignedPrekey.encodedLength)
        #expect(throws: WireError.self) { try SignedPrekey(decoding: prekey.signed.encoded(), signingKey: mallory.bundle.signingKey) }
        var moved = prekey.signed.encoded()
        moved[moved.count - 70] ^= 1  // its creation time
        #expect(throws: WireError.self) { try SignedPrekey(decoding: moved, signingKey: bob.bundle.signingKey) }
        // Stored and read back: the same key.
        let again = try PrekeyPair(seed: prekey.seed, signed: prekey.signed.encoded(), identity: bob)
        #expect(again.privateKey.publicKey.rawRepresentation == prekey.privateKey.publicKey.rawRepresentation)

        let policy = PrekeyPolicy()
        #expect(policy.plan([], now: now).rotate)
        // Made while the clock was an hour fast: replaced at once, not published until then.
        #expect(policy.plan([prekey.signed], now: now.addingTimeInterval(-3_600)).rotate)
        #expect(!policy.plan([prekey.signed], now: now.addingTimeInterval(-300)).rotate)
        #expect(!policy.plan([prekey.signed], now: now.addingTimeInterval(6 * 86_400)).rotate)
        #expect(policy.plan([prekey.signed], now: now.addingTimeInterval(7 * 86_400)).rotate)
        let next = try PrekeyPair.generate(now: now.addingTimeInterval(7 * 86_400), identity: bob)
        // The old one stays for the grace after its successor, then goes; the newest never does.
        #expect(policy.plan([prekey.signed, next.signed], now: now.addingTimeInterval(36 * 86_400)).delete.isEmpty)
        #expect(policy.plan([next.signed, prekey.signed], now: now.addingTimeInterval(38 * 86_400)).delete == [prekey.signed.id])
        #expect(policy.isExpired(prekey.signed.created, now: now.addingTimeInterval(31 * 86_400), skew: 600))
        #expect(!policy.isExpired(prekey.signed.created, now: now.addingTimeInterval(29 * 86_400), skew: 600))
        #expect(policy.isExpired(prekey.signed.created, now: now.addingTimeInterval(-601), skew: 600))
    }
}
