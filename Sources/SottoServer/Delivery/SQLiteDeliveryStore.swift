import Foundation
import GRDB
import SottoCore

/// The delivery log in the server's SQLite database (`server.sqlite`, WAL): table `delivery`
/// (position, recipient, time, sender, client message id, the record as relayed; a group
/// commit's room entries as one row, a `RoomRun` through `last`), each
/// member's confirmed position and dropped count in `member` (rewritten at every
/// confirmation: narrow rows, dozens to a page), their keys in `memberKeys`, the log's id
/// and high-water mark in `meta`. Commits are synchronous=NORMAL in WAL mode: durable against
/// the process being killed at any point (the WAL is written before `commit` returns), not
/// against the machine losing power. A commit touches as few pages as it can (the table and
/// its one index): its cost is most of what storing adds to a delivery.
public final class SQLiteDeliveryStore: DeliveryStore, @unchecked Sendable {
    private let database: ServerDatabase

    public init(_ database: ServerDatabase) { self.database = database }

    /// The WAL's pages are copied into the database beside the writer (`ServerDatabase.checkpointSoon`).
    private func noteCommit() { database.checkpointSoon() }

    public func startup() throws -> DeliveryStartup {
        try database.pool.read { db in
            let log = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log'") ?? Data()
            // Positions are never given twice: the top entries may be gone (confirmed, released,
            // pruned), and the high-water mark is kept wherever they go.
            let highest = max(try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'lastPosition'") ?? 0,
                              try Self.highestEntry(db) ?? 0,
                              try Int64.fetchOne(db, sql: "SELECT max(confirmed) FROM member") ?? 0)
            let directory = try Row.fetchAll(db, sql: """
                SELECT key, name, identity, lastSeen, staticKey, bundle, prekey FROM member JOIN memberKeys USING (key)
                """).map { row in
                DirectoryEntry(key: row["key"], name: row["name"], staticKey: Array(row["staticKey"] as Data),
                               bundle: Array(row["bundle"] as Data), digest: Array(row["identity"] as Data),
                               prekey: Array((row["prekey"] as Data?) ?? Data()), lastSeen: UInt64(clamping: row["lastSeen"] as Int64))
            }
            // What was relayed, from the log itself: a message stays in it until its recipients
            // (the sender's own copy included) confirmed it, so one whose sender may resend it
            // (not acknowledged before a crash) is still there.
            var sent: [SentKey: UInt32] = [:]
            let rows = try Row.fetchCursor(db, sql: """
                SELECT sender, clientMessageID >> 32 AS epoch, max(clientMessageID & 4294967295) AS highest
                FROM delivery WHERE sender IS NOT NULL AND clientMessageID IS NOT NULL GROUP BY sender, epoch
                """)
            while let row = try rows.next() {
                let key = SentKey(sender: Array(row["sender"] as Data), epoch: UInt32(truncatingIfNeeded: row["epoch"] as Int64))
                sent[key] = max(sent[key] ?? 0, UInt32(truncatingIfNeeded: row["highest"] as Int64))
            }
            let runs = try Row.fetchCursor(db, sql: "SELECT position, record FROM delivery WHERE last IS NOT NULL")
            while let row = try runs.next() {
                for entry in try Self.run(row).entries {
                    guard let sender = entry.sender, let id = entry.clientMessageID else { continue }
                    let (epoch, counter) = MessageLedger.split(id)
                    let key = SentKey(sender: sender, epoch: epoch)
                    sent[key] = max(sent[key] ?? 0, counter)
                }
            }
            let waiting = try Row.fetchAll(db, sql: """
                SELECT recipient, sender, sum(length(record)) AS bytes, max(position) AS newest
                FROM delivery JOIN member ON member.key = delivery.recipient
                WHERE recipient IS NOT NULL AND sender IS NOT NULL AND position > coalesce(member.confirmed, 0)
                GROUP BY recipient, sender
                """).map { row in
                (recipient: row["recipient"] as String, sender: Array(row["sender"] as Data), bytes: row["bytes"] as Int64,
                 newest: UInt64(clamping: row["newest"] as Int64))
            }
            return DeliveryStartup(log: Array(log), lastPosition: UInt64(clamping: highest), directory: directory,
                                   sent: sent.map { (sender: $0.key.sender, epoch: $0.key.epoch, highest: $0.value) },
                                   waitingDirect: waiting)
        }
    }

