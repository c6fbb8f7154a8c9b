import SottoCore

/// A registered member: a name bound to the identity that first logged in with it.
public struct RegisteredMember: Equatable, Sendable {
    /// The name as first logged in with (NFC); its owner may log in as "ALICE" too, but
    /// look-alikes are judged against the name as registered.
    public var name: String
    /// `Username.key` and `Username.displayKey` of `name`: what uniqueness is decided on.
    public var key: String
    public var displayKey: String
    /// The identity bundle's digest (or, for a client without one, its Noise static key).
    public var identity: [UInt8]
    /// Milliseconds since 1970.
    public var registeredAt: UInt64
    /// When they last logged out (or registered).
    public var lastSeen: UInt64

    public init(name: String, key: String, displayKey: String, identity: [UInt8], registeredAt: UInt64, lastSeen: UInt64) {
        self.name = name; self.key = key; self.displayKey = displayKey
        self.identity = identity; self.registeredAt = registeredAt; self.lastSeen = lastSeen
    }

    public var fingerprint: String {
        identity.count == 32 ? Fingerprint.of(digest: identity) : Fingerprint.of(publicKey: identity)
    }
}

/// What a login's name turned out to be.
public enum MemberClaim: Equatable, Sendable {
    /// Free until now: registered to this identity from this login on.
    case registered
    /// Already this identity's.
    case returning
    /// Registered to another identity: this name, or one that reads as it (`holder` says which).
    case heldByAnother(holder: String)
    /// Free, but the identity did not verify: nobody is bound to a bundle that is not its own.
    case unverifiedIdentity
    /// Free, but this identity holds `MemberLimits.namesPerIdentity` names already.
    case tooManyNames
    /// Free, but the server has `MemberLimits.maxMembers` members.
    case full
    /// Free, but this source registered as many names as it may for now (`mayRegister`).
    case tooManyRegistrations

    /// The one rule both stores follow. `existing`: the registered members whose key or
    /// display key equals the name's (at most a few).
    /// `namesHeld`: by this identity; `members`: in all.
    static func decide(_ name: Username, identity: [UInt8], existing: [RegisteredMember], namesHeld: Int, members: Int,
                       limits: MemberLimits, mayRegister: () -> Bool = { true }, verifies: () -> Bool) -> MemberClaim {
        // The name itself is this identity's: its own, whatever reads like it (two names
        // registered before look-alike keys were case folded, AI and al, now share one: a
        // review found both locked out of their own names). Look-alikes keep newcomers out.
        if existing.contains(where: { $0.key == name.key && $0.identity == identity }) { return .returning }
        if let other = existing.first(where: { $0.identity != identity }) { return .heldByAnother(holder: other.name) }
        if existing.contains(where: { $0.key == name.key }) { return .returning }
        // Bounded, so that one password holder cannot reserve every name, or grow the table
        // (and `members list`, and the member list every login receives) without end.
        if namesHeld >= limits.namesPerIdentity { return .tooManyNames }
        if members >= limits.maxMembers { return .full }
        guard mayRegister() else { return .tooManyRegistrations }
        return verifies() ? .registered : .unverifiedIdentity
    }
}

/// How many names a store binds.
public struct MemberLimits: Sendable {
    /// Names one identity may hold (a person who renames keeps the old one until released).
    public var namesPerIdentity = 4
    /// Members in all: the longest list a client accepts.
    public var maxMembers = WireLimits.maxListedMembers

    public init(namesPerIdentity: Int = 4, maxMembers: Int = WireLimits.maxListedMembers) {
        self.namesPerIdentity = namesPerIdentity
        self.maxMembers = maxMembers
    }
}

/// Where the server keeps its registered members. Calls block (a database), so the server
/// makes them off its event loops; implementations are safe to call from any thread.
public protocol MemberStore: AnyObject, Sendable {
    /// Binds `name` to `identity` if nobody holds it (or a name that reads as it) and
    /// `verifies()` (asked only then: the identity's signature, checked once per binding);
    /// says who holds it otherwise. A returning member's login writes nothing.
    /// `mayRegister()` is asked, before `verifies()`, only when the name would be bound: the
    /// hub's budget of registrations per source.
    func claim(_ name: Username, identity: [UInt8], at time: UInt64, mayRegister: () -> Bool, verifies: () -> Bool) throws -> MemberClaim
    /// Every registered member, by name.
    func members() throws -> [RegisteredMember]
    /// Frees a name (and its look-alikes held by the same identity); nil if nobody held it.
    func release(_ name: Username) throws -> RegisteredMember?
    /// Frees `name` only if `identity` holds it: a registration this identity just made (its
    /// login was refused after all), or its member leaving (`/leave`).
    func withdraw(_ name: Username, identity: [UInt8]) throws
    /// Notes when a member was last online (at logout).
    func noteSeen(_ name: Username, at time: UInt64) throws
}

extension MemberStore {
    /// A claim with no budget on registrations (tools and tests).
    public func claim(_ name: Username, identity: [UInt8], at time: UInt64, verifies: () -> Bool) throws -> MemberClaim {
        try claim(name, identity: identity, at: time, mayRegister: { true }, verifies: verifies)
    }
}
