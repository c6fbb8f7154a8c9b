import Foundation
import GRDB
import SottoCore

/// The delivery log in the server's SQLite database (`server.sqlite`, WAL): table `delivery`
/// (position, recipient, time, sender, client message id, the record as relayed), each
/// member's confirmed position, dropped count and keys in `member`, the log's id and
/// high-water mark in `meta`. Commits are synchronous=NORMAL in WAL mode: durable against
/// the process being killed at any point (the WAL is written before `commit` returns), not
/// against the machine losing power. A commit touches as few pages as it can (the table and
/// its one index): its cost is most of what storing adds to a delivery.
public final class SQLiteDeliveryStore: DeliveryStore, @unchecked Sendable {
    private let database: ServerDatabase

    public init(_ database: ServerDatabase) { self.database = database }

    public func startup() throws -> DeliveryStartup {
        try database.pool.read { db in
            let log = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log'") ?? Data()
            // Positions are never given twice: the top entries may be gone (confirmed, released,
            // pruned), and the high-water mark is kept wherever they go.
            let highest = max(try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'lastPosition'") ?? 0,
                              try Int64.fetchOne(db, sql: "SELECT max(position) FROM delivery") ?? 0,
                              try Int64.fetchOne(db, sql: "SELECT max(confirmed) FROM member") ?? 0)
            let directory = try Row.fetchAll(db, sql: "SELECT * FROM member WHERE staticKey IS NOT NULL").map { row in
                DirectoryEntry(key: row["key"], name: row["name"], staticKey: Array(row["staticKey"] as Data),
                               bundle: Array((row["bundle"] as Data?) ?? Data()), digest: Array(row["identity"] as Data),
                               prekey: Array((row["prekey"] as Data?) ?? Data()), lastSeen: UInt64(clamping: row["lastSeen"] as Int64))
            }
            // What was relayed, from the log itself: a message stays in it until its recipients
            // (the sender's own copy included) confirmed it, so one whose sender may resend it
            // (not acknowledged before a crash) is still there.
            let sent = try Row.fetchAll(db, sql: """
                SELECT sender, clientMessageID >> 32 AS epoch, max(clientMessageID & 4294967295) AS highest
                FROM delivery WHERE sender IS NOT NULL GROUP BY sender, epoch
                """).map { row in
                (sender: Array(row["sender"] as Data), epoch: UInt32(truncatingIfNeeded: row["epoch"] as Int64),
                 highest: UInt32(truncatingIfNeeded: row["highest"] as Int64))
            }
            return DeliveryStartup(log: Array(log), lastPosition: UInt64(clamping: highest), directory: directory, sent: sent)
        }
    }

