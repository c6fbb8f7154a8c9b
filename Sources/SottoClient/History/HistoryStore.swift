import Foundation
import GRDB
import SottoCore
import SottoStorage

/// A message as kept in the local history: what was shown, nothing more.
public struct StoredMessage: Equatable, Sendable {
    /// The row's id: increases with storage order, and pages the history ("older than id").
    public var id: Int64
    public var conversation: Conversation
    public var from: String
    public var to: String
    public var text: String
    public var time: Date
    public var isOwn: Bool
    public var sequence: UInt64
    public var clientMessageID: UInt64
    /// How the sender's identity stood when it arrived: a message from a verified key stays
    /// verified, one from a changed key stays marked.
    public var trust: PeerTrust
    /// The sender's identity fingerprint then: a name that passed to another identity (a
    /// released name, a new device) shows where the key changed.
    public var senderFingerprint: String
    /// A search result's matched words, as ranges of characters in `text` (empty otherwise).
    public var matches: [Range<Int>] = []
    /// The server's time, where it disagreed with the sealed one (`ReceivedMessage.relayedAt`).
    public var relayedAt: Date?

    public var keyChanged: Bool { if case .changed = trust { true } else { false } }

    /// As the event it was stored from, for code that shows both alike.
    public var received: ReceivedMessage {
        ReceivedMessage(sequence: sequence, time: time, from: from, to: to, text: text, isOwn: isOwn,
                        clientMessageID: clientMessageID, trust: trust, senderFingerprint: senderFingerprint, relayedAt: relayedAt)
    }
}

/// The local history of one server (by its key), in SQLite: `history/<server>.sqlite` under
/// Sotto's XDG data directory, 0600 in 0700 directories, WAL, full-text search over the
/// text (FTS5). Calls block: callers make them off the network thread and off the frame
/// (`HistoryRecorder` writes on a queue of its own).
public final class HistoryStore: Sendable {
    public let url: URL
    private let pool: DatabasePool

    /// The file for one identity on one server: `history/<server key>/<identity>.sqlite`,
    /// named by fingerprints (file-name safe). Two identities of one person on one server
    /// (two config directories) never share a history.
    public static func url(in dataDirectory: URL, serverFingerprint: String, identityFingerprint: String) -> URL {
        deviceFile(in: dataDirectory, "history", serverFingerprint: serverFingerprint, identityFingerprint: identityFingerprint)
    }

    public init(url: URL) throws {
        self.url = url
        // What /forget deletes is overwritten, not left in free pages.
        pool = try PrivateDatabase.open(url, label: "sotto-history", what: "the history", migrator: Self.migrator,
                                        prepare: { db in try db.execute(sql: "PRAGMA secure_delete = ON") })
    }

