import Foundation
import GRDB
import NIOConcurrencyHelpers
import SottoCore
import SottoStorage

/// The device's end-to-end state in SQLite: `keys/<server key>/<identity>.sqlite` under
/// Sotto's data directory, 0600 in 0700 directories, WAL, deleted rows overwritten
/// (`secure_delete`: a deleted prekey's private half must not linger in free pages).
/// Kept whether or not history is: without it, what waited on the server could not be read.
public final class SQLiteKeyStateStore: KeyStateStore, @unchecked Sendable {
    private let dataDirectory: URL
    private let identityFingerprint: String
    private let lock = NIOLock()
    private var pools: [String: DatabasePool] = [:]

    public init(dataDirectory: URL, identityFingerprint: String) {
        self.dataDirectory = dataDirectory
        self.identityFingerprint = identityFingerprint
    }

    public static func url(in dataDirectory: URL, serverFingerprint: String, identityFingerprint: String) -> URL {
        deviceFile(in: dataDirectory, "keys", serverFingerprint: serverFingerprint, identityFingerprint: identityFingerprint)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: prekeys, chains, accepted, position") { db in
            try db.create(table: "prekey") { t in
                t.primaryKey("id", .blob)
                t.column("seed", .blob).notNull()
                t.column("signed", .blob).notNull()
                t.column("created", .integer).notNull()
            }
            try db.create(table: "chain") { t in
                t.column("sender", .text).notNull()
                t.column("chainID", .blob).notNull()
                t.column("conversation", .text).notNull()
                t.column("chainKey", .blob).notNull()
                t.column("idx", .integer).notNull()
                t.column("firstIndex", .integer).notNull()
                t.column("signingKey", .blob).notNull()
                t.column("arrival", .integer).notNull()
                t.primaryKey(["sender", "chainID"])
            }
            try db.create(table: "accepted") { t in
                t.column("sender", .text).notNull()
                t.column("chainID", .blob).notNull()
                t.column("created", .integer).notNull()
                t.primaryKey(["sender", "chainID"])
            }
            try db.create(table: "stream") { t in
                t.primaryKey("id", .integer).check { $0 == 1 }
                t.column("stored", .integer).notNull()
            }
        }
        migrator.registerMigration("2: a position per log and name") { db in
            // One position for the whole server could not tell a server's new log (its database
            // started afresh) from the old, nor one name of this identity from another.
            try db.drop(table: "stream")
            try db.create(table: "streams") { t in
                t.primaryKey("key", .text)
                t.column("stored", .integer).notNull()
            }
        }
        migrator.registerMigration("3: whose each chain is") { db in
            // The sender's identity (bundle digest) each chain was accepted from; empty for the
            // chains stored before, bound at their next message.
            try db.alter(table: "chain") { t in t.add(column: "senderDigest", .blob).notNull().defaults(to: Data()) }
        }
        return migrator
    }

    private func pool(_ server: String) throws -> DatabasePool {
        try lock.withLock {
            if let pool = pools[server] { return pool }
            let url = Self.url(in: dataDirectory, serverFingerprint: server, identityFingerprint: identityFingerprint)
            let pool = try PrivateDatabase.open(url, label: "sotto-keys", what: "the key store", migrator: Self.migrator,
                                                prepare: { db in try db.execute(sql: "PRAGMA secure_delete = ON") })
            pools[server] = pool
            return pool
        }
    }

    public func load(server: String, identity: IdentityKeys, policy: PrekeyPolicy, now: Date) throws -> KeyState {
        let pool = try pool(server)
        var deleted = false
        let state = try pool.write { db -> KeyState in
            var prekeys = try Row.fetchAll(db, sql: "SELECT seed, signed FROM prekey ORDER BY created").compactMap { row -> PrekeyPair? in
                let seed: Data = row["seed"], signed: Data = row["signed"]
                return try? PrekeyPair(seed: Array(seed), signed: Array(signed), identity: identity)
            }
            let plan = policy.plan(prekeys.map(\.signed), now: now)
            for id in plan.delete { try db.execute(sql: "DELETE FROM prekey WHERE id = ?", arguments: [Data(id)]) }
            deleted = !plan.delete.isEmpty
            prekeys.removeAll { plan.delete.contains($0.signed.id) }
            if plan.rotate {
                // Stored before it is published: a share sealed to it can always be opened.
                let fresh = try PrekeyPair.generate(now: now, identity: identity)
                try db.execute(sql: "INSERT INTO prekey (id, seed, signed, created) VALUES (?, ?, ?, ?)",
                               arguments: [Data(fresh.signed.id), Data(fresh.seed), Data(fresh.signed.encoded()), Int64(clamping: fresh.signed.createdMillis)])
                prekeys.append(fresh)
            }
            let horizon = KeyShare.Chain.millis(now.addingTimeInterval(-Self.acceptedWindow(policy)))
            try db.execute(sql: "DELETE FROM accepted WHERE created < ?", arguments: [Int64(clamping: horizon)])
            let chains = try Row.fetchAll(db, sql: "SELECT * FROM chain ORDER BY arrival").map { row in
                StoredChain(sender: row["sender"], conversation: row["conversation"], chainID: Array(row["chainID"] as Data),
                            chainKey: Array(row["chainKey"] as Data), index: UInt32(clamping: row["idx"] as Int64),
                            firstIndex: UInt32(clamping: row["firstIndex"] as Int64), signingKey: Array(row["signingKey"] as Data),
                            senderDigest: Array(row["senderDigest"] as Data))
            }
            let accepted = try Row.fetchAll(db, sql: "SELECT * FROM accepted").map { row in
                AcceptedChain(sender: row["sender"], chainID: Array(row["chainID"] as Data), createdMillis: UInt64(clamping: row["created"] as Int64))
            }
            var streams: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, stored FROM streams") {
                streams[row["key"]] = UInt64(clamping: row["stored"] as Int64)
            }
            return KeyState(prekeys: prekeys, chains: chains, accepted: accepted, streams: streams)
        }
        // A deleted prekey's private half is overwritten in the database (secure_delete); its
        // earlier copies in the write-ahead log go too.
        if deleted { try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) } }
        return state
    }

    public func save(server: String, _ changes: KeyStateChanges, stream: String, through position: UInt64) throws {
        try pool(server).write { db in
            for removed in changes.removedChains {
                try db.execute(sql: "DELETE FROM chain WHERE sender = ? AND chainID = ?", arguments: [removed.sender, Data(removed.chainID)])
            }
            for chain in changes.chains {
                try db.execute(sql: """
                    INSERT INTO chain (sender, chainID, conversation, chainKey, idx, firstIndex, signingKey, senderDigest, arrival)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(arrival), 0) + 1 FROM chain))
                    ON CONFLICT (sender, chainID) DO UPDATE SET chainKey = excluded.chainKey, idx = excluded.idx, senderDigest = excluded.senderDigest
                    """, arguments: [chain.sender, Data(chain.chainID), chain.conversation, Data(chain.chainKey), Int64(chain.index),
                                     Int64(chain.firstIndex), Data(chain.signingKey), Data(chain.senderDigest)])
            }
            for accepted in changes.accepted {
                try db.execute(sql: "INSERT OR IGNORE INTO accepted (sender, chainID, created) VALUES (?, ?, ?)",
                               arguments: [accepted.sender, Data(accepted.chainID), Int64(clamping: accepted.createdMillis)])
            }
            try db.execute(sql: """
                INSERT INTO streams (key, stored) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET stored = max(stored, excluded.stored)
                """, arguments: [stream, Int64(clamping: position)])
        }
    }

    public func rewindStream(server: String, stream: String, to position: UInt64) throws {
        try pool(server).write { db in
            try db.execute(sql: "UPDATE streams SET stored = min(stored, ?) WHERE key = ?", arguments: [Int64(clamping: position), stream])
        }
    }
}