    public func commit(_ batch: DeliveryBatch) throws {
        guard !batch.isEmpty else { return }
        try database.pool.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO delivery (position, recipient, time, sender, clientMessageID, record) VALUES (?, ?, ?, ?, ?, ?)
                """)
            for d in batch.deliveries {
                try insert.execute(arguments: [Int64(clamping: d.position), d.recipient, Int64(clamping: d.time), d.sender.map { Data($0) },
                                               d.clientMessageID.map { Int64(bitPattern: $0) }, Data(d.record)])
            }
            let confirm = try db.cachedStatement(sql: "UPDATE member SET confirmed = max(coalesce(confirmed, 0), ?) WHERE key = ?")
            let dropMine = try db.cachedStatement(sql: "DELETE FROM delivery WHERE recipient = ? AND position <= ?")
            for (member, position) in batch.positions {
                try confirm.execute(arguments: [Int64(clamping: position), member])
                // What was for this member alone is theirs now.
                try dropMine.execute(arguments: [member, Int64(clamping: position)])
            }
            for member in batch.droppedReported {
                try db.execute(sql: "UPDATE member SET dropped = 0 WHERE key = ?", arguments: [member])
            }
            if !batch.released.isEmpty { try Self.keepHighWaterMark(db) }
            for member in batch.released {
                try db.execute(sql: "DELETE FROM delivery WHERE recipient = ?", arguments: [member])
            }
            for entry in batch.entries {
                try db.execute(sql: "UPDATE member SET staticKey = ?, bundle = ?, prekey = ? WHERE key = ?",
                               arguments: [Data(entry.staticKey), Data(entry.bundle), entry.prekey.isEmpty ? nil : Data(entry.prekey), entry.key])
            }
        }
    }

    public func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64) {
        try database.pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT confirmed, dropped FROM member WHERE key = ?", arguments: [member]) else {
                return (nil, 0)
            }
            let confirmed: Int64? = row["confirmed"]
            return (confirmed.map { UInt64(clamping: $0) }, UInt64(clamping: row["dropped"] as Int64))
        }
    }

    public func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage {
        try database.pool.read { db in
            // One more than a page: whether anything is left is known without another query.
            let rows = try Row.fetchAll(db, sql: """
                SELECT * FROM delivery WHERE position > ? AND position <= ? AND (recipient IS NULL OR recipient = ?)
                ORDER BY position LIMIT ?
                """, arguments: [Int64(clamping: after), Int64(clamping: through), member, limit + 1]).map(Self.delivery)
            return DeliveryPage.take(rows, limit: limit, maxBytes: maxBytes)
        }
    }

    public func prune(now: UInt64, retention: Retention) throws {
        try database.pool.write { db in
            let horizon = Int64(clamping: now) - Int64(min(max(0, retention.maxAge * 1000), 9e18))
            // Times increase with positions: the first entry young enough bounds what is too old
            // (a scan of what goes anyway, no index on time to keep up at every commit).
            let firstKept = try Int64.fetchOne(db, sql: "SELECT position FROM delivery WHERE time >= ? ORDER BY position LIMIT 1", arguments: [horizon])
            let newest = try Int64.fetchOne(db, sql: "SELECT max(position) FROM delivery") ?? 0
            var cut = firstKept.map { $0 - 1 } ?? newest
            let total = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(length(record)), 0) FROM delivery") ?? 0
            if total > retention.maxTotalBytes {
                // The oldest entries whose removal brings the log under its bound.
                let excess = total - Int64(retention.maxTotalBytes)
                let bySize = try Int64.fetchOne(db, sql: """
                    SELECT min(position) FROM (SELECT position, sum(length(record)) OVER (ORDER BY position) AS running FROM delivery)
                    WHERE running >= ?
                    """, arguments: [excess]) ?? 0
                cut = max(cut, bySize)
            }
            if cut > 0 {
                // Messages a member had not confirmed are counted as dropped for them.
                try db.execute(sql: """
                    UPDATE member SET dropped = dropped + (
                        SELECT count(*) FROM delivery d WHERE d.position > member.confirmed AND d.position <= ?
                        AND d.clientMessageID IS NOT NULL AND (d.recipient IS NULL OR d.recipient = member.key)),
                        confirmed = ?
                    WHERE confirmed IS NOT NULL AND confirmed < ?
                    """, arguments: [cut, cut, cut])
            }
            // Per member: past their bound, their oldest entries are given up (counted).
            for row in try Row.fetchAll(db, sql: "SELECT key, confirmed FROM member WHERE confirmed IS NOT NULL") {
                let member: String = row["key"], confirmed: Int64 = row["confirmed"]
                let waiting = try Int64.fetchOne(db, sql: """
                    SELECT coalesce(sum(length(record)), 0) FROM delivery WHERE position > ? AND (recipient IS NULL OR recipient = ?)
                    """, arguments: [confirmed, member]) ?? 0
                guard waiting > retention.maxBytesPerMember else { continue }
                // The newest position to give up: where what is older than it sums to the excess.
                let excess = waiting - Int64(retention.maxBytesPerMember)
                let upTo = try Int64.fetchOne(db, sql: """
                    SELECT min(position) FROM (SELECT position, sum(length(record)) OVER (ORDER BY position) AS running
                        FROM delivery WHERE position > ? AND (recipient IS NULL OR recipient = ?)) WHERE running >= ?
                    """, arguments: [confirmed, member, excess]) ?? confirmed
                try db.execute(sql: """
                    UPDATE member SET dropped = dropped + (
                        SELECT count(*) FROM delivery WHERE position > ? AND position <= ? AND clientMessageID IS NOT NULL
                        AND (recipient IS NULL OR recipient = ?)), confirmed = ? WHERE key = ?
                    """, arguments: [confirmed, upTo, member, upTo, member])
            }
            let everyone = try Int64.fetchOne(db, sql: "SELECT min(confirmed) FROM member WHERE confirmed IS NOT NULL") ?? 0
            try Self.keepHighWaterMark(db)
            try db.execute(sql: "DELETE FROM delivery WHERE position <= ?", arguments: [max(cut, everyone)])
        }
    }

    /// Before entries are deleted: the highest position given is kept in `meta`.
    private static func keepHighWaterMark(_ db: Database) throws {
        try db.execute(sql: "UPDATE meta SET value = max(value, coalesce((SELECT max(position) FROM delivery), 0)) WHERE key = 'lastPosition'")
    }

    private static func delivery(_ row: Row) -> StoredDelivery {
        let sender: Data? = row["sender"], id: Int64? = row["clientMessageID"]
        return StoredDelivery(position: UInt64(clamping: row["position"] as Int64), recipient: row["recipient"],
                              time: UInt64(clamping: row["time"] as Int64), sender: sender.map { Array($0) },
                              clientMessageID: id.map { UInt64(bitPattern: $0) }, record: Array(row["record"] as Data))
    }
}
