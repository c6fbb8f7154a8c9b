import Foundation
import SottoCore

/// The room's members and who of them is online, as the server says and this client
/// accepts it: names held to the server's
/// own rules (a lying server cannot list a control character), a list bounded in size, and
/// the changes since the end-to-end layer last heard, in order.
///
/// Pure: what a person should be told comes back as `Notice`s.
struct Roster {
    enum Notice: Equatable {
        /// A listed entry was left out.
        case invalidListing(Username.Problem)
        case joined(String)
        case left(String)
        case removed(String)
    }

    enum Failure: Error, Equatable {
        case listTooLong
    }

    private(set) var users: [String: OnlineUser] = [:]
    /// Each name's sort key, made once when it arrives (lists of hundreds are re-published
    /// on every change).
    private var sortKeys: [String: String] = [:]
    /// Names whose entry changed since `takeChanges`, in order; nil when the whole list was
    /// replaced (a login).
    private var changed: [String]? = []
    private var parts: [OnlineUser] = []
    /// The first whole list of this session has arrived: who to share keys with is known.
    private(set) var isComplete = false
    /// The most members listed at once, by list or by arrivals.
    let limit: Int

    init(limit: Int = WireLimits.maxListedMembers) { self.limit = limit }

    /// Who is online now.
    var names: Set<String> { Set(users.values.lazy.filter(\.online).map(\.name)) }

    /// One part of the list sent at login; the last has `final`.
    mutating func receiveListPart(_ part: [OnlineUser], final: Bool) throws(Failure) -> [Notice] {
        // A hostile server could send parts without end.
        guard parts.count + part.count <= limit else { throw .listTooLong }
        var notices: [Notice] = []
        parts += part.filter { Self.accept($0, &notices) }
        if final {
            users = Dictionary(parts.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
            sortKeys = Dictionary(uniqueKeysWithValues: users.keys.map { ($0, Self.sortKey($0)) })
            parts = []
            changed = nil
            isComplete = true
        }
        return notices
    }

    /// Someone came online or went away (they stay a member: `user.online` says which);
    /// `me` is not announced to myself. `changed`: the list is not what it was. Arrivals are
    /// bounded like the list: a server cannot grow it without end.
    mutating func receivePresence(_ user: OnlineUser, joined: Bool, me: String) throws(Failure) -> (changed: Bool, notices: [Notice]) {
        var notices: [Notice] = []
        guard Self.accept(user, &notices) else { return (false, notices) }
        return (try receivePresence(user, joined: joined, me: me, notices: &notices), notices)
    }

    /// A member is no longer one (their name was released): they leave the list.
    mutating func receiveRemoval(_ user: OnlineUser, me: String) -> (changed: Bool, notices: [Notice]) {
        guard users.removeValue(forKey: user.name) != nil, user.name != me else { return (false, []) }
        sortKeys[user.name] = nil
        changed?.append(user.name)
        return (true, [.removed(user.name)])
    }

    private mutating func receivePresence(_ user: OnlineUser, joined: Bool, me: String, notices: inout [Notice]) throws(Failure) -> Bool {
        var user = user
        user.online = joined
        let previous = users[user.name]
        if previous == nil, users.count >= limit { throw .listTooLong }
        users[user.name] = user
        if previous == user { return false }
        if previous == nil { sortKeys[user.name] = Self.sortKey(user.name) }
        if user.name != me, previous?.online != user.online || previous == nil {
            notices.append(joined ? .joined(user.name) : .left(user.name))
        }
        changed?.append(user.name)
        return true
    }

    /// What changed since the last call: names in order, or nil for "everything".
    mutating func takeChanges() -> [String]? {
        defer { changed = [] }
        return changed
    }

    /// The connection ended: nobody is known to be online until the next list.
    mutating func clear() {
        users = [:]
        sortKeys = [:]
        parts = []
        changed = nil
        isComplete = false
    }

    /// Every member, in the order people read a list (case-insensitive).
    var sorted: [OnlineUser] {
        users.values.map { (key: sortKeys[$0.name] ?? Self.sortKey($0.name), user: $0) }.sorted { $0.key < $1.key }.map(\.user)
    }

    private static func sortKey(_ name: String) -> String { name.lowercased() }

    /// Names the server lists are held to the rules the server itself must apply: an entry
    /// whose name a login would refuse (control or invisible characters, empty, not NFC, too
    /// long) is left out, loudly.
    private static func accept(_ user: OnlineUser, _ notices: inout [Notice]) -> Bool {
        switch Username.validate(listed: user.name) {
        case .success: return true
        case .failure(let problem):
            notices.append(.invalidListing(problem))
            return false
        }
    }
}