    /// Versions of the schema, in order; released ones are never edited, only added to.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: messages and search") { db in
            try db.create(table: "message") { t in
                t.autoIncrementedPrimaryKey("id")
                // "" for the room; the other person's name for a direct conversation.
                t.column("peer", .text).notNull()
                t.column("direct", .boolean).notNull()
                t.column("sender", .text).notNull()
                t.column("recipient", .text).notNull()
                t.column("text", .text).notNull()
                t.column("time", .integer).notNull()
                t.column("own", .boolean).notNull()
                t.column("sequence", .integer).notNull()
                t.column("clientMessageID", .integer).notNull()
                t.column("keyChanged", .boolean).notNull()
                // Exactly once: a message shown again (a resend after a reconnect) is one row.
                t.uniqueKey(["sender", "clientMessageID"])
            }
            try db.create(index: "message_by_conversation", on: "message", columns: ["direct", "peer", "id"])
            try db.create(virtualTable: "message_text", using: FTS5()) { t in
                t.synchronize(withTable: "message")
                t.tokenizer = .unicode61()
                t.column("text")
            }
        }
        migrator.registerMigration("2: sender identity and trust") { db in
            try db.alter(table: "message") { t in
                // 0 unverified, 1 verified, 2 changed (with the fingerprint it changed from).
                t.add(column: "trust", .integer).notNull().defaults(to: 0)
                t.add(column: "previousFingerprint", .text).notNull().defaults(to: "")
                t.add(column: "senderFingerprint", .text).notNull().defaults(to: "")
            }
            try db.execute(sql: "UPDATE message SET trust = 2 WHERE keyChanged")
        }
        migrator.registerMigration("3: drafts") { db in
            // What was typed in a conversation and not sent: one row per conversation.
            try db.create(table: "draft") { t in
                t.column("direct", .boolean).notNull()
                t.column("peer", .text).notNull()
                t.column("text", .text).notNull()
                t.primaryKey(["direct", "peer"])
            }
        }
        migrator.registerMigration("4: device state") { db in
            // Small facts about how the window was left (the conversation open), by key.
            try db.create(table: "deviceState") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        migrator.registerMigration("5: read marks") { db in
            // How far each conversation was read is kept from now on (`read:` keys: the row of
            // the newest message shown while it was open); one never opened counts as read up
            // to what was kept before (not all of that is unread).
            let since = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM message") ?? 0
            try db.execute(sql: "INSERT OR REPLACE INTO deviceState (key, value) VALUES ('readSince', ?)", arguments: [String(since)])
        }
        migrator.registerMigration("6: the server's time where it disagreed") { db in
            // Messages are kept at the time their sender sealed in them; the server's beside
            // it when the two were more than the clock skew apart (null otherwise).
            try db.alter(table: "message") { t in t.add(column: "relayedAt", .integer) }
        }
        return migrator
    }

    public func appliedMigrations() throws -> [String] { try PrivateDatabase.appliedMigrations(pool, Self.migrator) }

    /// Stores what was shown, in one transaction; a message stored already is skipped.
    public func append(_ messages: [ReceivedMessage]) throws {
        guard !messages.isEmpty else { return }
        try pool.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO message (peer, direct, sender, recipient, text, time, own, sequence, clientMessageID,
                                               keyChanged, trust, previousFingerprint, senderFingerprint, relayedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for m in messages {
                let peer = m.conversation.recipient
                let (trust, previous): (Int, String)
                switch m.trust {
                case .unverified: (trust, previous) = (0, "")
                case .verified: (trust, previous) = (1, "")
                case .changed(let was): (trust, previous) = (2, was)
                }
                try insert.execute(arguments: [peer, m.isDirect, m.from, m.to, m.text, Int64(m.time.timeIntervalSince1970 * 1000),
                                               m.isOwn, Int64(bitPattern: m.sequence), Int64(bitPattern: m.clientMessageID),
                                               trust == 2, trust, previous, m.senderFingerprint,
                                               m.relayedAt.map { Int64($0.timeIntervalSince1970 * 1000) }])
            }
        }
    }

    /// The last `limit` messages of a conversation before the row `before` (nil: the newest),
    /// oldest first.
    public func recent(in conversation: Conversation, limit: Int, before: Int64? = nil) throws -> [StoredMessage] {
        let (direct, peer) = Self.key(conversation)
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM message WHERE direct = ? AND peer = ? AND id < ? ORDER BY id DESC LIMIT ?
                """, arguments: [direct, peer, before ?? Int64.max, max(0, limit)]).map(Self.message).reversed()
        }
    }

    /// The last `limit` messages of a conversation before a message (with it: `inclusive`),
    /// oldest first; none if that message is not kept.
    public func recent(in conversation: Conversation, limit: Int, beforeMessage message: (sender: String, clientMessageID: UInt64),
                       inclusive: Bool = false) throws -> [StoredMessage] {
        guard let before = try rowBound(message, inclusive: inclusive) else { return [] }
        return try recent(in: conversation, limit: limit, before: before)
    }

    /// The row that rows before a message (and it, `inclusive`) are below; nil if it is not kept.
    public func rowBound(_ message: (sender: String, clientMessageID: UInt64), inclusive: Bool) throws -> Int64? {
        let row = try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM message WHERE sender = ? AND clientMessageID = ?",
                               arguments: [message.sender, Int64(bitPattern: message.clientMessageID)])
        }
        return row.map { inclusive ? min($0, Int64.max - 1) + 1 : $0 }
    }

    /// A conversation's messages from the row `from` (included, with the `context` messages
    /// before it) up to the row `before`, oldest first: what lies between a search result and
    /// the oldest page shown.
    public func range(in conversation: Conversation, from: Int64, before: Int64, context: Int = 0) throws -> [StoredMessage] {
        let (direct, peer) = Self.key(conversation)
        let leading = try recent(in: conversation, limit: context, before: from)
        return try leading + pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM message WHERE direct = ? AND peer = ? AND id >= ? AND id < ? ORDER BY id",
                             arguments: [direct, peer, from, before]).map(Self.message)
        }
    }

    /// Messages in any conversation containing every word (prefixes match: "deplo" finds
    /// "deployed"), newest first. What a person types is never FTS5 syntax.
    public func search(_ words: String, limit: Int) throws -> [StoredMessage] {
        guard let pattern = FTS5Pattern(matchingAllPrefixesIn: words) else { return [] }
        return try pool.read { db in
            // FTS5 walks its index newest first and stops at the limit: a word in a hundred
            // thousand messages costs no more than a rare one.
            // FTS5's highlight() says which words matched, as its tokenizer saw them.
            try Row.fetchAll(db, sql: """
                SELECT message.*, found.marked FROM
                    (SELECT rowid, highlight(message_text, 0, ?, ?) AS marked FROM message_text
                        WHERE message_text MATCH ? ORDER BY rowid DESC LIMIT ?) AS found
                JOIN message ON message.id = found.rowid
                ORDER BY message.id DESC
                """, arguments: [String(Self.matchOpen), String(Self.matchClose), pattern, max(0, limit)]).map { row in
                var message = Self.message(row)
                message.matches = Self.matches(marked: row["marked"] ?? "", text: message.text)
                return message
            }
        }
    }

    /// What highlight() puts around each matched word: private-use characters, which a message
    /// may hold too; one that does is shown without its matches marked.
    static let matchOpen: Unicode.Scalar = "\u{E000}", matchClose: Unicode.Scalar = "\u{E001}"

    /// The marked words' ranges, in characters of `text`; none unless `marked` is `text` with
    /// marks around words. A mark inside a character widens its range to the whole character.
    static func matches(marked: String, text: String) -> [Range<Int>] {
        // Linear in the text, whatever the number of marks (a 60 KB message of "a a a …"
        // searched for "a" holds 29,000; counting the view at each was quadratic: review).
        var plain = String.UnicodeScalarView()
        var count = 0
        var opened: Int?
        var scalarRanges: [Range<Int>] = []
        for scalar in marked.unicodeScalars {
            switch scalar {
            case matchOpen:
                guard opened == nil else { return [] }
                opened = count
            case matchClose:
                guard let start = opened else { return [] }
                if start < count, scalarRanges.count < maxMatches { scalarRanges.append(start..<count) }
                opened = nil
            default:
                plain.append(scalar)
                count += 1
            }
        }
        guard opened == nil, !scalarRanges.isEmpty, count == text.unicodeScalars.count, String(plain) == text else { return [] }
        // Where each character of the text starts, in scalars.
        var starts: [Int] = []
        var scalars = 0
        for character in text {
            starts.append(scalars)
            scalars += character.unicodeScalars.count
        }
        // One pass (the ranges come in order and do not overlap): from the last character
        // starting at or before a range to the first starting at or after its end.
        var ranges: [Range<Int>] = []
        var lower = 0
        for r in scalarRanges {
            while lower + 1 < starts.count, starts[lower + 1] <= r.lowerBound { lower += 1 }
            var upper = lower
            while upper < starts.count, starts[upper] < r.upperBound { upper += 1 }
            ranges.append(lower..<max(lower + 1, upper))
        }
        return ranges
    }
    /// Matches marked in one message, at most: each is drawn in every frame that shows it.
    static let maxMatches = 64

    /// Keeps what was typed and not sent, per conversation, in one transaction; an empty
    /// text deletes the conversation's draft, and then the WAL is emptied too: text typed
    /// and erased, never sent, must not stay readable in it (`secure_delete` covers only
    /// the database's own pages).
    public func saveDrafts(_ drafts: [Conversation: String]) throws {
        guard !drafts.isEmpty else { return }
        defer { if drafts.values.contains(where: \.isEmpty) { try? pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) } } }
        try pool.write { db in
            for (conversation, text) in drafts {
                let (direct, peer) = Self.key(conversation)
                if text.isEmpty {
                    try db.execute(sql: "DELETE FROM draft WHERE direct = ? AND peer = ?", arguments: [direct, peer])
                } else {
                    try db.execute(sql: "INSERT OR REPLACE INTO draft (direct, peer, text) VALUES (?, ?, ?)", arguments: [direct, peer, text])
                }
            }
        }
    }

    /// Messages the app put back in a conversation's draft when it closed before the server
    /// had them (`mayHaveGone` of them written on a connection and never acknowledged): said
    /// at the next opening. Counts add up until they are taken.
    public func saveUnsentNote(_ conversation: Conversation, count: Int, mayHaveGone: Int) throws {
        try pool.write { db in
            let key = "unsent:" + Self.name(of: conversation)
            let before = try String.fetchOne(db, sql: "SELECT value FROM deviceState WHERE key = ?", arguments: [key]).flatMap(Self.unsentNote)
            let value = "\((before?.count ?? 0) + count),\((before?.mayHaveGone ?? 0) + mayHaveGone)"
            try db.execute(sql: "INSERT OR REPLACE INTO deviceState (key, value) VALUES (?, ?)", arguments: [key, value])
        }
    }

    /// The notes of `saveUnsentNote`, deleted as they are read.
    public func takeUnsentNotes() throws -> [Conversation: (count: Int, mayHaveGone: Int)] {
        try pool.write { db in
            var notes: [Conversation: (count: Int, mayHaveGone: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM deviceState WHERE key LIKE 'unsent:%'") {
                let key: String = row["key"], value: String = row["value"]
                guard let conversation = Self.conversation(named: String(key.dropFirst("unsent:".count))),
                      let note = Self.unsentNote(value) else { continue }
                notes[conversation] = note
            }
            try db.execute(sql: "DELETE FROM deviceState WHERE key LIKE 'unsent:%'")
            return notes
        }
    }

    private static func unsentNote(_ value: String) -> (count: Int, mayHaveGone: Int)? {
        let parts = value.split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ (0...1_000_000).contains($0) }) else { return nil }
        return (parts[0], parts[1])
    }

    /// The conversation the window had open when it was last used here.
    public func openConversation() throws -> Conversation? {
        try pool.read { db in
            guard let value = try String.fetchOne(db, sql: "SELECT value FROM deviceState WHERE key = 'open'") else { return nil }
            return Self.conversation(named: value)
        }
    }

    public func saveOpenConversation(_ conversation: Conversation) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO deviceState (key, value) VALUES ('open', ?)", arguments: [Self.name(of: conversation)])
        }
    }

    /// Which colour of the window's palette each member's name is drawn in (a name's colour
    /// is kept across restarts, as the design asks: a newcomer's run saw two members' change).
    public func colors() throws -> [String: Int] {
        try pool.read { db in
            // Bounded (the window keeps at most 1,024 names, ~30 KB): a larger value is not read.
            guard let value = try String.fetchOne(db, sql: "SELECT value FROM deviceState WHERE key = 'colors'"),
                  value.utf8.count <= 256 * 1024 else { return [:] }
            return (try? JSONDecoder().decode([String: Int].self, from: Data(value.utf8))) ?? [:]
        }
    }

    public func saveColors(_ colors: [String: Int]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let value = String(decoding: try encoder.encode(colors), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO deviceState (key, value) VALUES ('colors', ?)", arguments: [value])
        }
    }

    /// How far each conversation was read on this device: the row id of the newest message
    /// shown while it was open (rows count in the order messages were shown: times can tie,
    /// and a server's positions start again with a new log); what is after it is unread at
    /// the next start. `since`: for a conversation never opened here, the last row kept
    /// before marks were (schema 5).
    public func readMarks() throws -> (marks: [Conversation: Int64], since: Int64) {
        try pool.read { db in
            var marks: [Conversation: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM deviceState WHERE key LIKE 'read:%'") {
                let key: String = row["key"], value: String = row["value"]
                guard let millis = Int64(value), let conversation = Self.conversation(named: String(key.dropFirst(5))) else { continue }
                marks[conversation] = millis
            }
            let since = try String.fetchOne(db, sql: "SELECT value FROM deviceState WHERE key = 'readSince'").flatMap { Int64($0) } ?? 0
            return (marks, since)
        }
    }

    /// Moves a conversation's read mark forward to this message's row (never back: two
    /// windows, or a late write); false if the message is not kept (yet).
    @discardableResult
    public func saveReadMark(_ conversation: Conversation, upTo message: (sender: String, clientMessageID: UInt64)) throws -> Bool {
        try pool.write { db in
            guard let row = try Int64.fetchOne(db, sql: "SELECT id FROM message WHERE sender = ? AND clientMessageID = ?",
                                               arguments: [message.sender, Int64(bitPattern: message.clientMessageID)]) else { return false }
            let key = "read:" + Self.name(of: conversation)
            let stored = try String.fetchOne(db, sql: "SELECT value FROM deviceState WHERE key = ?", arguments: [key]).flatMap { Int64($0) }
            guard row > stored ?? Int64.min else { return true }
            try db.execute(sql: "INSERT OR REPLACE INTO deviceState (key, value) VALUES (?, ?)", arguments: [key, String(row)])
            return true
        }
    }

    /// "#" for the room, "@name" for a direct conversation (as `deviceState` keeps them).
    static func name(of conversation: Conversation) -> String { conversation == .room ? "#" : "@" + conversation.recipient }

    static func conversation(named value: String) -> Conversation? {
        if value == "#" { return .room }
        return value.hasPrefix("@") && value.count > 1 ? .direct(String(value.dropFirst())) : nil
    }

    /// Every conversation's unsent draft.
    public func drafts() throws -> [Conversation: String] {
        try pool.read { db in
            var drafts: [Conversation: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT direct, peer, text FROM draft") {
                let direct: Bool = row["direct"], peer: String = row["peer"]
                drafts[direct ? .direct(peer) : .room] = row["text"]
            }
            return drafts
        }
    }

    /// Deletes a conversation's history and its draft; returns how many messages were deleted.
    @discardableResult
    public func forget(_ conversation: Conversation) throws -> Int {
        let (direct, peer) = Self.key(conversation)
        let count = try pool.write { db in
            try db.execute(sql: "DELETE FROM message WHERE direct = ? AND peer = ?", arguments: [direct, peer])
            let messages = db.changesCount
            try db.execute(sql: "DELETE FROM draft WHERE direct = ? AND peer = ?", arguments: [direct, peer])
            if direct { try db.execute(sql: "DELETE FROM deviceState WHERE key = 'open' AND value = ?", arguments: ["@" + peer]) }
            try db.execute(sql: "DELETE FROM deviceState WHERE key = ?", arguments: ["read:" + Self.name(of: conversation)])
            // FTS5 notes a deletion beside the segments that hold the deleted rows' words (with
            // their row ids and positions) and drops them only when segments merge: 'optimize'
            // merges them all now, and secure_delete zeroes the pages they leave. (FTS5's own
            // secure-delete option needs SQLite 3.42; Debian 12 has 3.40.)
            if messages > 0 { try db.execute(sql: "INSERT INTO message_text(message_text) VALUES('optimize')") }
            return messages
        }
        // Nor left in the write-ahead log.
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        return count
    }

    /// The people with a direct conversation kept, most recent first.
    public func directConversations(limit: Int) throws -> [Conversation] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT peer FROM message WHERE direct GROUP BY peer ORDER BY max(id) DESC LIMIT ?",
                                arguments: [max(0, limit)])
        }.map { .direct($0) }
    }

    /// Past `maxBytes` kept (a message's text and `rowOverhead` each), messages go down to
    /// nine tenths of it, the oldest of whoever has the most kept first, down to the next
    /// largest, and so on (an attacker's review: one member flooding the room wrote about
    /// 1.2 GB an hour into every member's history; what they flooded now goes before what
    /// others said). Returns how many went.
    @discardableResult
    public func keepWithin(bytes maxBytes: Int) throws -> Int {
        try pool.write { db in
            var kept: [(sender: String, bytes: Int)] = try Row.fetchAll(db, sql: """
                SELECT sender, sum(length(CAST(text AS BLOB))) + count(*) * ? AS bytes FROM message GROUP BY sender
                """, arguments: [Self.rowOverhead]).map { ($0["sender"], $0["bytes"]) }
            let total = kept.reduce(0) { $0 + $1.bytes }
            guard total > maxBytes else { return 0 }
            // The level every sender above it is cut down to, so that enough goes.
            let excess = total - maxBytes / 10 * 9
            kept.sort { $0.bytes > $1.bytes }
            var level = 0, above = 0
            for (i, entry) in kept.enumerated() {
                above += entry.bytes
                let next = i + 1 < kept.count ? kept[i + 1].bytes : 0
                // Cut to `next`, the first i+1 senders give up above - (i+1) * next.
                if above - (i + 1) * next >= excess {
                    level = max(next, (above - excess) / (i + 1))
                    break
                }
            }
            var removed = 0
            for entry in kept where entry.bytes > level {
                // Their oldest, as far as the running total reaches what they give up.
                let upTo = try Int64.fetchOne(db, sql: """
                    SELECT id FROM (SELECT id, sum(length(CAST(text AS BLOB)) + ?) OVER (ORDER BY id) AS running FROM message WHERE sender = ?)
                    WHERE running >= ? ORDER BY id LIMIT 1
                    """, arguments: [Self.rowOverhead, entry.sender, entry.bytes - level])
                guard let upTo else { continue }
                try db.execute(sql: "DELETE FROM message WHERE sender = ? AND id <= ?", arguments: [entry.sender, upTo])
                removed += db.changesCount
            }
            return removed
        }
    }

    /// What is kept, as `keepWithin` counts it.
    public func keptBytes() throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(CAST(text AS BLOB))) + count(*) * ?, 0) FROM message", arguments: [Self.rowOverhead]) ?? 0
        }
    }

    /// What a kept message costs beyond its text (its row, its index entries, its words).
    static let rowOverhead = 200

    public func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM message") ?? 0 }
    }

    private static func key(_ conversation: Conversation) -> (Bool, String) {
        switch conversation {
        case .room: return (false, "")
        case .direct(let name): return (true, name)
        }
    }

    private static func message(_ row: Row) -> StoredMessage {
        let direct: Bool = row["direct"], peer: String = row["peer"]
        let time: Int64 = row["time"], sequence: Int64 = row["sequence"], id: Int64 = row["clientMessageID"]
        let trustCode: Int = row["trust"]
        let trust: PeerTrust = switch trustCode {
        case 1: .verified
        case 2: .changed(previous: row["previousFingerprint"])
        default: .unverified
        }
        return StoredMessage(id: row["id"], conversation: direct ? .direct(peer) : .room, from: row["sender"], to: row["recipient"],
                             text: row["text"], time: Date(timeIntervalSince1970: Double(time) / 1000), isOwn: row["own"],
                             sequence: UInt64(bitPattern: sequence), clientMessageID: UInt64(bitPattern: id), trust: trust,
                             senderFingerprint: row["senderFingerprint"],
                             relayedAt: (row["relayedAt"] as Int64?).map { Date(timeIntervalSince1970: Double($0) / 1000) })
    }
}

/// A device database for one server and identity: `<folder>/<server key>/<identity>.sqlite`
/// under Sotto's data directory, named by fingerprints made file-name safe.
func deviceFile(in dataDirectory: URL, _ folder: String, serverFingerprint: String, identityFingerprint: String) -> URL {
    func safe(_ fingerprint: String) -> String {
        fingerprint.replacingOccurrences(of: "SHA256:", with: "").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "+", with: "-")
    }
    return dataDirectory.appendingPathComponent(folder).appendingPathComponent(safe(serverFingerprint))
        .appendingPathComponent("\(safe(identityFingerprint)).sqlite")
}
