import Testing
@testable import SottoCore

@Suite struct WireSchemaTests {
    static let user = OnlineUser(name: "zoë", staticKey: Array(repeating: 7, count: 32), identityDigest: Array(repeating: 3, count: 32), sessionNonce: Array(repeating: 8, count: 16))

    static let serverRecords: [ServerRecord] = [
        .welcome(name: "Ålice", time: 1_700_000_000_000),
        .error(ServerError(.wrongPassword, fatal: true)),
        .error(ServerError(.messageTooLarge, "too big", fatal: false)),
        .users([], final: true),
        .users([user, OnlineUser(name: "bob", staticKey: Array(repeating: 1, count: 32))], final: false),
        .presence(Presence(event: .joined, user: user, time: 5)),
        .presence(Presence(event: .newPrekey, user: user, time: 6)),
        .presence(Presence(event: .left, user: OnlineUser(name: "bob", staticKey: Array(repeating: 1, count: 32), online: false, lastSeen: 6), time: 6)),
        .message(ChatMessage(sequence: 42, time: 7, from: "a", to: "", clientMessageID: 9, body: Array("hi".utf8))),
        .message(ChatMessage(sequence: 43, time: 8, from: "a", to: "b", clientMessageID: .max, body: [])),
        .ack(clientMessageID: 1, sequence: 2),
        .pong(77),
        .keyShare(from: "ann", payload: [1, 2, 3], position: 44),
        .caughtUp(position: 45, dropped: 3),
        .identities([IdentityEntry(name: "ann", bundle: [1, 2], prekey: [3]), IdentityEntry(name: "gone", bundle: [])], final: true),
        .identities([], final: false),
        .relayed([]),
        .relayed([1, .max]),
    ]

    static let clientRecords: [ClientRecord] = [
        .send(SendRequest(clientMessageID: 1, body: Array("hello".utf8))),
        .send(SendRequest(clientMessageID: 2, to: "bob", body: [UInt8](repeating: 0xff, count: WireLimits.maxBodyBytes))),
        .ping(3),
        .bye,
        .confirm(46),
        .leave,
        .prekey([UInt8](repeating: 4, count: WireLimits.maxPrekeyBytes)),
        .keyShare(to: "bob", payload: [UInt8](repeating: 9, count: WireLimits.maxKeyShareBytes)),
        .identityRequest(["ann"]),
        .relayedQuery([7]),
        .relayedQuery(Array(1...300)),
        .identityRequest((0..<WireLimits.maxIdentityRequest).map { "member \($0)" }),
    ]

    @Test(arguments: serverRecords) func serverRecordsRoundTrip(record: ServerRecord) throws {
        #expect(try ServerRecord(decoding: record.encoded()) == record)
    }

    @Test(arguments: clientRecords) func clientRecordsRoundTrip(record: ClientRecord) throws {
        #expect(try ClientRecord(decoding: record.encoded()) == record)
    }

    @Test func handshakePayloadsRoundTrip() throws {
        let hello = ServerHello(serverName: "LAN party", maxBodyBytes: 16_384, passwordSalt: Array(repeating: 5, count: 16), scrypt: .standard)
        #expect(try ServerHello(decoding: hello.encoded()) == hello)
        let login = LoginRequest(username: "bob", proof: Array(repeating: 1, count: 32), identity: [9, 9], sessionNonce: Array(repeating: 2, count: 16))
        #expect(try LoginRequest(decoding: login.encoded()) == login)
    }

