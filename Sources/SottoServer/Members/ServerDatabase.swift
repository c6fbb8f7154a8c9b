import Foundation
import GRDB
import GRDBSQLite
import NIOConcurrencyHelpers
import SottoCore
import SottoStorage

/// The server's SQLite database, `server.sqlite` in its data directory: WAL, 0600 in a
/// 0700 directory, its schema versioned by named migrations (never edited once released,
/// only added to).
public final class ServerDatabase: Sendable {
    public let url: URL
    let pool: DatabasePool

    /// The delivery log uses `RETURNING` and `UPDATE … FROM` (SQLite 3.35, March 2021), and
    /// migration 6 `DROP COLUMN`, whose early defects could corrupt the file (fixed in
    /// 3.35.5); Debian 12 has 3.40. An older library is refused at open, saying which it is.
    static let minimumSQLite: Int32 = 3_035_005

    struct SQLiteTooOld: Error, CustomStringConvertible {
        let version: String
        var description: String { "SQLite \(version) is too old for the server's database: it needs 3.35.5 or newer (RETURNING, UPDATE … FROM, DROP COLUMN)" }
    }

    static func requireSQLite(_ number: Int32 = sqlite3_libversion_number(), version: String = String(cString: sqlite3_libversion())) throws {
        guard number >= minimumSQLite else { throw SQLiteTooOld(version: version) }
    }

    /// `upgrade` false (`sotto-server members`): a database of an older schema is refused,
    /// not migrated under the older server that may be running on it (a migration that
    /// drops a column it writes would stop it storing, and so relaying).
    public init(url: URL, upgrade: Bool = true) throws {
        try Self.requireSQLite()
        self.url = url
        // WAL with synchronous=NORMAL: a commit is durable once it returns, against the
        // process being killed (what the delivery log promises); not against a power cut.
        pool = try PrivateDatabase.open(url, label: "sotto-server", what: "the server database", migrator: Self.migrator,
                                        upgrade: upgrade,
                                        olderAdvice: "Restart sotto-server with this version first (it upgrades the database as it starts), then run this again.",
                                        prepare: { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") })
    }

    /// One write transaction, begun and ended with statements prepared once: GRDB's `write`
    /// builds and prepares BEGIN and COMMIT anew each time (at 1,000 commits a second, ~5 %
    /// of the writer's time went to making those two statements). Rolled back on any error.
    func writeTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
            do {
                let result = try body(db)
                try db.cachedStatement(sql: "COMMIT").execute()
                return result
            } catch {
                if db.isInsideTransaction { try? db.cachedStatement(sql: "ROLLBACK").execute() }
                throw error
            }
        }
    }

    // MARK: Checkpoints

    /// The WAL's pages are copied into the database mostly on a connection and thread of
    /// their own (`checkpointSoon`), passive (never waiting for the writer, nor holding it):
    /// SQLite's automatic checkpoint, in whichever commit crossed 1,000 pages, held that
    /// commit and every delivery waiting on it for up to 1.5 s at 1,000 messages a second. The
    /// writer keeps its own, which then finds little left to copy: it is what restarts the WAL
    /// (a passive checkpoint beside the writer rarely finishes before another commit, and the
    /// WAL would grow without end; an attacker's stream of commits could fill the disk).
    private let checkpoints = DispatchQueue(label: "sotto.checkpoint")
    private let checkpointState = NIOLockedValueBox<(connection: DatabaseQueue?, scheduled: Bool, again: Bool, lastRun: UInt64, interval: UInt64)>(
        (nil, false, false, 0, ServerDatabase.checkpointIntervals.lowerBound))
    /// Between checkpoints: long enough for each to copy about `checkpointFrames` pages (half
    /// the writer's threshold, so it finds little left), each once however many commits
    /// rewrote it, with one fsync; adjusted from what the last one found. (One every 32
    /// commits cost more than it saved.)
    static let checkpointIntervals: ClosedRange<UInt64> = 250_000_000...4_000_000_000
    static let checkpointFrames = 500

