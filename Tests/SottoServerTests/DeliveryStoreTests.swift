import Foundation
import GRDB
import SottoCore
import SottoStorage
@testable import SottoServer
import Testing

/// The delivery log's rules, the same in memory and in SQLite: what waits for whom, what a
/// confirmation lets go, what retention drops (and counts), what a release removes.
@Suite struct DeliveryStoreTests {
    /// Each store with its members registered (the SQLite log keeps positions on members' rows).
    static func stores() throws -> [(DeliveryStore, String)] {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        let database = try ServerDatabase(url: url)
        let members = SQLiteMemberStore(database)
        for (i, name) in ["alice", "bob", "carol"].enumerated() {
            _ = try members.claim(Username(name), identity: [UInt8](repeating: UInt8(i + 1), count: 32), at: 1, verifies: { true })
        }
        return [(InMemoryDeliveryStore(), "memory"), (SQLiteDeliveryStore(database), "sqlite")]
    }

    static func entry(_ position: UInt64, to recipient: String?, time: UInt64 = 1_000, message: Bool = true, bytes: Int = 10) -> StoredDelivery {
        StoredDelivery(position: position, recipient: recipient, time: time, sender: message ? [UInt8](repeating: 9, count: 32) : nil,
                       clientMessageID: message ? (7 << 32 | position) : nil, record: [UInt8](repeating: UInt8(truncatingIfNeeded: position), count: bytes))
    }

    /// A server database written by an older version: migrated up to `migration`, then filled.
    static func database(upTo migration: String, _ fill: (Database) throws -> Void) throws -> URL {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        try SecureFile.ensurePrivateFile(url)
        let queue = try DatabaseQueue(path: url.path)
        try ServerDatabase.migrator.migrate(queue, upTo: migration)
        try queue.write(fill)
        return url
    }

    @Test(arguments: try stores())
    func eachMemberGetsTheRoomAndWhatIsTheirsInOrderAndAConfirmationLetsGo(_ store: DeliveryStore, _ kind: String) throws {
        var start = DeliveryBatch()
        start.positions = ["alice": 0, "bob": 0]
        try store.commit(start)
        var batch = DeliveryBatch()
        batch.deliveries = [Self.entry(1, to: nil), Self.entry(2, to: "bob"), Self.entry(3, to: "alice", message: false), Self.entry(4, to: nil)]
        try store.commit(batch)
        // What was relayed per sender is known after a restart (the ledger: a resend is not relayed twice).
        #expect(try store.startup().sent.contains { $0.epoch == 7 && $0.highest == 4 }, "\(kind)")
        // So is what each sender has waiting for a member (one sender may fill only a share of it).
        let waiting = try store.startup().waitingDirect
        #expect(waiting.count == 1 && waiting.first?.recipient == "bob" && waiting.first?.bytes == 10 && waiting.first?.newest == 2, "\(kind): \(waiting)")
        #expect(try store.startup().lastPosition == 4)
        #expect(try store.pending(for: "bob", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 2, 4], "\(kind)")
        #expect(try store.pending(for: "alice", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 3, 4])
        // Bounded pages, in order; never past `through` (what is not committed yet).
        let page = try store.pending(for: "bob", after: 0, through: 4, limit: 2, maxBytes: 1 << 20)
        #expect(page.entries.map(\.position) == [1, 2] && !page.complete)
        #expect(try store.pending(for: "bob", after: 2, through: 4, limit: 2, maxBytes: 1 << 20).complete)
        #expect(try store.pending(for: "bob", after: 0, through: 2, limit: 10, maxBytes: 15).entries.map(\.position) == [1])
        #expect(try store.pending(for: "bob", after: 0, through: 1, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1])
        // Bob confirms: what was his alone is gone; the room's stays for alice.
        var confirm = DeliveryBatch()
        confirm.positions = ["bob": 4]
        try store.commit(confirm)
        #expect(try store.stream(of: "bob").position == 4)
        #expect(try store.pending(for: "bob", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 4])
        try store.prune(now: 2_000, retention: Retention())
        #expect(try store.pending(for: "alice", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 3, 4])
        // A confirmation never moves back.
        confirm.positions = ["bob": 2]
        try store.commit(confirm)
        #expect(try store.stream(of: "bob").position == 4)
        // Once everyone has confirmed, the log lets go of the room's messages too.
        confirm.positions = ["alice": 4]
        try store.commit(confirm)
        try store.prune(now: 2_000, retention: Retention())
        #expect(try store.pending(for: "carol", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.isEmpty)
        // The log is empty now; its positions still never go back.
        #expect(try store.startup().lastPosition == 4)
    }