    public func commit(_ batch: DeliveryBatch) throws {
        guard !batch.isEmpty else { return }
        defer { noteCommit() }
        // Kept once the transaction has committed: one rolled back leaves them as they were.
        runningTotals = try database.writeTransaction { db in
            var totals = try self.totals(db)
            let insert = try DeliveryInsert(db)
            // The room's entries gather into runs; what is for one member is a row of its own.
            var run = RoomRun(entries: []), runBefore = (bytes: totals.roomBytes, messages: totals.roomMessages)
            func endRun() throws {
                try insert.insert(run, roomBytesBefore: runBefore.bytes, roomMessagesBefore: runBefore.messages)
                run.entries.removeAll(keepingCapacity: true)
            }
            for d in batch.deliveries {
                if d.recipient == nil {
                    if !run.admits(d) { try endRun() }
                    if run.admits(d) {
                        if run.entries.isEmpty { runBefore = (totals.roomBytes, totals.roomMessages) }
                        run.entries.append(d)
                    } else {
                        try insert.insert(d, roomBytesBefore: totals.roomBytes, roomMessagesBefore: totals.roomMessages)
                    }
                } else {
                    try insert.insert(d, roomBytesBefore: totals.roomBytes, roomMessagesBefore: totals.roomMessages)
                }
                totals.add(d)
            }
            try endRun()
            let confirm = try db.cachedStatement(sql: "UPDATE member SET confirmed = max(coalesce(confirmed, 0), ?) WHERE key = ?")
            let dropMine = "DELETE FROM delivery WHERE recipient = ? AND position <= ? RETURNING length(record)"
            for (member, position) in batch.positions {
                try confirm.execute(arguments: [Int64(clamping: position), member])
                // What was for this member alone is theirs now.
                totals.bytes -= try Self.deleted(db, dropMine, [member, Int64(clamping: position)])
            }
            for member in batch.droppedReported {
                try db.execute(sql: "UPDATE member SET dropped = 0 WHERE key = ?", arguments: [member])
            }
            if !batch.released.isEmpty { try Self.keepHighWaterMark(db) }
            for member in batch.released {
                totals.bytes -= try Self.deleted(db, "DELETE FROM delivery WHERE recipient = ? RETURNING length(record)", [member])
            }
            // Only for the member registered under the name with this identity (one released
            // meanwhile, and perhaps taken by someone else, is not given these keys).
            let keys = try db.cachedStatement(sql: """
                INSERT INTO memberKeys (key, staticKey, bundle, prekey) SELECT key, ?, ?, ? FROM member WHERE key = ? AND identity = ?
                ON CONFLICT (key) DO UPDATE SET staticKey = excluded.staticKey, bundle = excluded.bundle, prekey = excluded.prekey
                """)
            for entry in batch.entries {
                try keys.execute(arguments: [Data(entry.staticKey), Data(entry.bundle), entry.prekey.isEmpty ? nil : Data(entry.prekey),
                                             entry.key, Data(entry.boundIdentity)])
            }
            return totals
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
            let reader = try EntryReader(db, after: Int64(clamping: after), through: Int64(clamping: through), for: member)
            var entries: [StoredDelivery] = []
            while entries.count <= limit, let entry = try reader.next() { entries.append(entry) }
            return DeliveryPage.take(entries, limit: limit, maxBytes: maxBytes)
        }
    }

