import Crypto
import Foundation
import NIOCore
import NIOEmbedded
import SottoCore
import SottoServer
import SottoTransport

/// Entry points for the fuzzers (tools/fuzz) and their regression tests: each takes
/// arbitrary bytes and must neither crash nor hang, whatever they are.
public enum Harness: String, CaseIterable, Sendable {
    /// The frame decoder and the Noise layer of a responder, fed in input-chosen chunks.
    case frames
    /// The real server pipeline after a genuine handshake: fuzzed login and records.
    case handshake
    /// Every wire and end-to-end decoder.
    case schema
    /// End-to-end opening: relayed message bodies and key shares.
    case open
    /// A legitimate member with a patched client: correctly sealed and signed shares and
    /// envelopes whose every field the input chooses (indices, ids, keys, times, texts).
    case member
    /// A hostile server facing a client that logged in for real: every record it receives,
    /// their order, timers, drops and what the person types (ServerRoleHarness.swift).
    case serverRole = "server-role"

    public func run(_ data: [UInt8]) {
        switch self {
        case .frames: Self.frames(data)
        case .handshake: Self.handshake(data)
        case .schema: Self.schema(data)
        case .open: Self.open(data)
        case .member: _ = Self.member(data)
        case .serverRole: _ = Self.serverRole(data)
        }
    }