    @Test(arguments: try stores())
    func retentionDropsTheOldestAndCountsWhatEachMemberLost(_ store: DeliveryStore, _ kind: String) throws {
        var start = DeliveryBatch()
        start.positions = ["alice": 0, "bob": 1]
        try store.commit(start)
        var batch = DeliveryBatch()
        batch.deliveries = [Self.entry(1, to: nil, time: 1_000), Self.entry(2, to: "alice", time: 1_000),
                            Self.entry(3, to: "alice", time: 1_000, message: false), Self.entry(4, to: nil, time: 90_000)]
        try store.commit(batch)
        // Older than a minute at 100 s: positions 1–3 go; alice had seen none (2 messages, one share), bob had seen 1.
        try store.prune(now: 100_000, retention: Retention(maxAge: 60, maxTotalBytes: 1 << 20))
        #expect(try store.stream(of: "alice").dropped == 2, "\(kind)")
        #expect(try store.stream(of: "bob").dropped == 0)
        #expect(try store.pending(for: "alice", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [4])
        // By size: the log over its bound loses its oldest.
        batch.deliveries = [Self.entry(5, to: nil, time: 99_000, bytes: 100), Self.entry(6, to: nil, time: 99_000, bytes: 100)]
        try store.commit(batch)
        try store.prune(now: 100_000, retention: Retention(maxAge: 60, maxTotalBytes: 150))
        #expect(try store.pending(for: "bob", after: 1, through: 6, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [6])
        #expect(try store.stream(of: "bob").dropped == 2)
        // Told once: the count starts over.
        var told = DeliveryBatch()
        told.droppedReported = ["bob"]
        try store.commit(told)
        #expect(try store.stream(of: "bob").dropped == 0)
    }

