import SottoCore

/// One entry of the delivery log: a record for one member (`recipient`, a `Username.key`) or
/// for every member (nil: a room message), at its position. Stored as the encoded record,
/// ciphertext as the sender sealed it: the server cannot read it and hands it over as is.
public struct StoredDelivery: Equatable, Sendable {
    public var position: UInt64
    public var recipient: String?
    /// Milliseconds since 1970 when it was relayed.
    public var time: UInt64
    /// For a message: its sender's identity (`MessageLedger`) and client message id, so that
    /// what was relayed is still known after a restart. Nil for a key share.
    public var sender: [UInt8]?
    public var clientMessageID: UInt64?
    public var record: [UInt8]

    public init(position: UInt64, recipient: String?, time: UInt64, sender: [UInt8]?, clientMessageID: UInt64?, record: [UInt8]) {
        self.position = position
        self.recipient = recipient
        self.time = time
        self.sender = sender
        self.clientMessageID = clientMessageID
        self.record = record
    }
}

/// What the member list shows of a registered member, and the keys others fetch to write to
/// them while they are away.
public struct DirectoryEntry: Equatable, Sendable {
    public var key: String
    public var name: String
    public var staticKey: [UInt8]
    /// The identity bundle (checked at login) and its digest; empty without one.
    public var bundle: [UInt8]
    public var digest: [UInt8]
    /// Their current signed prekey as published (checked when published); empty if none.
    public var prekey: [UInt8]
    public var lastSeen: UInt64

    /// What the name is registered to (`MemberStore.claim`): the bundle's digest, or the
    /// device key of a client without a bundle.
    public var boundIdentity: [UInt8] { digest.isEmpty ? staticKey : digest }

    public init(key: String, name: String, staticKey: [UInt8], bundle: [UInt8], digest: [UInt8], prekey: [UInt8], lastSeen: UInt64) {
        self.key = key
        self.name = name
        self.staticKey = staticKey
        self.bundle = bundle
        self.digest = digest
        self.prekey = prekey
        self.lastSeen = lastSeen
    }
}

/// One page of a member's stream; `complete`: nothing of theirs is left up to `through`.
public struct DeliveryPage: Sendable {
    public var entries: [StoredDelivery]
    public var complete: Bool

    /// Takes rows in order until the bounds say stop.
    static func take(_ rows: some Sequence<StoredDelivery>, limit: Int, maxBytes: Int) -> DeliveryPage {
        var entries: [StoredDelivery] = []
        var bytes = 0
        for row in rows {
            if !entries.isEmpty, entries.count >= limit || bytes + row.record.count > maxBytes {
                return DeliveryPage(entries: entries, complete: false)
            }
            entries.append(row)
            bytes += row.record.count
        }
        return DeliveryPage(entries: entries, complete: true)
    }
}

/// What a server starts from.
public struct DeliveryStartup: Sendable {
    /// The log's random id (16 bytes): told to members in the welcome.
    public var log: [UInt8]
    /// The highest position ever given: the next is above it.
    public var lastPosition: UInt64
    public var directory: [DirectoryEntry]
    /// Per sender identity and epoch, the highest client message counter relayed.
    public var sent: [(sender: [UInt8], epoch: UInt32, highest: UInt32)]
    /// Direct messages waiting, per recipient and sender identity: their bytes, and the
    /// newest position among them.
    public var waitingDirect: [(recipient: String, sender: [UInt8], bytes: Int64, newest: UInt64)] = []
}

/// Everything one group commit writes.
public struct DeliveryBatch: Sendable {
    public var deliveries: [StoredDelivery] = []
    /// Members' positions: stored on their device through here (or where a new member starts).
    public var positions: [String: UInt64] = [:]
    /// Members whose count of dropped entries was reported to them.
    public var droppedReported: Set<String> = []
    /// Directory entries written at login (keys and prekey).
    public var entries: [DirectoryEntry] = []
    /// Members whose names were released: what waited for them goes.
    public var released: Set<String> = []
    public init() {}
    public var isEmpty: Bool { deliveries.isEmpty && positions.isEmpty && droppedReported.isEmpty && entries.isEmpty && released.isEmpty }
    /// Anything but confirmations: those may wait for a commit that has more to write.
    public var hasMoreThanConfirmations: Bool { !deliveries.isEmpty || !droppedReported.isEmpty || !entries.isEmpty || !released.isEmpty }
}

/// How long the server keeps what waits for members.
public struct Retention: Sendable {
    /// Entries older than this are dropped (default 30 days: prekeys last as long).
    public var maxAge: Double = 30 * 86_400
    /// The log's total size; past it the oldest entries go.
    public var maxTotalBytes: Int = 1 << 30
    /// What may wait for one member; past it their oldest entries are given up (counted as
    /// dropped for them), so one member away for long does not hold the log for everyone.
    public var maxBytesPerMember: Int = 64 << 20
    public init(maxAge: Double = 30 * 86_400, maxTotalBytes: Int = 1 << 30, maxBytesPerMember: Int = 64 << 20) {
        self.maxAge = maxAge
        self.maxTotalBytes = maxTotalBytes
        self.maxBytesPerMember = maxBytesPerMember
    }
}

/// Where the server keeps what registered members have not yet confirmed, and their keys.
/// Calls block (a database): the hub makes them off its event loops, writes on one thread
/// in group commits. A small protocol so another backend (PostgreSQL, docs/SCALING.md)
/// can stand in for SQLite without touching the relay.
public protocol DeliveryStore: AnyObject, Sendable {
    func startup() throws -> DeliveryStartup
    /// One transaction: durable once it returns.
    func commit(_ batch: DeliveryBatch) throws
    /// A member's stream: where it is confirmed (nil: never started) and entries dropped unseen.
    func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64)
    /// A member's entries in (after, through], in order: at most `limit` of them, and no more
    /// than `maxBytes` of records (at least one).
    func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage
    /// Drops what every member confirmed, and what retention no longer keeps (counted, per
    /// member who had not confirmed it, as dropped).
    func prune(now: UInt64, retention: Retention) throws
    /// Every member's confirmed position (those never started are left out).
    func confirmedPositions() throws -> [String: UInt64]
}
