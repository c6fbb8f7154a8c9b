/// A member as the member list shows them, online or not. The list carries a digest of each
/// member's identity bundle, not the bundle: 90 bytes a member instead of 1,400 keeps joining
/// a room of thousands cheap, and a client fetches the bundles it needs (`identityRequest`).
public struct OnlineUser: Equatable, Sendable {
    public var name: String
    /// The member's Noise static public key (their device on the transport).
    public var staticKey: [UInt8]
    /// `IdentityBundle.digest` of the bundle they logged in with; empty without one.
    public var identityDigest: [UInt8]
    /// The random value the member's client chose for this session (empty for a member who
    /// is away): a new value tells members that device started a new session.
    public var sessionNonce: [UInt8]
    /// Online now; otherwise a registered member who is away (their messages wait for them).
    public var online: Bool
    /// When they were last online (ms since 1970, the server's clock); 0 if never known.
    public var lastSeen: UInt64

    public init(name: String, staticKey: [UInt8], identityDigest: [UInt8] = [], sessionNonce: [UInt8] = [],
                online: Bool = true, lastSeen: UInt64 = 0) {
        self.name = name
        self.staticKey = staticKey
        self.identityDigest = identityDigest
        self.sessionNonce = sessionNonce
        self.online = online
        self.lastSeen = lastSeen
    }

    /// Bytes a member occupies in a `users` record: four length-prefixed fields, the
    /// presence byte and the time last seen.
    public var encodedLength: Int { 4 * 2 + name.utf8.count + staticKey.count + identityDigest.count + sessionNonce.count + 1 + 8 }
    /// The shortest a listed member can be: an empty name (refused), a static key, nothing else.
    static let minEncodedLength = 4 * 2 + WireLimits.noiseKeyLength + 1 + 8
}

/// One member's identity bundle and current signed prekey, as the server answers an
/// `identityRequest`; `bundle` is empty if they are not a member (or have none), `prekey`
/// if they have published none.
public struct IdentityEntry: Equatable, Sendable {
    public var name: String
    public var bundle: [UInt8]
    public var prekey: [UInt8]

    public init(name: String, bundle: [UInt8], prekey: [UInt8] = []) {
        self.name = name
        self.bundle = bundle
        self.prekey = prekey
    }

    /// Bytes an entry occupies in an `identities` record.
    public var encodedLength: Int { 6 + name.utf8.count + bundle.count + prekey.count }
}

/// A relayed chat message, stamped by the server.
public struct ChatMessage: Equatable, Sendable {
    /// Server order: strictly increasing over the server's lifetime.
    public var sequence: UInt64
    /// Milliseconds since 1970, the server's clock.
    public var time: UInt64
    public var from: String
    /// Empty for the room; otherwise the recipient (so the sender's own copy says to whom).
    public var to: String
    public var clientMessageID: UInt64
    public var body: [UInt8]

    public init(sequence: UInt64, time: UInt64, from: String, to: String, clientMessageID: UInt64, body: [UInt8]) {
        self.sequence = sequence
        self.time = time
        self.from = from
        self.to = to
        self.clientMessageID = clientMessageID
        self.body = body
    }
}

/// A member came online, went away, is no longer a member (they left, or their name was
/// released), or published a new prekey. Each carries the whole member so lists update
/// incrementally; going away is not leaving the room (a member stays one until released).
public struct Presence: Equatable, Sendable {
    public enum Event: UInt8, Sendable { case joined = 1, left = 2, removed = 3, newPrekey = 4 }
    public var event: Event
    public var user: OnlineUser
    public var time: UInt64

    public init(event: Event, user: OnlineUser, time: UInt64) {
        self.event = event
        self.user = user
        self.time = time
    }
}

public struct ServerError: Equatable, Sendable, Error {
    public var code: ErrorCode
    public var text: String
    /// The server closes the connection after a fatal error.
    public var fatal: Bool

    public init(_ code: ErrorCode, _ text: String? = nil, fatal: Bool) {
        self.code = code
        self.text = text ?? code.explanation
        self.fatal = fatal
    }
}

