/// A chat message as the client submits it. `clientMessageID` is unique per client identity,
/// so the server can acknowledge it and drop a resend of what it already relayed.
public struct SendRequest: Equatable, Sendable {
    public var clientMessageID: UInt64
    /// Empty for the shared room; otherwise the recipient's username.
    public var to: String
    /// Opaque to the server.
    public var body: [UInt8]

    public init(clientMessageID: UInt64, to: String = "", body: [UInt8]) {
        self.clientMessageID = clientMessageID
        self.to = to
        self.body = body
    }
}

/// Records a logged-in client sends (types 0x01–0x7f).
public enum ClientRecord: Equatable, Sendable {
    case send(SendRequest)
    case ping(UInt64)
    case bye
    /// A sealed sender chain for exactly one member; relayed to them only, never acknowledged.
    case keyShare(to: String, payload: [UInt8])
    /// Asks for these members' identity bundles (1…`maxIdentityRequest` names); answered by
    /// `identities` records, the last one final.
    case identityRequest([String])
    /// After a reconnect: which of these client message ids (1…`maxRelayedQuery`) did the
    /// server relay already? Asked before sealing them again, so a message the server would
    /// drop as a resend never takes an index on the new chain (receivers would see a gap).
    case relayedQuery([UInt64])
    /// Everything of this client's stream through `position` is stored on the device: the
    /// server may let go of it (and starts there at the next login).
    case confirm(UInt64)
    /// This member leaves the room for good: their name is freed (as an operator's release
    /// does), what waited for them is dropped, and the room hears `presence` 3.
    case leave
    /// A new signed prekey (`SignedPrekey`) for a session that outlives the rotation period:
    /// listed from now on in place of the login's, and the room hears `presence` 4.
    case prekey([UInt8])

    enum Kind: UInt8 {
        case send = 0x01, ping = 0x02, bye = 0x03, keyShare = 0x04, identityRequest = 0x05, relayedQuery = 0x06, confirm = 0x07
        case leave = 0x08, prekey = 0x09
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        switch self {
        case .send(let s):
            w.u8(Kind.send.rawValue)
            w.u64(s.clientMessageID)
            w.string16(s.to)
            w.bytes16(s.body)
        case .ping(let token):
            w.u8(Kind.ping.rawValue)
            w.u64(token)
        case .bye:
            w.u8(Kind.bye.rawValue)
        case .keyShare(let to, let payload):
            w.u8(Kind.keyShare.rawValue)
            w.string16(to)
            w.bytes16(payload)
        case .identityRequest(let names):
            w.u8(Kind.identityRequest.rawValue)
            w.u16(UInt16(names.count))
            for name in names { w.string16(name) }
        case .relayedQuery(let ids):
            w.u8(Kind.relayedQuery.rawValue)
            w.u16(UInt16(ids.count))
            for id in ids { w.u64(id) }
        case .confirm(let position):
            w.u8(Kind.confirm.rawValue)
            w.u64(position)
        case .leave:
            w.u8(Kind.leave.rawValue)
        case .prekey(let signed):
            w.u8(Kind.prekey.rawValue)
            w.bytes16(signed)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        let type = try r.u8("record type")
        switch Kind(rawValue: type) {
        case .send:
            let id = try r.u64("client message id")
            let to = try r.string16("recipient", max: WireLimits.maxUsernameBytes)
            let body = try r.bytes16("body", max: WireLimits.maxBodyBytes)
            self = .send(SendRequest(clientMessageID: id, to: to, body: body))
        case .ping:
            self = .ping(try r.u64("ping token"))
        case .bye:
            self = .bye
        case .keyShare:
            self = .keyShare(to: try r.string16("recipient", max: WireLimits.maxUsernameBytes),
                             payload: try r.bytes16("key share", max: WireLimits.maxKeyShareBytes))
        case .identityRequest:
            let count = Int(try r.u16("name count"))
            guard (1...WireLimits.maxIdentityRequest).contains(count) else { throw WireError.invalid("identity request for \(count) names") }
            self = .identityRequest(try r.entries(count, minLength: 2, "names") { try $0.string16("name", max: WireLimits.maxUsernameBytes) })
        case .relayedQuery:
            let count = Int(try r.u16("id count"))
            guard (1...WireLimits.maxRelayedQuery).contains(count) else { throw WireError.invalid("relayed query for \(count) ids") }
            self = .relayedQuery(try r.entries(count, minLength: 8, "ids") { try $0.u64("client message id") })
        case .confirm:
            self = .confirm(try r.u64("position"))
        case .leave:
            self = .leave
        case .prekey:
            self = .prekey(try r.bytes16("prekey", max: WireLimits.maxPrekeyBytes))
        case nil:
            throw WireError.unknownRecordType(type)
        }
        try r.expectEnd("client record")
    }
}