    @Test(arguments: try stores())
    func oneMemberAwayForLongGivesUpTheirOldestPastTheirBound(_ store: DeliveryStore, _ kind: String) throws {
        var batch = DeliveryBatch()
        batch.positions = ["alice": 0, "bob": 0]
        batch.deliveries = (1...4).map { Self.entry(UInt64($0), to: nil, time: 99_000, bytes: 100) } + [Self.entry(5, to: "alice", time: 99_000, bytes: 100)]
        try store.commit(batch)
        var bobConfirms = DeliveryBatch()
        bobConfirms.positions = ["bob": 4]
        try store.commit(bobConfirms)
        // 500 bytes wait for alice, 250 may: her oldest three go (counted), bob loses nothing.
        try store.prune(now: 100_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 1 << 20, maxBytesPerMember: 250))
        #expect(try store.pending(for: "alice", after: 0, through: 5, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [4, 5], "\(kind)")
        #expect(try store.stream(of: "alice").dropped == 3 && store.stream(of: "alice").position == 3)
        #expect(try store.stream(of: "bob").dropped == 0 && store.stream(of: "bob").position == 4)
    }

    /// The log's size is what it holds now: what a member confirmed of their own no longer
    /// counts against the total, so the room's messages are not dropped for it.
    @Test(arguments: try stores())
    func whatWasConfirmedAndDeletedNoLongerCountsAgainstTheTotal(_ store: DeliveryStore, _ kind: String) throws {
        var batch = DeliveryBatch()
        batch.positions = ["alice": 0, "bob": 0]
        batch.deliveries = [Self.entry(1, to: "bob", time: 99_000, bytes: 100), Self.entry(2, to: nil, time: 99_000, bytes: 100),
                            Self.entry(3, to: "bob", time: 99_000, bytes: 100), Self.entry(4, to: nil, time: 99_000, bytes: 100)]
        try store.commit(batch)
        var bobConfirms = DeliveryBatch()
        bobConfirms.positions = ["bob": 4]
        try store.commit(bobConfirms)
        // 200 bytes are left (the room's two): under a bound of 250, alice loses nothing.
        try store.prune(now: 100_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 250))
        #expect(try store.stream(of: "alice").dropped == 0, "\(kind)")
        #expect(try store.pending(for: "alice", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [2, 4])
        // Past it, the oldest go: the room's first message, counted for alice.
        batch.positions = [:]
        batch.deliveries = [Self.entry(5, to: nil, time: 99_000, bytes: 100)]
        try store.commit(batch)
        try store.prune(now: 100_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 250))
        #expect(try store.stream(of: "alice").dropped == 1 && store.stream(of: "alice").position == 2, "\(kind)")
    }

    @Test(arguments: try stores())
    func aReleasedMembersWaitingEntriesGo(_ store: DeliveryStore, _ kind: String) throws {
        var batch = DeliveryBatch()
        batch.positions = ["carol": 0]
        batch.deliveries = [Self.entry(1, to: "carol"), Self.entry(2, to: "carol", message: false)]
        try store.commit(batch)
        var release = DeliveryBatch()
        release.released = ["carol"]
        try store.commit(release)
        #expect(try store.pending(for: "carol", after: 0, through: 2, limit: 10, maxBytes: 1 << 20).entries.isEmpty, "\(kind)")
    }

    /// A database of the first schema (members only) gains the log and keeps its members.
    @Test func theServerDatabaseMigratesFromTheFirstSchema() throws {
        let url = try Self.database(upTo: "1: members") { db in
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('alice', 'alice', 'alice', ?, 1, 2)",
                           arguments: [Data(repeating: 1, count: 32)])
        }
        let database = try ServerDatabase(url: url)
        #expect(try database.appliedMigrations() == ["1: members", "2: delivery log", "3: log identity", "4: lean commits", "5: running totals", "6: keys apart", "7: room runs", "8: display keys folded"])
        #expect(try SQLiteMemberStore(database).members().map(\.name) == ["alice"])
        let deliveries = SQLiteDeliveryStore(database)
        #expect(try deliveries.stream(of: "alice").position == nil)  // starts at the next login
        let startup = try deliveries.startup()
        #expect(startup.lastPosition == 0 && startup.directory.isEmpty)  // listed once they log in with keys
    }

    /// A log written before entries carried the room's running totals gains them: what waits
    /// for each member, and what they lose past their bound, is counted as before.
    @Test func aLogOfTheFourthSchemaKeepsEachMembersBound() throws {
        let url = try Self.database(upTo: "4: lean commits") { db in
            for (i, name) in ["alice", "bob"].enumerated() {
                try db.execute(sql: """
                    INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen, confirmed) VALUES (?, ?, ?, ?, 1, 2, 0)
                    """, arguments: [name, name, name, Data(repeating: UInt8(i + 1), count: 32)])
            }
            // Room messages at 1, 2, 4 and 6, a share for alice at 3, a message for bob at 5.
            for d in [Self.entry(1, to: nil, bytes: 100), Self.entry(2, to: nil, bytes: 100), Self.entry(3, to: "alice", message: false, bytes: 100),
                      Self.entry(4, to: nil, bytes: 100), Self.entry(5, to: "bob", bytes: 100), Self.entry(6, to: nil, bytes: 100)] {
                try db.execute(sql: "INSERT INTO delivery (position, recipient, time, sender, clientMessageID, record) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [Int64(d.position), d.recipient, Int64(d.time), d.sender.map { Data($0) },
                                           d.clientMessageID.map { Int64($0) }, Data(d.record)])
            }
        }
        let store = SQLiteDeliveryStore(try ServerDatabase(url: url))
        // 500 bytes wait for each, 150 may: alice gives up 1–4 (three messages and her share),
        // bob 1–5 (four messages and his own).
        try store.prune(now: 2_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 1 << 20, maxBytesPerMember: 150))
        #expect(try store.stream(of: "alice").position == 4 && store.stream(of: "alice").dropped == 3)
        #expect(try store.stream(of: "bob").position == 5 && store.stream(of: "bob").dropped == 4)
        #expect(try store.pending(for: "alice", after: 4, through: 6, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [6])
    }

    /// A commit that fails part-way (here a position given twice) leaves nothing of itself:
    /// not its other entries, not its confirmations; the store takes the next commit as before.
    @Test func aFailedCommitLeavesNothingAndTheNextOneGoesThrough() throws {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        let database = try ServerDatabase(url: url)
        _ = try SQLiteMemberStore(database).claim(Username("alice"), identity: [UInt8](repeating: 1, count: 32), at: 1, verifies: { true })
        let store = SQLiteDeliveryStore(database)
        var first = DeliveryBatch()
        first.positions = ["alice": 0]
        first.deliveries = [Self.entry(1, to: nil)]
        try store.commit(first)
        var bad = DeliveryBatch()
        bad.deliveries = [Self.entry(2, to: nil), Self.entry(1, to: nil)]
        bad.positions = ["alice": 2]
        #expect(throws: (any Error).self) { try store.commit(bad) }
        #expect(try store.pending(for: "alice", after: 0, through: 9, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1])
        #expect(try store.stream(of: "alice").position == 0)
        var next = DeliveryBatch()
        next.deliveries = [Self.entry(2, to: nil)]
        try store.commit(next)
        #expect(try store.pending(for: "alice", after: 0, through: 9, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 2])
        #expect(database.pool.writeWithoutTransaction { db in db.isInsideTransaction } == false)
    }

    /// A member's keys (X-Wing, some 2.7 KB) are kept apart from the row each confirmation
    /// rewrites: confirming 200 members writes a few pages, not one per member (their rows,
    /// with the keys in them, were a page each: 1,000 members reading at 1 msg/s wrote 4 MB a
    /// second of WAL for their confirmations alone).
    @Test func confirmingManyMembersWritesFewPages() throws {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        let database = try ServerDatabase(url: url)
        let members = SQLiteMemberStore(database), store = SQLiteDeliveryStore(database)
        let names = try (0..<200).map { try Username("member\($0)").key }  // (the skeleton: "rnernber…")
        var keys = DeliveryBatch()
        for (i, name) in names.enumerated() {
            let identity = [UInt8](repeating: UInt8(i % 256), count: 31) + [UInt8(i / 256)]
            let claim = try members.claim(Username("member\(i)"), identity: identity, at: 1, verifies: { true })
            if claim != .registered { Issue.record("\(name): \(claim)") }
            keys.entries.append(DirectoryEntry(key: name, name: name, staticKey: [UInt8](repeating: 1, count: 32), bundle: [UInt8](repeating: 2, count: 1_400),
                                               digest: identity, prekey: [UInt8](repeating: 3, count: 1_300), lastSeen: 1))
        }
        try store.commit(keys)
        #expect(try store.startup().directory.count == 200)
        // The WAL emptied (retried while the checkpoint beside the writer holds it), then one
        // commit of 200 confirmations: the frames in the WAL are the pages it wrote.
        var emptied = false
        for _ in 0..<500 where !emptied {
            emptied = (try? database.pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }.walFrameCount == 0) ?? false
            if !emptied { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(emptied)
        var confirmations = DeliveryBatch()
        for name in names { confirmations.positions[name] = 0 }
        try store.commit(confirmations)
        let pages = try database.pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }.walFrameCount
        #expect(pages <= 20, "200 confirmations wrote \(pages) pages")
        #expect(try store.stream(of: names[199]).position == 0)
    }

    /// A log of the fifth schema keeps its members' keys when they move to a table of their
    /// own; a released member's keys go with them, and keys for a name no longer registered,
    /// or registered to another identity, are not kept (nor fail the commit).
    @Test func aLogOfTheFifthSchemaKeepsItsMembersKeys() throws {
        let url = try Self.database(upTo: "5: running totals") { db in
            for (i, name) in ["alice", "bob"].enumerated() {
                try db.execute(sql: """
                    INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen, confirmed, staticKey, bundle, prekey)
                    VALUES (?, ?, ?, ?, 1, 2, 0, ?, ?, ?)
                    """, arguments: [name, name, name, Data(repeating: UInt8(i + 1), count: 32), Data(repeating: 4, count: 32),
                                     Data(repeating: 5, count: 1_400), i == 0 ? Data(repeating: 6, count: 1_300) : nil])
            }
            // Registered, never logged in with keys: not listed.
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('carol', 'carol', 'carol', ?, 1, 2)",
                           arguments: [Data(repeating: 3, count: 32)])
        }
        let database = try ServerDatabase(url: url)
        let store = SQLiteDeliveryStore(database)
        let directory = try store.startup().directory.sorted { $0.key < $1.key }
        #expect(directory.map(\.key) == ["alice", "bob"])
        #expect(directory.first?.staticKey == [UInt8](repeating: 4, count: 32) && directory.first?.bundle == [UInt8](repeating: 5, count: 1_400))
        #expect(directory.first?.prekey == [UInt8](repeating: 6, count: 1_300) && directory.last?.prekey == [])
        #expect(directory.first?.digest == [UInt8](repeating: 1, count: 32) && directory.first?.lastSeen == 2)
        // Keys for bob from another identity (the name released and taken meanwhile) are not his.
        var other = DeliveryBatch()
        other.entries = [DirectoryEntry(key: "bob", name: "bob", staticKey: [8], bundle: [8], digest: [UInt8](repeating: 9, count: 32), prekey: [], lastSeen: 3)]
        try store.commit(other)
        #expect(try store.startup().directory.first { $0.key == "bob" }?.staticKey == [UInt8](repeating: 4, count: 32))
        _ = try SQLiteMemberStore(database).release(Username("alice"))
        var late = DeliveryBatch()
        late.entries = [DirectoryEntry(key: "alice", name: "alice", staticKey: [7], bundle: [7], digest: [], prekey: [], lastSeen: 3)]
        try store.commit(late)
        #expect(try store.startup().directory.map(\.key) == ["bob"])
        #expect(try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memberKeys") } == 1)
    }

    /// The WAL is copied into the database beside the writer: what 64 commits wrote (well
    /// under the writer's own threshold of 1,000 pages) reaches the database file anyway.
    @Test func checkpointsRunBesideTheWriter() async throws {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        let database = try ServerDatabase(url: url)
        let store = SQLiteDeliveryStore(database)
        let before = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        for i in 0..<64 {
            var batch = DeliveryBatch()
            batch.deliveries = (0..<10).map { Self.entry(UInt64(i * 10 + $0 + 1), to: nil, bytes: 1_000) }
            try store.commit(batch)
        }
        let deadline = Date().addingTimeInterval(30)
        var size = before
        while size < before + 400_000, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
        }
        #expect(size >= before + 400_000, "640 KB committed, \(size - before) bytes in the database file")
    }

    /// However steady the commits, the WAL starts over: 3,000 commits (some 9,000 pages) leave
    /// it at a few MB. (Checkpoints only beside the writer never finished before the next
    /// commit, and it grew by every page written.)
    @Test func theWALStaysBoundedUnderSteadyCommits() throws {
        let url = MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite")
        let store = SQLiteDeliveryStore(try ServerDatabase(url: url))
        for i in 0..<3_000 {
            var batch = DeliveryBatch()
            batch.deliveries = [Self.entry(UInt64(i + 1), to: nil, bytes: 1_000)]
            try store.commit(batch)
        }
        let wal = try FileManager.default.attributesOfItem(atPath: url.path + "-wal")[.size] as? Int ?? 0
        #expect(wal < 8 << 20, "WAL of \(wal) bytes after 3,000 commits")
    }
}
