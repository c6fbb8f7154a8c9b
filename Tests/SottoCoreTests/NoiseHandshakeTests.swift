import Crypto
import Testing
@testable import SottoCore

@Suite struct NoiseHandshakeTests {
    struct Pair {
        var initiator: HandshakeState
        var responder: HandshakeState
        let clientKey = DHPrivateKey()
        let serverKey = DHPrivateKey()
    }

    func makePair(initiatorPrologue: [UInt8] = sottoPrologue, responderPrologue: [UInt8] = sottoPrologue) throws -> (HandshakeState, HandshakeState, DHPrivateKey, DHPrivateKey) {
        let c = DHPrivateKey(), s = DHPrivateKey()
        return (try HandshakeState(initiator: true, prologue: initiatorPrologue, localStatic: c),
                try HandshakeState(initiator: false, prologue: responderPrologue, localStatic: s), c, s)
    }

    func complete() throws -> (NoiseTransport, NoiseTransport, HandshakeState, HandshakeState) {
        var (i, r, _, _) = try makePair()
        #expect(try r.readMessage(try i.writeMessage(payload: [])) == [])
        #expect(try i.readMessage(try r.writeMessage(payload: Array("hello".utf8))) == Array("hello".utf8))
        #expect(try r.readMessage(try i.writeMessage(payload: Array("login".utf8))) == Array("login".utf8))
        return (try i.split(), try r.split(), i, r)
    }

    @Test func xxHandshakeAuthenticatesBothStaticKeys() throws {
        var (i, r, c, s) = try makePair()
        _ = try r.readMessage(try i.writeMessage(payload: []))
        _ = try i.readMessage(try r.writeMessage(payload: []))
        #expect(i.remoteStatic == Array(s.publicKey.rawRepresentation))
        _ = try r.readMessage(try i.writeMessage(payload: []))
        #expect(r.remoteStatic == Array(c.publicKey.rawRepresentation))
        #expect(i.isComplete && r.isComplete)
        #expect(i.handshakeHash == r.handshakeHash)
    }

    @Test func messageOneIsOnlyTheEphemeralKeyAndPayloadsAfterAreEncrypted() throws {
        var (i, r, _, _) = try makePair()
        let m1 = try i.writeMessage(payload: [])
        #expect(m1.count == 32)
        _ = try r.readMessage(m1)
        let secret = Array("the-server-hello".utf8)
        let m2 = try r.writeMessage(payload: secret)
        #expect(m2.count == 32 + 48 + secret.count + 16)
        #expect(!m2.containsSubsequence(secret))
    }

    @Test func differentProloguesFailTheHandshake() throws {
        var (i, r, _, _) = try makePair(responderPrologue: Array("sotto/2".utf8))
        _ = try r.readMessage(try i.writeMessage(payload: []))
        let m2 = try r.writeMessage(payload: [])
        #expect(throws: NoiseError.decryptionFailed) { try i.readMessage(m2) }
    }

    @Test func aFlippedBitInAnyHandshakeMessageIsDetected() throws {
        for target in 0..<3 {
            var (i, r, _, _) = try makePair()
            var failed = false
            for step in 0..<3 {
                var message = step % 2 == 0 ? try i.writeMessage(payload: [1, 2, 3]) : try r.writeMessage(payload: [4, 5, 6])
                if step == target { message[message.count - 1] ^= 0x01 }
                do {
                    _ = step % 2 == 0 ? try r.readMessage(message) : try i.readMessage(message)
                } catch {
                    failed = true
                    break
                }
            }
            // Message 1 carries no MAC; a changed ephemeral key surfaces as a failure at message 2.
            #expect(failed, "tampering with message \(target + 1) went unnoticed")
        }
    }

    @Test func outOfTurnAndAfterCompletionAreRefused() throws {
        var (i, r, _, _) = try makePair()
        #expect(throws: NoiseError.wrongTurn) { try r.writeMessage(payload: []) }
        let m1 = try i.writeMessage(payload: [])
        #expect(throws: NoiseError.wrongTurn) { try i.writeMessage(payload: []) }
        #expect(throws: NoiseError.wrongTurn) { try r.writeMessage(payload: []) }
        _ = try r.readMessage(m1)
        #expect(throws: NoiseError.wrongTurn) { try r.readMessage(m1) }
        var (_, _, done, _) = try complete()
        #expect(throws: NoiseError.handshakeComplete) { try done.writeMessage(payload: []) }
    }