    /// Every strict prefix of every valid encoding is refused with an error, never a crash.
    @Test func everyTruncationIsRefused() throws {
        let encodings = Self.serverRecords.map { $0.encoded() } + Self.clientRecords.filter { if case .bye = $0 { false } else { true } }.map { $0.encoded() }
        for bytes in encodings {
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                let server = Result { try ServerRecord(decoding: prefix) }
                let client = Result { try ClientRecord(decoding: prefix) }
                if case .success(let r) = server, r.encoded() == bytes { Issue.record("prefix decoded as the whole") }
                if case .success(let r) = client, r.encoded() == bytes { Issue.record("prefix decoded as the whole") }
            }
        }
    }

    @Test func identityRequestsAndDigestsAreBounded() throws {
        #expect(throws: WireError.invalid("identity request for 0 names")) { try ClientRecord(decoding: [0x05, 0, 0]) }
        let tooMany = ClientRecord.identityRequest((0...WireLimits.maxIdentityRequest).map { "m\($0)" }).encoded()
        #expect(throws: WireError.invalid("identity request for 257 names")) { try ClientRecord(decoding: tooMany) }
        #expect(throws: WireError.invalid("relayed query for 0 ids")) { try ClientRecord(decoding: [0x06, 0, 0]) }
        let largest = ClientRecord.relayedQuery(Array(1...UInt64(WireLimits.maxRelayedQuery)))
        #expect(try ClientRecord(decoding: largest.encoded()) == largest)
        let tooManyIDs = ClientRecord.relayedQuery(Array(0...UInt64(WireLimits.maxRelayedQuery))).encoded()
        #expect(throws: WireError.invalid("relayed query for 4097 ids")) { try ClientRecord(decoding: tooManyIDs) }
        var shortDigest = Self.user
        shortDigest.identityDigest = [1, 2, 3]
        #expect(throws: WireError.invalid("identity digest of 3 bytes")) {
            try ServerRecord(decoding: ServerRecord.presence(Presence(event: .joined, user: shortDigest, time: 1)).encoded())
        }
    }

    @Test func trailingBytesUnknownTypesAndBadUTF8AreRefused() throws {
        #expect(throws: WireError.trailingBytes("client record")) { try ClientRecord(decoding: ClientRecord.ping(1).encoded() + [0]) }
        #expect(throws: WireError.unknownRecordType(0x7f)) { try ClientRecord(decoding: [0x7f]) }
        #expect(throws: WireError.unknownRecordType(0x01)) { try ServerRecord(decoding: [0x01]) }
        var w = WireWriter()
        w.u8(0x01); w.u64(1); w.bytes16([0xc3, 0x28]); w.bytes16([])
        #expect(throws: WireError.invalidUTF8("recipient")) { try ClientRecord(decoding: w.bytes) }
    }

    @Test func oversizedFieldsAreRefusedBeforeUse() throws {
        var w = WireWriter()
        w.u8(0x01); w.u64(1); w.string16(""); w.u16(UInt16(WireLimits.maxBodyBytes + 1))
        #expect(throws: WireError.tooLong(field: "body", limit: WireLimits.maxBodyBytes)) { try ClientRecord(decoding: w.bytes) }
        // A user list claiming 65535 entries in a few bytes is refused without allocating them.
        var u = WireWriter()
        u.u8(0x83); u.bool(true); u.u16(0xffff)
        #expect(throws: WireError.truncated("user list")) { try ServerRecord(decoding: u.bytes) }
        // A key must be exactly 32 bytes.
        var k = WireWriter()
        k.u8(0x84); k.u8(1); k.string16("a"); k.bytes16([1, 2, 3]); k.bytes16([]); k.u64(0)
        #expect(throws: WireError.invalid("static key must be 32 bytes")) { try ServerRecord(decoding: k.bytes) }
    }

    @Test func wrongSchemaVersionsAndBadParametersAreRefused() throws {
        var login = LoginRequest(username: "a", proof: Array(repeating: 0, count: 32), sessionNonce: Array(repeating: 0, count: 16)).encoded()
        login[0] = 2  // the version before login proofs and session nonces
        #expect(throws: WireError.unsupportedVersion(2)) { try LoginRequest(decoding: login) }
        login[0] = 3  // the version before the delivery log and prekeys
        #expect(throws: WireError.unsupportedVersion(3)) { try LoginRequest(decoding: login) }
        login[0] = 4  // the version before leave and prekey records
        #expect(throws: WireError.unsupportedVersion(4)) { try LoginRequest(decoding: login) }
        login[0] = 6
        #expect(throws: WireError.unsupportedVersion(6)) { try LoginRequest(decoding: login) }
        var hello = ServerHello(serverName: "s", maxBodyBytes: 10, passwordSalt: Array(repeating: 0, count: 16), scrypt: ScryptParameters(log2N: 30, r: 8, p: 1))
        #expect(throws: WireError.invalid("scrypt parameters out of bounds")) { try ServerHello(decoding: hello.encoded()) }
        hello.scrypt = .standard
        hello.passwordSalt = [1]
        #expect(throws: WireError.invalid("password salt too short")) { try ServerHello(decoding: hello.encoded()) }
        let shortKey = LoginRequest(username: "a", proof: [1, 2], sessionNonce: Array(repeating: 0, count: 16)).encoded()
        #expect(throws: WireError.invalid("login proof must be 32 bytes")) { try LoginRequest(decoding: shortKey) }
        let shortNonce = LoginRequest(username: "a", proof: Array(repeating: 0, count: 32), sessionNonce: [1]).encoded()
        #expect(throws: WireError.invalid("session nonce must be 16 bytes")) { try LoginRequest(decoding: shortNonce) }
    }

    /// Random bytes never crash the decoders (a deterministic mini-fuzz; tools/ has the real one).
    @Test func randomBytesNeverCrashTheDecoders() {
        var rng = SplitMix64(seed: 0x5077_0001)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 64)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if !bytes.isEmpty, rng.next() % 2 == 0 { bytes[0] = [0x01, 0x02, 0x03, 0x04, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88][Int(rng.next() % 12)] }
            _ = try? ServerRecord(decoding: bytes)
            _ = try? ClientRecord(decoding: bytes)
            _ = try? LoginRequest(decoding: bytes)
            _ = try? ServerHello(decoding: bytes)
            _ = try? RecordBatch.split(bytes)
        }
    }

    @Test func recordBatchesSplitExactlyIntoRecords() throws {
        var plain: [UInt8] = []
        RecordBatch.append([1, 2], to: &plain)
        RecordBatch.append([3], to: &plain)
        #expect(plain == [0, 2, 1, 2, 0, 1, 3])
        #expect(try RecordBatch.split(plain) == [[1, 2], [3]])
        #expect(throws: WireError.invalid("transport message without records")) { try RecordBatch.split([]) }
        #expect(throws: WireError.invalid("empty record")) { try RecordBatch.split([0, 0]) }
        #expect(throws: WireError.truncated("record")) { try RecordBatch.split([0, 5, 1]) }
        #expect(throws: WireError.truncated("record length")) { try RecordBatch.split([0, 1, 9, 0]) }
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