    /// After a commit: a passive checkpoint (it never waits for the writer, nor holds it) an
    /// interval after the last one; one asked for meanwhile follows it.
    func checkpointSoon() {
        let delay: UInt64? = checkpointState.withLockedValue { state in
            if state.scheduled {
                state.again = true
                return nil
            }
            state.scheduled = true
            let next = state.lastRun &+ state.interval, now = DispatchTime.now().uptimeNanoseconds
            return next > now ? next - now : 0
        }
        guard let delay else { return }
        checkpoints.asyncAfter(deadline: .now() + .nanoseconds(Int(delay))) { self.checkpoint() }
    }

    private func checkpoint() {
        checkpointState.withLockedValue { $0.again = false }  // what was committed until now is copied now
        do {
            let connection = try checkpointState.withLockedValue { state in
                if let connection = state.connection { return connection }
                var configuration = Configuration()
                configuration.label = "sotto-server checkpoints"
                let connection = try DatabaseQueue(path: url.path, configuration: configuration)
                state.connection = connection
                return connection
            }
            let frames = try connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }.walFrameCount
            checkpointState.withLockedValue { state in
                let range = Self.checkpointIntervals
                if frames < Self.checkpointFrames / 2 { state.interval = min(range.upperBound, state.interval * 2) }
                if frames > Self.checkpointFrames * 2 { state.interval = max(range.lowerBound, state.interval / 2) }
            }
        } catch {
            // The next one tries again; meanwhile the WAL grows, nothing is lost.
        }
        let (again, interval): (Bool, UInt64) = checkpointState.withLockedValue { state in
            state.lastRun = DispatchTime.now().uptimeNanoseconds
            if state.again {
                state.again = false
                return (true, state.interval)
            }
            state.scheduled = false
            return (false, state.interval)
        }
        if again { checkpoints.asyncAfter(deadline: .now() + .nanoseconds(Int(interval))) { self.checkpoint() } }
    }

    /// Versions of the schema, in order.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: members") { db in
            try db.create(table: "member") { t in
                t.primaryKey("key", .text)
                t.column("displayKey", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("identity", .blob).notNull().indexed()
                t.column("registeredAt", .integer).notNull()
                t.column("lastSeen", .integer).notNull()
            }
        }
        migrator.registerMigration("2: delivery log") { db in
            // A member's stream: confirmed through (NULL: not started), dropped unseen, and the
            // keys others need to write to them while they are away.
            try db.alter(table: "member") { t in
                t.add(column: "confirmed", .integer)
                t.add(column: "dropped", .integer).notNull().defaults(to: 0)
                t.add(column: "staticKey", .blob)
                t.add(column: "bundle", .blob)
                t.add(column: "prekey", .blob)
            }
            try db.create(table: "delivery") { t in
                t.primaryKey("position", .integer)
                t.column("recipient", .text)
                t.column("time", .integer).notNull()
                t.column("sender", .blob)
                t.column("clientMessageID", .integer)
                t.column("record", .blob).notNull()
            }
            try db.create(index: "delivery_by_recipient", on: "delivery", columns: ["recipient", "position"])
            try db.create(index: "delivery_by_time", on: "delivery", columns: ["time"])
            try db.create(table: "sent") { t in
                t.column("sender", .blob).notNull()
                t.column("epoch", .integer).notNull()
                t.column("highest", .integer).notNull()
                t.column("time", .integer).notNull()
                t.primaryKey(["sender", "epoch"])
            }
        }
        migrator.registerMigration("3: log identity") { db in
            // The log's random id (clients key their positions by it: a database started afresh
            // is another log) and the highest position ever given (entries at the top may be
            // deleted; a position is never given twice).
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .blob).notNull()
            }
            var id = [UInt8](repeating: 0, count: 16)
            var generator = SystemRandomNumberGenerator()
            for i in id.indices { id[i] = UInt8.random(in: 0...255, using: &generator) }
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('log', ?)", arguments: [Data(id)])
            let highest = max(try Int64.fetchOne(db, sql: "SELECT max(position) FROM delivery") ?? 0,
                              try Int64.fetchOne(db, sql: "SELECT max(confirmed) FROM member") ?? 0)
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('lastPosition', ?)", arguments: [highest])
        }
        migrator.registerMigration("4: lean commits") { db in
            // Every commit wrote a page of each: what was relayed now comes from the log
            // itself, and pruning by age scans what it deletes.
            try db.drop(table: "sent")
            try db.drop(index: "delivery_by_time")
        }
        migrator.registerMigration("5: running totals") { db in
            // Each entry carries the bytes and messages of the room's entries before it, so
            // what waits for a member, and what they would lose, is a difference of two
            // lookups, not a scan of the log per member at every prune (200 members behind a
            // log of 100,000 entries held the writer, and every delivery, for seconds).
            try db.alter(table: "delivery") { t in
                t.add(column: "roomBytesBefore", .integer).notNull().defaults(to: 0)
                t.add(column: "roomMessagesBefore", .integer).notNull().defaults(to: 0)
            }
            try db.execute(sql: """
                UPDATE delivery SET roomBytesBefore = totals.bytes, roomMessagesBefore = totals.messages FROM (
                    SELECT position,
                        coalesce(sum(CASE WHEN recipient IS NULL THEN length(record) END)
                            OVER (ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes,
                        coalesce(sum(CASE WHEN recipient IS NULL AND clientMessageID IS NOT NULL THEN 1 END)
                            OVER (ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS messages
                    FROM delivery) AS totals
                WHERE delivery.position = totals.position
                """)
            // A room message (no recipient) is found by its position alone: only what is for
            // one member needs the index, so a room message's commit writes one b-tree, not two.
            try db.drop(index: "delivery_by_recipient")
            try db.execute(sql: "CREATE INDEX delivery_for_one ON delivery (recipient, position) WHERE recipient IS NOT NULL")
        }
        migrator.registerMigration("6: keys apart") { db in
            // A member's row is rewritten at each of their confirmations (every quarter second
            // while they read): with their keys in it (X-Wing public keys, some 2.7 KB a member)
            // each row was a page of its own, and a commit confirming 1,000 members wrote 1,000
            // pages. The keys, written at a login or a prekey's publication, live apart; the
            // rows left fit dozens to a page.
            try db.create(table: "memberKeys") { t in
                t.primaryKey("key", .text).references("member", onDelete: .cascade)
                t.column("staticKey", .blob).notNull()
                t.column("bundle", .blob).notNull()
                t.column("prekey", .blob)
            }
            try db.execute(sql: """
                INSERT INTO memberKeys (key, staticKey, bundle, prekey)
                SELECT key, staticKey, coalesce(bundle, x''), prekey FROM member WHERE staticKey IS NOT NULL
                """)
            try db.alter(table: "member") { t in
                t.drop(column: "staticKey")
                t.drop(column: "bundle")
                t.drop(column: "prekey")
            }
        }
        migrator.registerMigration("7: room runs") { db in
            // A group commit's room entries are one row (`RoomRun`), through `last`; NULL: a
            // row holding one entry, as every row of an older log does.
            try db.alter(table: "delivery") { t in t.add(column: "last", .integer) }
            // The run holding a position is found in this index (one entry a run, so a commit
            // writes one), not by reading the rows before it: runs never overlap.
            try db.execute(sql: "CREATE INDEX delivery_runs ON delivery (position, last) WHERE last IS NOT NULL")
        }
        migrator.registerMigration("8: display keys folded") { db in
            // A name's look-alike key as written is now case folded too (AIice beside alice):
            // the keys of those registered are made the same way, or a new look-alike of one
            // would still be let in.
            let rows = try Row.fetchAll(db, sql: "SELECT key, name FROM member")
            for row in rows {
                guard let name = try? Username(row["name"] as String) else { continue }
                try db.execute(sql: "UPDATE member SET displayKey = ? WHERE key = ?", arguments: [name.displayKey, row["key"] as String])
            }
        }
        return migrator
    }

    /// The applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] { try PrivateDatabase.appliedMigrations(pool, Self.migrator) }
}
