import Foundation
import GRDB
import SottoCore
@testable import SottoServer
import Testing

/// A group commit's room entries are one row of the log (`RoomRun`); what is read back is
/// the same entries, in order, as if each were a row: pages, retention, restarts.
@Suite struct RoomRunTests {
    static func database() throws -> ServerDatabase {
        let database = try ServerDatabase(url: MemberStoreTests.temporaryDirectory().appendingPathComponent("server.sqlite"))
        let members = SQLiteMemberStore(database)
        for (i, name) in ["alice", "bob", "carol"].enumerated() {
            _ = try members.claim(Username(name), identity: [UInt8](repeating: UInt8(i + 1), count: 32), at: 1, verifies: { true })
        }
        return database
    }

    static func rows(_ database: ServerDatabase) throws -> Int {
        try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery") ?? 0 }
    }

    @Test func aCommitsRoomEntriesAreOneRowReadInOrderWithWhatFallsBetween() throws {
        let database = try Self.database()
        let store = SQLiteDeliveryStore(database)
        var batch = DeliveryBatch()
        batch.positions = ["alice": 0, "bob": 0]
        batch.deliveries = [DeliveryStoreTests.entry(1, to: nil), DeliveryStoreTests.entry(2, to: nil), DeliveryStoreTests.entry(3, to: "bob"),
                            DeliveryStoreTests.entry(4, to: nil, message: false), DeliveryStoreTests.entry(5, to: nil)]
        try store.commit(batch)
        // The room's four entries in one row, bob's own in another.
        #expect(try Self.rows(database) == 2)
        #expect(try store.pending(for: "bob", after: 0, through: 5, limit: 10, maxBytes: 1 << 20).entries == batch.deliveries)
        #expect(try store.pending(for: "alice", after: 0, through: 5, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 2, 4, 5])
        // From inside the run, in pages, and never past `through`.
        let page = try store.pending(for: "bob", after: 1, through: 5, limit: 2, maxBytes: 1 << 20)
        #expect(page.entries.map(\.position) == [2, 3] && !page.complete)
        #expect(try store.pending(for: "bob", after: 3, through: 4, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [4])
        // What was relayed per sender, and the highest position, are known at a restart.
        let startup = try SQLiteDeliveryStore(database).startup()
        #expect(startup.lastPosition == 5 && startup.sent.contains { $0.epoch == 7 && $0.highest == 5 })
    }