    @Test func truncatedHandshakeMessagesAreRefused() throws {
        var (i, r, _, _) = try makePair()
        #expect(throws: NoiseError.messageTooShort) { try r.readMessage(Array(repeating: 9, count: 31)) }
        _ = i
    }

    @Test func lowOrderEphemeralKeyIsRefused() throws {
        var (_, r, _, _) = try makePair()
        _ = try r.readMessage([UInt8](repeating: 0, count: 32))
        #expect(throws: NoiseError.invalidPublicKey) { try r.writeMessage(payload: []) }
    }

    @Test func transportRoundTripsBothWays() throws {
        var (client, server, _, _) = try complete()
        for n in 0..<5 {
            let up = Array("up \(n)".utf8), down = Array("down \(n)".utf8)
            #expect(try server.open(try client.seal(up)) == up)
            #expect(try client.open(try server.seal(down)) == down)
        }
    }

    @Test func replayedReorderedOrTamperedTransportMessagesAreRejected() throws {
        var (client, server, _, _) = try complete()
        let first = try client.seal([1]), second = try client.seal([2])
        // Reordered: the second arrives first.
        var reorderTarget = server
        #expect(throws: NoiseError.decryptionFailed) { try reorderTarget.open(second) }
        // In order works, a replay of the first does not.
        #expect(try server.open(first) == [1])
        #expect(throws: NoiseError.decryptionFailed) { try server.open(first) }
        var tampered = second
        tampered[0] ^= 0x80
        #expect(throws: NoiseError.decryptionFailed) { try server.open(tampered) }
        #expect(try server.open(second) == [2])
    }

    @Test func nonceExhaustionIsAnErrorNotAWrap() throws {
        let (client, _, _, _) = try complete()
        var cs = client.send
        cs.setNonce(UInt64.max - 1)
        _ = try cs.encryptWithAd([], [1])
        #expect(cs.nonce == UInt64.max)
        #expect(throws: NoiseError.nonceExhausted) { try cs.encryptWithAd([], [1]) }
        _ = client
    }

    @Test func rekeyKeepsBothEndsInStepAndChangesTheKey() throws {
        var (client, server, _, _) = try complete()
        client.rekeyInterval = 3
        server.rekeyInterval = 3
        var noRekey = client
        noRekey.rekeyInterval = UInt64.max
        var outputs: [[UInt8]] = []
        for n in 0..<10 {
            let ct = try client.seal([UInt8(n)])
            outputs.append(ct)
            #expect(try server.open(ct) == [UInt8(n)])
        }
        // Messages 0–2 are under the original key; from 3 on the key differs.
        for n in 0..<10 {
            let plain = try noRekey.seal([UInt8(n)])
            if n < 3 { #expect(plain == outputs[n]) } else { #expect(plain != outputs[n]) }
        }
    }

    @Test func oversizedMessagesAreRefused() throws {
        var (client, server, _, _) = try complete()
        #expect(throws: NoiseError.messageTooLarge(65_536)) { try client.seal([UInt8](repeating: 0, count: 65_520)) }
        #expect(try client.seal([UInt8](repeating: 0, count: 65_519)).count == 65_535)
        #expect(throws: NoiseError.messageTooLarge(65_536)) { try server.open([UInt8](repeating: 0, count: 65_536)) }
    }

    @Test func protocolNamesParse() throws {
        #expect(try NoiseProtocol(name: "Noise_XX_25519_ChaChaPoly_SHA256") == .sotto)
        #expect(try NoiseProtocol(name: "Noise_XXpsk3_25519_AESGCM_SHA512").pattern.usesPSK)
        #expect(throws: NoiseError.self) { try NoiseProtocol(name: "Noise_XX_448_ChaChaPoly_SHA256") }
        #expect(throws: NoiseError.self) { try NoiseProtocol(name: "Noise_ZZ_25519_ChaChaPoly_SHA256") }
        #expect(throws: NoiseError.self) { try NoiseProtocol(name: "Noise_XXpsk9_25519_ChaChaPoly_SHA256") }
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