    static let serverKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x42, count: 32))
    static let clientKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x24, count: 32))
    static let password = "fuzz"

    static func frames(_ data: [UInt8]) {
        guard let handshake = try? HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: serverKey) else { return }
        let channel = EmbeddedChannel()
        try? channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(FrameDecoder()), NoiseChannelHandler(handshake: handshake)])
        var offset = 0
        var step = 1
        while offset < data.count {
            step = Int(data[offset] % 64) + 1
            let end = min(data.count, offset + step)
            if (try? channel.writeInbound(ByteBuffer(bytes: data[offset..<end]))) == nil { break }
            offset = end
        }
        while (try? channel.readInbound(as: NoiseInbound.self)) != nil {}
        _ = try? channel.finish()
        // EmbeddedChannel keeps a channel closed from inside a read alive until its loop
        // shuts down (~1.8 KB per failing input otherwise).
        channel.embeddedEventLoop.shutdownGracefully(queue: .global()) { _ in }  // not the sync variant: it asserts it is off the loop
    }

    static let serverConfiguration: ServerConfiguration = {
        var limits = ServerLimits()
        limits.recordsPerSecond = 1e9
        limits.recordBurst = 1e9
        limits.maxConnections = 1 << 20
        limits.maxConnectionsPerAddress = 1 << 20
        return try! ServerConfiguration(
            host: "127.0.0.1", port: 0, staticKey: serverKey, password: password,
            passwordSalt: Array("fuzz-salt-0123456".utf8), scrypt: .testing, limits: limits, threads: 1)
    }()

    /// One in-memory server per thread: an EmbeddedEventLoop may only be used by the thread
    /// that made it, and the regression tests replay inputs on several.
    static var server: InMemoryServer {
        let key = "sotto.fuzzing.server"
        if let existing = Thread.current.threadDictionary[key] as? InMemoryServer { return existing }
        let made = InMemoryServer(configuration: serverConfiguration)
        Thread.current.threadDictionary[key] = made
        return made
    }

    static let passwordKey = try! PasswordKey.derive(password: password, salt: Array("fuzz-salt-0123456".utf8), parameters: .testing)

    /// Input: chunks separated by 0xFE 0xFE. The first is the login payload (or, when it
    /// starts with 0x00, a valid login for the name that follows); the rest are transport
    /// plaintexts, sealed properly so the server's record handling sees them.
    /// Returns true if the login was accepted (the server answered with a welcome).
    @discardableResult
    static func handshake(_ data: [UInt8]) -> Bool {
        var chunks: [[UInt8]] = [[]]
        var i = 0
        while i < data.count {
            if data[i] == 0xFE, i + 1 < data.count, data[i + 1] == 0xFE {
                chunks.append([])
                i += 2
            } else {
                chunks[chunks.count - 1].append(data[i])
                i += 1
            }
        }
        guard let channel = try? server.connect(),
              var client = try? HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: clientKey) else { return false }
        defer {
            _ = try? channel.close().wait()
            server.loop.run()
        }
        func send(_ message: [UInt8]) -> Bool {
            var buffer = ByteBuffer()
            buffer.writeFrame(message)
            return (try? channel.writeInbound(buffer)) != nil
        }
        func nextFrame() -> [UInt8]? {
            server.loop.run()
            guard var out = try? channel.readOutbound(as: ByteBuffer.self), let n = out.readInteger(as: UInt16.self),
                  let bytes = out.readBytes(length: Int(n)) else { return nil }
            return bytes
        }
        guard let m1 = try? client.writeMessage(payload: []), send(m1), let m2 = nextFrame(),
              (try? client.readMessage(m2)) != nil else { return false }
        var login = chunks[0]
        if login.first == 0 {
            let name = String(decoding: login.dropFirst(), as: UTF8.self)
            login = LoginRequest(username: name, proof: PasswordKey.proof(key: passwordKey, handshakeHash: client.handshakeHash),
                                 sessionNonce: [UInt8](repeating: 1, count: WireLimits.sessionNonceLength)).encoded()
        }
        guard let m3 = try? client.writeMessage(payload: login), send(m3), var transport = try? client.split() else { return false }
        var welcomed = false
        if let reply = nextFrame(), let plain = try? transport.open(reply), let records = try? RecordBatch.split(plain) {
            welcomed = records.contains { if case .welcome? = try? ServerRecord(decoding: $0) { true } else { false } }
        }
        for plaintext in chunks.dropFirst() {
            guard !plaintext.isEmpty, plaintext.count <= NoiseTransport.maxPlaintextLength,
                  let sealed = try? transport.seal(plaintext), send(sealed) else { break }
            server.loop.run()
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        }
        return welcomed
    }

    static func schema(_ data: [UInt8]) {
        _ = try? ServerRecord(decoding: data)
        _ = try? ClientRecord(decoding: data)
        _ = try? LoginRequest(decoding: data)
        _ = try? ServerHello(decoding: data)
        _ = try? RecordBatch.split(data)
        _ = try? IdentityBundle(decoding: data)
        _ = try? MessageEnvelope(decoding: data)
        _ = try? KeyShare(decoding: data)
        _ = try? InviteLink(parsing: String(decoding: data, as: UTF8.self))
        _ = try? Username(String(decoding: data, as: UTF8.self))
    }

    static let me = try! IdentityKeys()
    static let peer = try! IdentityKeys()
    /// Prekeys made at the harnesses' clock (fixed for a run: a share sealed to one opens).
    static let mePrekey = try! PrekeyPair.generate(now: memberNow, identity: me)
    static let peerPrekey = try! PrekeyPair.generate(now: memberNow, identity: peer)
    static let session: EndToEndSession = {
        let s = EndToEndSession(me: "me", identity: me, restored: KeyState(prekeys: [mePrekey])) { _, _ in .unverified }
        _ = s.updateMembers([
            OnlineUser(name: "me", staticKey: Array(me.noiseStatic.publicKey.rawRepresentation), identityDigest: me.bundle.digest,
                       sessionNonce: [UInt8](repeating: 1, count: WireLimits.sessionNonceLength)),
            OnlineUser(name: "peer", staticKey: Array(peer.noiseStatic.publicKey.rawRepresentation), identityDigest: peer.bundle.digest,
                       sessionNonce: [UInt8](repeating: 2, count: WireLimits.sessionNonceLength)),
        ], now: Date(timeIntervalSince1970: 0))
        _ = s.receiveIdentities([IdentityEntry(name: "peer", bundle: peer.encodedBundle, prekey: peerPrekey.signed.encoded())], now: memberNow)
        return s
    }()

    static func open(_ data: [UInt8]) {
        let now = memberNow
        let to = data.first.map { $0 % 2 == 0 ? "" : "me" } ?? ""
        _ = session.open(ChatMessage(sequence: 1, time: 0, from: "peer", to: to, clientMessageID: 1, body: data), now: now)
        _ = session.receiveKeyShare(from: "peer", payload: data, now: now)
        _ = session.expire(now: now.addingTimeInterval(3_600))
    }

    // MARK: The member harness

    static let memberNonce = [UInt8](repeating: 1, count: WireLimits.sessionNonceLength)
    static let memberNow = Date(timeIntervalSince1970: 1_800_000_000)
    /// Chain signing keys the input picks among (signing is what makes its envelopes pass
    /// the signature check, so the fuzzer reaches the ratchet).
    static let chainSigners = (0..<4).map { i in try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: UInt8(0x50 + i), count: 32)) }

    /// The harness's own sealing (an X-Wing encapsulation and two signatures per share, a
    /// signature per envelope) was half of each input's time. libFuzzer mutates an input in
    /// one place and replays the rest, so most shares and envelopes are ones it asked for
    /// before: each is sealed once (what the code under test receives is the same either way:
    /// a correctly sealed share of exactly those fields). Bounded; cleared when full.
    struct ShareFields: Hashable {
        let conversation: String, chainID: [UInt8], index: UInt32, key: [UInt8], signer: Int, created: Date
    }
    struct SignedBytes: Hashable { let signer: Int, bytes: [UInt8] }
    nonisolated(unsafe) static var sealedShares: [ShareFields: [UInt8]] = [:]
    nonisolated(unsafe) static var signatures: [SignedBytes: [UInt8]] = [:]
    static let sealCacheLimit = 4_096

    static func cached<Key: Hashable>(_ cache: inout [Key: [UInt8]], _ key: Key, _ make: () -> [UInt8]?) -> [UInt8]? {
        if let known = cache[key] { return known }
        guard let made = make() else { return nil }
        if cache.count >= sealCacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = made
        return made
    }

    /// Reads the input a field at a time; past its end, zeros.
    struct Fields {
        let bytes: [UInt8]
        var at = 0
        var isAtEnd: Bool { at >= bytes.count }
        mutating func u8() -> UInt8 { defer { at += 1 }; return at < bytes.count ? bytes[at] : 0 }
        mutating func u32() -> UInt32 { (0..<4).reduce(0) { r, _ in r << 8 | UInt32(u8()) } }
        mutating func take(_ n: Int) -> [UInt8] { (0..<n).map { _ in u8() } }
    }

    /// A fresh receiving session ("me") in a room with the fuzzer ("peer"), then shares and
    /// messages from the peer, each op chosen by one byte, until the input ends.
    /// Returns how many messages were read (the seed corpus must reach the ratchet).
    @discardableResult
    public static func member(_ data: [UInt8]) -> Int {
        let session = EndToEndSession(me: "me", identity: me, restored: KeyState(prekeys: [mePrekey])) { _, _ in .unverified }
        _ = session.updateMembers([
            OnlineUser(name: "me", staticKey: Array(me.noiseStatic.publicKey.rawRepresentation), identityDigest: me.bundle.digest, sessionNonce: memberNonce),
            OnlineUser(name: "peer", staticKey: Array(peer.noiseStatic.publicKey.rawRepresentation), identityDigest: peer.bundle.digest,
                       sessionNonce: [UInt8](repeating: 2, count: WireLimits.sessionNonceLength)),
        ], now: memberNow)
        var f = Fields(bytes: data)
        var chainIDs: [[UInt8]] = []
        var sequence: UInt64 = 0
        var now = memberNow
        var read = 0
        while !f.isAtEnd {
            let op = f.u8()
            switch op % 4 {
            case 0:  // a key share, every field chosen
                let conversation = f.u8() % 2 == 0 ? "" : "dm"
                let id = f.u8() % 2 == 0 && !chainIDs.isEmpty ? chainIDs[Int(f.u8()) % chainIDs.count] : f.take(MessageEnvelope.chainIDLength)
                let index = f.u32()
                let key = f.take(32)
                let signerIndex = Int(f.u8()) % chainSigners.count
                let signer = chainSigners[signerIndex]
                let age = TimeInterval(Int32(bitPattern: f.u32()))
                let created = now.addingTimeInterval(-age)
                let fields = ShareFields(conversation: conversation, chainID: id, index: index, key: key, signer: signerIndex, created: created)
                guard let share = cached(&sealedShares, fields, {
                    let chain = KeyShare.Chain(conversation: conversation, chainID: id, chainKey: ChainKey(key: key, index: index),
                                               signingKey: Array(signer.publicKey.rawRepresentation), created: created)
                    return (try? KeyShare.seal(chain, from: "peer", to: "me", prekey: mePrekey.signed, sender: peer))?.encoded()
                }) else { continue }
                chainIDs.append(id)
                _ = session.receiveKeyShare(from: "peer", payload: share, now: now)
            case 1, 2:  // an envelope on a chain it chose, signed, sealed with a key it chose
                let direct = f.u8() % 2 == 1
                let id = chainIDs.isEmpty ? f.take(MessageEnvelope.chainIDLength) : chainIDs[Int(f.u8()) % chainIDs.count]
                let index = f.u32()
                let key = ChainKey(key: f.take(32), index: index).messageKey
                let signerIndex = Int(f.u8()) % chainSigners.count
                let signer = chainSigners[signerIndex]
                let text = f.take(Int(f.u8() % 64))
                // A version-1 envelope (no sealed time) or a version-2 one at any time at all.
                let sent: UInt64? = f.u8() % 2 == 0 ? nil : UInt64(f.u32()) << 32 | UInt64(f.u32())
                let header = MessageEnvelope.header(conversation: direct ? "dm" : "", from: "peer", to: direct ? "me" : "", chainID: id,
                                                    index: index, sentMillis: sent)
                guard let ciphertext = try? key.seal(text, header: header),
                      let signature = cached(&signatures, SignedBytes(signer: signerIndex, bytes: header + ciphertext), {
                          try? Array(signer.signature(for: header + ciphertext))
                      }) else { continue }
                let body = MessageEnvelope(conversation: direct ? "dm" : "", chainID: id, index: index, sentMillis: sent,
                                           ciphertext: ciphertext, signature: signature)
                sequence &+= 1
                let events = session.open(ChatMessage(sequence: sequence, time: UInt64(f.u32()), from: "peer", to: direct ? "me" : "",
                                                      clientMessageID: sequence, body: body.encoded()), now: now)
                read += events.filter { if case .message = $0 { true } else { false } }.count
            default:  // time passes (or runs back)
                now = now.addingTimeInterval(TimeInterval(Int16(bitPattern: UInt16(f.u8()) << 8 | UInt16(f.u8()))))
                _ = session.expire(now: now)
            }
        }
        return read
    }
}