/// Records the server sends after the handshake (types 0x81–0xff).
public enum ServerRecord: Equatable, Sendable {
    /// Login accepted, under this (normalized) name. `log`: the server's delivery log's random
    /// id (16 bytes): positions count in it, and a new log (its database started afresh)
    /// has a new one.
    case welcome(name: String, time: UInt64, log: [UInt8] = [])
    case error(ServerError)
    /// The online list, in parts that each fit one record; `final` marks the last part.
    case users([OnlineUser], final: Bool)
    case presence(Presence)
    case message(ChatMessage)
    /// A `SendRequest` was relayed (or was a duplicate of one already relayed).
    case ack(clientMessageID: UInt64, sequence: UInt64)
    case pong(UInt64)
    /// A sealed sender chain from one member to this client, at this position of the
    /// client's stream (like a message's `sequence`).
    case keyShare(from: String, payload: [UInt8], position: UInt64)
    /// What waited for this member has been handed over, through `position` of its stream;
    /// from here on deliveries are live. `dropped`: entries the server's retention removed
    /// before this member could fetch them.
    case caughtUp(position: UInt64, dropped: UInt64)
    /// Identity bundles asked for, in parts that each fit one record; `final` ends the answer.
    case identities([IdentityEntry], final: Bool)
    /// The answer to a `relayedQuery`: those of its ids the server relayed already.
    case relayed([UInt64])

    /// The sequence in an ack for a resend of a message relayed before (its first sequence
    /// is not kept); 0 in an ack means the server refused the message.
    public static let alreadyRelayed = UInt64.max

