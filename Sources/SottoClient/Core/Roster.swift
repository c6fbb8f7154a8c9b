import Foundation
import SottoCore

/// Who the server says is online, as this client accepts it: names held to the server's
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

    var names: Set<String> { Set(users.keys) }

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

    /// Someone joined or left; `me` is not announced to myself. `changed`: the list is
    /// not what it was. Arrivals are bounded like the list: a server cannot grow it without end.
    mutating func receivePresence(_ user: OnlineUser, joined: Bool, me: String) throws(Failure) -> (changed: Bool, notices: [Notice]) {
        var notices: [Notice] = []
        guard Self.accept(user, &notices) else { return (false, notices) }
        if joined {
            let previous = users[user.name]
            if previous == nil, users.count >= limit { throw .listTooLong }
            users[user.name] = user
            if previous == user { return (false, notices) }
            if previous == nil {
                sortKeys[user.name] = Self.sortKey(user.name)
                if user.name != me { notices.append(.joined(user.name)) }
            }
        } else {
            users[user.name] = nil
            sortKeys[user.name] = nil
            notices.append(.left(user.name))
        }
        changed?.append(user.name)
        return (true, notices)
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

    /// Everyone online, in the order people read a list (case-insensitive).
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