    public func confirmedPositions() throws -> [String: UInt64] {
        try database.pool.read { db in
            var positions: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, confirmed FROM member WHERE confirmed IS NOT NULL") {
                positions[row["key"]] = UInt64(clamping: row["confirmed"] as Int64)
            }
            return positions
        }
    }

    public func prune(now: UInt64, retention: Retention) throws {
        defer { noteCommit() }
        runningTotals = try database.pool.write { db in
            var totals = try self.totals(db)
            guard let newest = try Self.highestEntry(db) else { return totals }
            let horizon = Int64(clamping: now) - Int64(min(max(0, retention.maxAge * 1000), 9e18))
            var cut = try Self.firstEntry(db, youngerThan: horizon).map { $0 - 1 } ?? newest
            if totals.bytes > retention.maxTotalBytes {
                // The oldest entries whose removal brings the log under its bound (read as far as they go).
                cut = max(cut, try Self.position(db, whereBytesReach: totals.bytes - Int64(retention.maxTotalBytes), after: 0, for: nil))
            }
            let members = try Row.fetchAll(db, sql: "SELECT key, confirmed FROM member WHERE confirmed IS NOT NULL").map {
                (key: $0["key"] as String, confirmed: $0["confirmed"] as Int64)
            }
            let lose = try db.cachedStatement(sql: "UPDATE member SET dropped = dropped + ?, confirmed = ? WHERE key = ?")
            for member in members {
                var through = member.confirmed
                if through < cut {
                    // Messages a member had not confirmed are counted as dropped for them.
                    try lose.execute(arguments: [try Self.messages(db, totals, for: member.key, after: through, through: cut), cut, member.key])
                    through = cut
                }
                // Past their bound, a member's oldest entries are given up (counted), so one
                // member away for long does not hold the log for everyone.
                let waiting = try Self.bytes(db, totals, for: member.key, after: through)
                guard waiting > retention.maxBytesPerMember else { continue }
                let upTo = try Self.position(db, whereBytesReach: waiting - Int64(retention.maxBytesPerMember), after: through, for: member.key)
                try lose.execute(arguments: [try Self.messages(db, totals, for: member.key, after: through, through: upTo), upTo, member.key])
            }
            let everyone = try Int64.fetchOne(db, sql: "SELECT min(confirmed) FROM member WHERE confirmed IS NOT NULL") ?? 0
            try Self.keepHighWaterMark(db)
            totals.bytes -= try Self.deleteEntries(db, through: max(cut, everyone))
            return totals
        }
    }

    // MARK: Running totals

    /// The log's size, and the room's bytes and messages over every entry ever given (each
    /// entry stores those before it). Read once from the log; then kept by the writer, the
    /// only thread that commits or prunes.
    private struct Totals {
        var bytes: Int64
        var roomBytes: Int64
        var roomMessages: Int64

        mutating func add(_ d: StoredDelivery) {
            bytes += Int64(d.record.count)
            guard d.recipient == nil else { return }
            roomBytes += Int64(d.record.count)
            if d.clientMessageID != nil { roomMessages += 1 }
        }
    }
    private var runningTotals: Totals?

    private func totals(_ db: Database) throws -> Totals {
        if let runningTotals { return runningTotals }
        var size = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(length(record)), 0) FROM delivery WHERE last IS NULL") ?? 0
        let runs = try Row.fetchCursor(db, sql: "SELECT position, record FROM delivery WHERE last IS NOT NULL")
        while let row = try runs.next() { size += try Self.run(row).recordBytes }
        guard let last = try Row.fetchOne(db, sql: "SELECT * FROM delivery ORDER BY position DESC LIMIT 1") else {
            return Totals(bytes: size, roomBytes: 0, roomMessages: 0)
        }
        // The newest row counts the room's entries before it; its own, or a run's past it.
        var totals = Totals(bytes: 0, roomBytes: last["roomBytesBefore"], roomMessages: last["roomMessagesBefore"])
        let key: Int64 = last["position"]
        if (last["last"] as Int64?) != nil {
            for entry in try Self.run(last).entries { totals.add(entry) }
        } else {
            totals.add(Self.delivery(last))
            if let run = try Self.run(db, holding: key) {
                for entry in run.entries where entry.position > UInt64(clamping: key) { totals.add(entry) }
            }
        }
        totals.bytes = size
        return totals
    }

    /// Runs a `DELETE … RETURNING length(record)`: the bytes it removed from the log.
    private static func deleted(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> Int64 {
        try Int64.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).reduce(0, +)
    }

    /// The room's bytes and messages before the first entry after `position` (all of them if none is).
    private static func room(_ db: Database, _ totals: Totals, after position: Int64) throws -> (bytes: Int64, messages: Int64) {
        // Inside a run: what it holds up to there. Otherwise the next row counts what precedes it
        // (no run reaches past `position`, so nothing lies between).
        if let run = try run(db, holding: position) {
            let upTo = RoomRun(entries: run.entries.filter { $0.position <= UInt64(clamping: position) })
            return (run.roomBytesBefore + upTo.recordBytes, run.roomMessagesBefore + upTo.messages)
        }
        let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT roomBytesBefore, roomMessagesBefore FROM delivery WHERE position > ? ORDER BY position LIMIT 1
            """), arguments: [position])
        return row.map { ($0[0], $0[1]) } ?? (totals.roomBytes, totals.roomMessages)
    }

    /// What waits for `member` after `position`: the room's entries and their own.
    private static func bytes(_ db: Database, _ totals: Totals, for member: String, after position: Int64) throws -> Int64 {
        let own = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT coalesce(sum(length(record)), 0) FROM delivery WHERE recipient = ? AND position > ?
            """), arguments: [member, position]) ?? 0
        return try totals.roomBytes - room(db, totals, after: position).bytes + own
    }

    /// Messages (not shares) for `member` in (after, through].
    private static func messages(_ db: Database, _ totals: Totals, for member: String, after: Int64, through: Int64) throws -> Int64 {
        let own = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT count(*) FROM delivery WHERE recipient = ? AND position > ? AND position <= ? AND clientMessageID IS NOT NULL
            """), arguments: [member, after, through]) ?? 0
        return try room(db, totals, after: through).messages - room(db, totals, after: after).messages + own
    }

    /// The first position after `after` where the entries from there (the room's and
    /// `member`'s; every entry for nil) sum to `bytes`: read in order, only as far as that.
    private static func position(_ db: Database, whereBytesReach bytes: Int64, after: Int64, for member: String?) throws -> Int64 {
        let entries = try EntryReader(db, after: after, through: .max, for: member)
        var sum: Int64 = 0, last = after
        while let entry = try entries.next() {
            last = Int64(clamping: entry.position)
            sum += Int64(entry.record.count)
            if sum >= bytes { break }
        }
        return last
    }

    /// Before entries are deleted: the highest position given is kept in `meta`.
    private static func keepHighWaterMark(_ db: Database) throws {
        try db.execute(sql: "UPDATE meta SET value = max(value, ?) WHERE key = 'lastPosition'", arguments: [try highestEntry(db) ?? 0])
    }

    // MARK: Runs

    struct SentKey: Hashable {
        var sender: [UInt8]
        var epoch: UInt32
    }

    /// The highest position of any entry (the newest run may reach past the last row's).
    private static func highestEntry(_ db: Database) throws -> Int64? {
        guard let top = try Int64.fetchOne(db, sql: "SELECT max(position) FROM delivery") else { return nil }
        let throughRun = try Int64.fetchOne(db, sql: "SELECT last FROM delivery WHERE last IS NOT NULL ORDER BY position DESC LIMIT 1")
        return max(top, throughRun ?? top)
    }

    /// A run stored as `row` (its position and record).
    private static func run(_ row: Row) throws -> RoomRun {
        try RoomRun(first: UInt64(clamping: row["position"] as Int64), encoded: row["record"] as Data)
    }

    /// The run that begins at or before `position` and ends after it, with the room's totals
    /// before it. Runs never overlap: only the last to begin by then can (`delivery_runs`).
    private static func run(_ db: Database, holding position: Int64) throws -> (entries: [StoredDelivery], roomBytesBefore: Int64, roomMessagesBefore: Int64)? {
        guard let found = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT position, last FROM delivery WHERE last IS NOT NULL AND position <= ? ORDER BY position DESC LIMIT 1
            """), arguments: [position]), (found["last"] as Int64) > position,
              let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT position, record, roomBytesBefore, roomMessagesBefore FROM delivery WHERE position = ?
                """), arguments: [found["position"] as Int64]) else { return nil }
        let run = try run(row)
        guard !run.entries.isEmpty else { throw RoomRun.Malformed(first: UInt64(clamping: found["position"] as Int64)) }
        return (run.entries, row["roomBytesBefore"], row["roomMessagesBefore"])
    }

    /// Where the first entry at least as new as `horizon` is. Times increase with positions:
    /// it bounds what is too old (a scan of what goes anyway, no index on time to keep up at
    /// every commit). A run's time is its newest entry's.
    private static func firstEntry(_ db: Database, youngerThan horizon: Int64) throws -> Int64? {
        guard let row = try Row.fetchOne(db, sql: "SELECT position, last, record FROM delivery WHERE time >= ? ORDER BY position LIMIT 1",
                                         arguments: [horizon]) else { return nil }
        let key: Int64 = row["position"]
        guard (row["last"] as Int64?) != nil else { return key }
        let inRun = try run(row).entries.first { $0.time >= UInt64(clamping: horizon) }.map { Int64(clamping: $0.position) } ?? key
        // A row of one member's may lie between the run's first entry and its first young one.
        let next = try Int64.fetchOne(db, sql: "SELECT position FROM delivery WHERE time >= ? AND position > ? ORDER BY position LIMIT 1",
                                      arguments: [horizon, key])
        return min(inRun, next ?? inRun)
    }

    /// Deletes every entry through `position`: a run reaching past it keeps its newer entries
    /// (written again from the first of them). The bytes of records removed.
    private static func deleteEntries(_ db: Database, through position: Int64) throws -> Int64 {
        var removed: Int64 = 0
        let partial = try run(db, holding: position)
        let rows = try Row.fetchCursor(db, sql: """
            DELETE FROM delivery WHERE position <= ? AND (last IS NULL OR last <= ?)
            RETURNING position, length(record) AS bytes, last, CASE WHEN last IS NOT NULL THEN record END AS record
            """, arguments: [position, position])
        while let row = try rows.next() {
            removed += (row["last"] as Int64?) == nil ? row["bytes"] : try run(row).recordBytes
        }
        guard let partial else { return removed }
        let gone = RoomRun(entries: partial.entries.filter { $0.position <= UInt64(clamping: position) })
        let kept = RoomRun(entries: partial.entries.filter { $0.position > UInt64(clamping: position) })
        try db.execute(sql: "DELETE FROM delivery WHERE position = ?", arguments: [Int64(clamping: partial.entries[0].position)])
        try DeliveryInsert(db).insert(kept, roomBytesBefore: partial.roomBytesBefore + gone.recordBytes,
                                      roomMessagesBefore: partial.roomMessagesBefore + gone.messages)
        return removed + gone.recordBytes
    }

    /// A member's entries (everyone's for nil) in (after, through], in position order: rows
    /// read in order of their first position, a run's entries merged with the rows that fall
    /// between them.
    final class EntryReader {
        private let rows: RowCursor
        private let after: UInt64, through: UInt64
        /// Read, in order, not yet given: each is given once no row left can hold an earlier one.
        private var ready: [StoredDelivery] = []
        private var unread: (key: Int64, entries: [StoredDelivery])?
        private var exhausted = false

        init(_ db: Database, after: Int64, through: Int64, for member: String?) throws {
            self.after = UInt64(clamping: after)
            self.through = UInt64(clamping: through)
            let start = try SQLiteDeliveryStore.run(db, holding: after).map { Int64(clamping: $0.entries[0].position) } ?? after &+ 1
            rows = try Row.fetchCursor(db, sql: """
                SELECT * FROM delivery WHERE position >= ? AND position <= ? AND (? IS NULL OR recipient IS NULL OR recipient = ?)
                ORDER BY position
                """, arguments: [start, through, member, member])
        }

        func next() throws -> StoredDelivery? {
            while true {
                if unread == nil, !exhausted {
                    if let row = try rows.next() {
                        let entries = (row["last"] as Int64?) == nil ? [SQLiteDeliveryStore.delivery(row)] : try SQLiteDeliveryStore.run(row).entries
                        unread = (row["position"], entries.filter { $0.position > after && $0.position <= through })
                    } else {
                        exhausted = true
                    }
                }
                if let first = ready.first, unread.map({ Int64(clamping: first.position) < $0.key }) ?? true {
                    return ready.removeFirst()
                }
                guard let row = unread else { return nil }
                unread = nil
                ready.append(contentsOf: row.entries)
                ready.sort { $0.position < $1.position }
            }
        }
    }

    fileprivate static func delivery(_ row: Row) -> StoredDelivery {
        let sender: Data? = row["sender"], id: Int64? = row["clientMessageID"]
        return StoredDelivery(position: UInt64(clamping: row["position"] as Int64), recipient: row["recipient"],
                              time: UInt64(clamping: row["time"] as Int64), sender: sender.map { Array($0) },
                              clientMessageID: id.map { UInt64(bitPattern: $0) }, record: Array(row["record"] as Data))
    }
}