    enum Kind: UInt8 {
        case welcome = 0x81, error = 0x82, users = 0x83, presence = 0x84, message = 0x85, ack = 0x86, pong = 0x87, keyShare = 0x88, identities = 0x89, relayed = 0x8a, caughtUp = 0x8b
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        switch self {
        case .welcome(let name, let time, let log):
            w.u8(Kind.welcome.rawValue)
            w.string16(name)
            w.u64(time)
            w.bytes16(log)
        case .error(let e):
            w.u8(Kind.error.rawValue)
            w.u16(e.code.rawValue)
            w.string16(String(decoding: Array(e.text.utf8.prefix(WireLimits.maxTextBytes)), as: UTF8.self))
            w.bool(e.fatal)
        case .users(let users, let final):
            w.u8(Kind.users.rawValue)
            w.bool(final)
            w.u16(UInt16(users.count))
            for u in users { w.user(u) }
        case .presence(let p):
            w.u8(Kind.presence.rawValue)
            w.u8(p.event.rawValue)
            w.user(p.user)
            w.u64(p.time)
        case .message(let m):
            w.u8(Kind.message.rawValue)
            w.u64(m.sequence)
            w.u64(m.time)
            w.string16(m.from)
            w.string16(m.to)
            w.u64(m.clientMessageID)
            w.bytes16(m.body)
        case .ack(let id, let sequence):
            w.u8(Kind.ack.rawValue)
            w.u64(id)
            w.u64(sequence)
        case .pong(let token):
            w.u8(Kind.pong.rawValue)
            w.u64(token)
        case .keyShare(let from, let payload, let position):
            w.u8(Kind.keyShare.rawValue)
            w.string16(from)
            w.bytes16(payload)
            w.u64(position)
        case .caughtUp(let position, let dropped):
            w.u8(Kind.caughtUp.rawValue)
            w.u64(position)
            w.u64(dropped)
        case .identities(let entries, let final):
            w.u8(Kind.identities.rawValue)
            w.bool(final)
            w.u16(UInt16(entries.count))
            for e in entries {
                w.string16(e.name)
                w.bytes16(e.bundle)
                w.bytes16(e.prekey)
            }
        case .relayed(let ids):
            w.u8(Kind.relayed.rawValue)
            w.u16(UInt16(ids.count))
            for id in ids { w.u64(id) }
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        let type = try r.u8("record type")
        switch Kind(rawValue: type) {
        case .welcome:
            self = .welcome(name: try r.string16("name", max: WireLimits.maxUsernameBytes), time: try r.u64("time"),
                            log: try r.nonce16("log id"))
        case .error:
            let raw = try r.u16("error code")
            let text = try r.string16("error text", max: WireLimits.maxTextBytes)
            let fatal = try r.bool("fatal")
            self = .error(ServerError(ErrorCode(rawValue: raw) ?? .other, text, fatal: fatal))
        case .users:
            let final = try r.bool("final")
            let count = Int(try r.u16("user count"))
            self = .users(try r.entries(count, minLength: OnlineUser.minEncodedLength, "user list") { try $0.user() }, final: final)
        case .presence:
            let raw = try r.u8("presence event")
            guard let event = Presence.Event(rawValue: raw) else { throw WireError.invalid("unknown presence event \(raw)") }
            self = .presence(Presence(event: event, user: try r.user(), time: try r.u64("time")))
        case .message:
            self = .message(ChatMessage(
                sequence: try r.u64("sequence"), time: try r.u64("time"),
                from: try r.string16("sender", max: WireLimits.maxUsernameBytes),
                to: try r.string16("recipient", max: WireLimits.maxUsernameBytes),
                clientMessageID: try r.u64("client message id"),
                body: try r.bytes16("body", max: WireLimits.maxBodyBytes)))
        case .ack:
            self = .ack(clientMessageID: try r.u64("client message id"), sequence: try r.u64("sequence"))
        case .pong:
            self = .pong(try r.u64("pong token"))
        case .keyShare:
            self = .keyShare(from: try r.string16("sender", max: WireLimits.maxUsernameBytes),
                             payload: try r.bytes16("key share", max: WireLimits.maxKeyShareBytes),
                             position: try r.u64("position"))
        case .caughtUp:
            self = .caughtUp(position: try r.u64("position"), dropped: try r.u64("dropped"))
        case .identities:
            let final = try r.bool("final")
            let count = Int(try r.u16("identity count"))
            let entries = try r.entries(count, minLength: 6, "identities") {
                IdentityEntry(name: try $0.string16("name", max: WireLimits.maxUsernameBytes),
                              bundle: try $0.bytes16("identity", max: WireLimits.maxIdentityBytes),
                              prekey: try $0.bytes16("prekey", max: WireLimits.maxPrekeyBytes))
            }
            self = .identities(entries, final: final)
        case .relayed:
            let count = Int(try r.u16("id count"))
            guard count <= WireLimits.maxRelayedQuery else { throw WireError.invalid("relayed answer of \(count) ids") }
            self = .relayed(try r.entries(count, minLength: 8, "relayed ids") { try $0.u64("client message id") })
        case nil:
            throw WireError.unknownRecordType(type)
        }
        try r.expectEnd("server record")
    }
}

extension WireWriter {
    mutating func user(_ u: OnlineUser) {
        string16(u.name)
        bytes16(u.staticKey)
        bytes16(u.identityDigest)
        bytes16(u.sessionNonce)
        bool(u.online)
        u64(u.lastSeen)
    }
}

extension WireReader {
    /// An identity digest: 32 bytes, or none.
    mutating func digest16(_ what: String) throws -> [UInt8] {
        let bytes = try bytes16(what, max: WireLimits.identityDigestLength)
        guard bytes.isEmpty || bytes.count == WireLimits.identityDigestLength else { throw WireError.invalid("\(what) of \(bytes.count) bytes") }
        return bytes
    }

    /// A session nonce: 16 bytes, or none.
    mutating func nonce16(_ what: String) throws -> [UInt8] {
        let bytes = try bytes16(what, max: WireLimits.sessionNonceLength)
        guard bytes.isEmpty || bytes.count == WireLimits.sessionNonceLength else { throw WireError.invalid("\(what) of \(bytes.count) bytes") }
        return bytes
    }

    mutating func user() throws -> OnlineUser {
        OnlineUser(
            name: try string16("name", max: WireLimits.maxUsernameBytes),
            staticKey: try fixed16("static key", count: WireLimits.noiseKeyLength),
            identityDigest: try digest16("identity digest"),
            sessionNonce: try nonce16("session nonce"),
            online: try bool("online"),
            lastSeen: try u64("last seen"))
    }
}
