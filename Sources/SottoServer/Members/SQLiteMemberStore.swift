import Foundation
import GRDB
import SottoCore

/// Registered members in the server's SQLite database (`server.sqlite` in the data
/// directory, WAL, 0600 in a 0700 directory). `sotto-server members` opens the same file
/// while the server runs: WAL lets both read and write, and the server reads a name's row at
/// each login, so a release takes effect at the next one.
public final class SQLiteMemberStore: MemberStore, @unchecked Sendable {
    private let database: ServerDatabase
    private let limits: MemberLimits

    public init(_ database: ServerDatabase, limits: MemberLimits = MemberLimits()) {
        self.database = database
        self.limits = limits
    }

    public func claim(_ name: Username, identity: [UInt8], at time: UInt64, mayRegister: () -> Bool, verifies: () -> Bool) throws -> MemberClaim {
        // Most logins are a member's return: a read, no write (a commit's fsync on every login
        // added a millisecond to connecting). Only a registration writes.
        let known = try database.pool.read { db in try Self.holders(of: name, db) }
        if !known.isEmpty {
            let claim = MemberClaim.decide(name, identity: identity, existing: known, namesHeld: 0, members: 0, limits: limits, verifies: { false })
            if claim != .unverifiedIdentity && claim != .registered { return claim }
        }
        return try database.pool.write { db in
            let existing = try Self.holders(of: name, db)
            let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM member WHERE identity = ?", arguments: [Data(identity)]) ?? 0
            let members = try Int.fetchOne(db, sql: "SELECT count(*) FROM member") ?? 0
            let claim = MemberClaim.decide(name, identity: identity, existing: existing, namesHeld: held, members: members,
                                           limits: limits, mayRegister: mayRegister, verifies: verifies)
            switch claim {
            case .registered:
                try db.execute(sql: """
                    INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [name.key, name.displayKey, name.display, Data(identity), Int64(clamping: time), Int64(clamping: time)])
            case .returning, .heldByAnother, .unverifiedIdentity, .tooManyNames, .full, .tooManyRegistrations:
                break
            }
            return claim
        }
    }

    public func members() throws -> [RegisteredMember] {
        try database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM member ORDER BY name").map(Self.member)
        }
    }

    public func release(_ name: Username) throws -> RegisteredMember? {
        try database.pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM member WHERE key = ?", arguments: [name.key]) else { return nil }
            let released = Self.member(row)
            // Look-alikes the same identity holds go too: otherwise they would still refuse
            // the next person to take the name ("reads like aIice").
            try db.execute(sql: "DELETE FROM member WHERE key = ? OR (displayKey = ? AND identity = ?)",
                           arguments: [name.key, released.displayKey, Data(released.identity)])
            return released
        }
    }

    public func withdraw(_ name: Username, identity: [UInt8]) throws {
        try database.pool.write { db in
            try db.execute(sql: "DELETE FROM member WHERE key = ? AND identity = ?", arguments: [name.key, Data(identity)])
        }
    }

    public func noteSeen(_ name: Username, at time: UInt64) throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE member SET lastSeen = max(lastSeen, ?) WHERE key = ?", arguments: [Int64(clamping: time), name.key])
        }
    }

    /// Registered members whose name is this one, or reads as it.
    private static func holders(of name: Username, _ db: Database) throws -> [RegisteredMember] {
        try Row.fetchAll(db, sql: "SELECT * FROM member WHERE key = ? OR displayKey = ?", arguments: [name.key, name.displayKey]).map(member)
    }

    private static func member(_ row: Row) -> RegisteredMember {
        let data: Data = row["identity"]
        let registered: Int64 = row["registeredAt"], seen: Int64 = row["lastSeen"]
        return RegisteredMember(name: row["name"], key: row["key"], displayKey: row["displayKey"], identity: Array(data),
                                registeredAt: UInt64(clamping: registered), lastSeen: UInt64(clamping: seen))
    }
}