    @Test func aRunReachingPastWhatIsDroppedKeepsItsNewerEntries() throws {
        let database = try Self.database()
        let store = SQLiteDeliveryStore(database)
        var batch = DeliveryBatch()
        batch.positions = ["alice": 0, "bob": 0]
        batch.deliveries = (1...4).map { DeliveryStoreTests.entry(UInt64($0), to: nil, time: 99_000, bytes: 100) }
        try store.commit(batch)
        // 400 bytes, 250 kept: the first two go, counted for both; the run is written again from 3.
        try store.prune(now: 100_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 250))
        #expect(try store.stream(of: "alice").dropped == 2 && store.stream(of: "alice").position == 2)
        #expect(try store.pending(for: "bob", after: 0, through: 4, limit: 10, maxBytes: 1 << 20).entries == Array(batch.deliveries[2...]))
        #expect(try Self.rows(database) == 1)
        // The log's size counts what is left, also after a restart: under the bound, nothing more goes.
        try SQLiteDeliveryStore(database).prune(now: 100_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 250))
        #expect(try store.stream(of: "alice").dropped == 2 && store.stream(of: "alice").position == 2)
    }

    /// Random commits, confirmations, prunes and restarts, each applied to the log in SQLite
    /// and to the one in memory (an entry a row, by construction): every member reads the
    /// same entries from both, and has the same position and count of dropped entries.
    @Test func theLogReadsAsTheInMemoryOneThroughRandomCommitsPrunesAndRestarts() throws {
        let database = try Self.database()
        var sqlite = SQLiteDeliveryStore(database)
        let memory = InMemoryDeliveryStore()
        var random = SplitMix(seed: 15)
        let members = ["alice", "bob", "carol"]
        var start = DeliveryBatch()
        start.positions = ["alice": 0, "bob": 0, "carol": 0]
        try sqlite.commit(start)
        try memory.commit(start)
        var position: UInt64 = 0, time: UInt64 = 100_000
        for round in 0..<200 {
            var batch = DeliveryBatch()
            // Now and then a commit past a run's bounds: more room entries than a run holds, or
            // few of them spread over more positions than a run spans.
            let (count, roomShare) = switch Int.random(in: 0..<25, using: &random) {
            case 0: (Int.random(in: 300...600, using: &random), 0.9)
            case 1: (Int.random(in: 1_100...1_500, using: &random), 0.02)
            default: (Int.random(in: 0...30, using: &random), 0.5)
            }
            for _ in 0..<count {
                position += 1
                time += UInt64.random(in: 0...(count > 100 ? 2 : 40), using: &random)
                let recipient = Double.random(in: 0..<1, using: &random) < roomShare ? nil : ["alice", "bob", "carol"].randomElement(using: &random)!
                var entry = DeliveryStoreTests.entry(position, to: recipient, time: time, message: Bool.random(using: &random),
                                                     bytes: Int.random(in: 0...300, using: &random))
                if Int.random(in: 0..<5, using: &random) == 0, entry.sender != nil { entry.sender = [UInt8](repeating: 3, count: 32) }
                batch.deliveries.append(entry)
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                batch.positions[members.randomElement(using: &random)!] = UInt64.random(in: 0...position, using: &random)
            }
            try sqlite.commit(batch)
            try memory.commit(batch)
            if Int.random(in: 0..<8, using: &random) == 0 {
                let retention = Retention(maxAge: Double.random(in: 0.5...5, using: &random), maxTotalBytes: Int.random(in: 500...20_000, using: &random),
                                          maxBytesPerMember: Int.random(in: 300...10_000, using: &random))
                let now = time + UInt64.random(in: 0...2_000, using: &random)
                try sqlite.prune(now: now, retention: retention)
                try memory.prune(now: now, retention: retention)
            }
            if Int.random(in: 0..<10, using: &random) == 0 { sqlite = SQLiteDeliveryStore(database) }
            for member in members {
                let (stored, kept) = (try sqlite.stream(of: member), try memory.stream(of: member))
                #expect(stored.position == kept.position && stored.dropped == kept.dropped, "round \(round), \(member)")
                // From where they stand, and all the log holds for them.
                for after in Set([stored.position ?? 0, 0]) {
                    let fromSQLite = try sqlite.pending(for: member, after: after, through: position, limit: 10_000, maxBytes: 1 << 30).entries
                    let fromMemory = try memory.pending(for: member, after: after, through: position, limit: 10_000, maxBytes: 1 << 30).entries
                    #expect(fromSQLite == fromMemory, "round \(round), \(member): \(fromSQLite.map(\.position)) vs \(fromMemory.map(\.position))")
                }
                // In pages that end anywhere, a run's middle too: the same entries, each once.
                guard round % 4 == 0 else { continue }
                var paged: [StoredDelivery] = [], after = stored.position ?? 0, page = 0
                while page < 2_000 {
                    let next = try sqlite.pending(for: member, after: after, through: position, limit: Int.random(in: 1...40, using: &random),
                                                  maxBytes: Int.random(in: 1...4_000, using: &random))
                    paged += next.entries
                    after = next.entries.last?.position ?? after
                    page += 1
                    if next.complete { break }
                }
                #expect(paged == (try memory.pending(for: member, after: stored.position ?? 0, through: position, limit: 1 << 20, maxBytes: 1 << 30).entries),
                        "round \(round), \(member): paged")
            }
            let started = try sqlite.startup()
            #expect(started.lastPosition == position)
            // What was relayed per sender, as the log holds it (rows and runs alike): what a
            // sender may still resend after a crash.
            var held: [String: UInt32] = [:]
            for member in members {
                for entry in try memory.pending(for: member, after: 0, through: position, limit: 1 << 20, maxBytes: 1 << 30).entries {
                    guard let sender = entry.sender, let id = entry.clientMessageID else { continue }
                    let (epoch, counter) = MessageLedger.split(id)
                    held["\(sender) \(epoch)"] = max(held["\(sender) \(epoch)"] ?? 0, counter)
                }
            }
            #expect(Set(started.sent.map { "\($0.sender) \($0.epoch) \($0.highest)" }) == Set(held.map { "\($0.key) \($0.value)" }),
                    "round \(round): the ledger")
        }
    }

    /// A log of the sixth schema (an entry a row, running totals on each) gains runs: its rows
    /// read as before, new commits add runs after them, and a prune counts across both.
    @Test func aLogOfTheSixthSchemaReadsOnWithRunsAfterIt() throws {
        let url = try DeliveryStoreTests.database(upTo: "6: keys apart") { db in
            for (i, name) in ["alice", "bob"].enumerated() {
                try db.execute(sql: """
                    INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen, confirmed) VALUES (?, ?, ?, ?, 1, 2, 0)
                    """, arguments: [name, name, name, Data(repeating: UInt8(i + 1), count: 32)])
            }
            // Room messages at 1 and 3 (100 bytes each), a message for bob at 2.
            for (d, before) in [(DeliveryStoreTests.entry(1, to: nil, bytes: 100), 0), (DeliveryStoreTests.entry(2, to: "bob", bytes: 100), 100),
                                (DeliveryStoreTests.entry(3, to: nil, bytes: 100), 100)] {
                try db.execute(sql: """
                    INSERT INTO delivery (position, recipient, time, sender, clientMessageID, record, roomBytesBefore, roomMessagesBefore)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Int64(d.position), d.recipient, Int64(d.time), d.sender.map { Data($0) }, d.clientMessageID.map { Int64($0) },
                                     Data(d.record), before, before / 100])
            }
        }
        let database = try ServerDatabase(url: url)
        let store = SQLiteDeliveryStore(database)
        #expect(try store.startup().lastPosition == 3)
        var batch = DeliveryBatch()
        batch.deliveries = (4...6).map { DeliveryStoreTests.entry(UInt64($0), to: nil, bytes: 100) }
        try store.commit(batch)
        #expect(try Self.rows(database) == 4)
        #expect(try store.pending(for: "bob", after: 0, through: 6, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [1, 2, 3, 4, 5, 6])
        // 600 bytes wait for bob, 250 may: 1–4 go (four messages); for alice 500: 1, 3 and 4.
        try store.prune(now: 2_000, retention: Retention(maxAge: 3_600, maxTotalBytes: 1 << 20, maxBytesPerMember: 250))
        #expect(try store.stream(of: "bob").position == 4 && store.stream(of: "bob").dropped == 4)
        #expect(try store.stream(of: "alice").position == 4 && store.stream(of: "alice").dropped == 3)
        #expect(try store.pending(for: "alice", after: 4, through: 6, limit: 10, maxBytes: 1 << 20).entries.map(\.position) == [5, 6])
    }

    @Test func aMalformedRunIsRefusedNotReadPastItsEnd() throws {
        let run = RoomRun(entries: [DeliveryStoreTests.entry(5, to: nil), DeliveryStoreTests.entry(6, to: nil, message: false)])
        let bytes = run.encoded()
        #expect(try RoomRun(first: 5, encoded: bytes).entries == run.entries)
        let oneEntry = RoomRun(entries: [run.entries[0]]).encoded().count
        for cut in 1..<bytes.count where cut != oneEntry {
            #expect(throws: RoomRun.Malformed.self) { try RoomRun(first: 5, encoded: bytes.prefix(cut)) }
        }
    }
}

/// A seeded generator: the same run every time.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
