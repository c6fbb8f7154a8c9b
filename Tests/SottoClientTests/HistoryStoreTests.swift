import Foundation
import GRDB
@testable import SottoClient
import SottoCore
import Testing

/// The local history: what was shown is kept once, paged, searched and forgotten.
@Suite struct HistoryStoreTests {
    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sotto-history-\(UUID().uuidString)")
    }

    static func message(_ text: String, from: String = "alice", to: String = "", id: UInt64, own: Bool = false, at seconds: Double = 0) -> ReceivedMessage {
        ReceivedMessage(sequence: id, time: Date(timeIntervalSince1970: 1_800_000_000 + seconds), from: from, to: to, text: text,
                        isOwn: own, clientMessageID: id, trust: .unverified)
    }

    /// The server's time kept beside the sealed one where they disagreed, across a restart.
    @Test func theServersTimeIsKeptWhereItDisagreed() throws {
        let url = Self.directory().appendingPathComponent("h.sqlite")
        var backdated = Self.message("from yesterday", id: 1, at: -86_400)
        backdated.relayedAt = Date(timeIntervalSince1970: 1_800_000_000)
        try HistoryStore(url: url).append([backdated, Self.message("now", id: 2)])
        let kept = try HistoryStore(url: url).recent(in: .room, limit: 5)
        #expect(kept.map(\.relayedAt) == [Date(timeIntervalSince1970: 1_800_000_000), nil])
        #expect(kept.map(\.received) == [backdated, Self.message("now", id: 2)])
    }

    @Test func keepsEachMessageOnceAndPagesAConversation() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        try store.append((1...50).map { Self.message("room line \($0)", id: UInt64($0)) })
        // A resend shown again after a reconnect, and a direct message in between.
        try store.append([Self.message("room line 50", id: 50), Self.message("psst", from: "bob", to: "me", id: 7)])
        #expect(try store.count() == 51)
        let last = try store.recent(in: .room, limit: 10)
        #expect(last.map(\.text) == (41...50).map { "room line \($0)" })
        let before = try store.recent(in: .room, limit: 5, before: last.first!.id)
        #expect(before.map(\.text) == (36...40).map { "room line \($0)" })
        #expect(try store.recent(in: .direct("bob"), limit: 10).map(\.text) == ["psst"])
        #expect(try store.directConversations(limit: 5) == [.direct("bob")])
        let back = try #require(try store.recent(in: .direct("bob"), limit: 1).first)
        #expect(back.received.from == "bob" && back.received.to == "me" && back.received.clientMessageID == 7)
        #expect(back.time == Date(timeIntervalSince1970: 1_800_000_000))
    }

    /// An attacker's review: one member flooding the room wrote about 1.2 GB an hour into
    /// every member's history, without end. Past its bound the history keeps nine tenths of
    /// it, and what goes first is the oldest of whoever has the most kept.
    @Test func pastItsBoundTheHistoryLetsTheLargestSendersOldestGoFirst() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        let flood = String(repeating: "x", count: 2_000)
        try store.append((1...40).map { Self.message("bob \($0)", from: "bob", id: UInt64($0)) })
        try store.append((1...500).map { Self.message("\($0) \(flood)", from: "mallory", id: UInt64(1_000 + $0)) })
        try store.append((41...60).map { Self.message("bob \($0)", from: "bob", id: UInt64($0)) })
        #expect(try store.keepWithin(bytes: 2_000_000) == 0, "within its bound, nothing goes")
        let removed = try store.keepWithin(bytes: 500_000)
        #expect(removed > 0)
        let room = try store.recent(in: .room, limit: 1_000)
        #expect(room.filter { $0.from == "bob" }.count == 60, "bob's went with mallory's")
        let mallory = room.filter { $0.from == "mallory" }
        #expect(mallory.last?.text.hasPrefix("500 ") == true && mallory.first?.text.hasPrefix("1 ") == false, "not the oldest first")
        let kept = room.reduce(0) { $0 + $1.text.utf8.count + HistoryStore.rowOverhead }
        #expect(kept <= 450_000 && kept > 400_000, "\(kept)")
    }

    @Test func theRecorderKeepsTheHistoryWithinItsBound() throws {
        let directory = Self.directory()
        let recorder = HistoryRecorder(dataDirectory: directory, identityFingerprint: "SHA256:me", maxBytes: 300_000, onFailure: { _ in })
        recorder.record(.welcome(name: "me", serverFingerprint: "SHA256:server"))
        let flood = String(repeating: "x", count: 2_000)
        for i in 1...1_000 { recorder.record(.message(Self.message("\(i) \(flood)", from: "mallory", id: UInt64(i)))) }
        recorder.flush()
        let kept = try recorder.withStore { try #require($0).recent(in: .room, limit: 2_000) }
        #expect(kept.reduce(0) { $0 + $1.text.utf8.count + HistoryStore.rowOverhead } <= 300_000 + 30_000 + 2_200 * 20)
        #expect(kept.last?.text.hasPrefix("1000 ") == true)
    }

    /// Review finding: kept messages lost who sent them (verified, or a changed key), so a
    /// name that passed to another identity read as one continuous conversation.
    @Test func theSendersIdentityAndTrustAreKeptWithEachMessage() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        var verified = Self.message("from a verified key", id: 1)
        verified.trust = .verified
        verified.senderFingerprint = "SHA256:old"
        var changed = Self.message("from a changed key", id: 2)
        changed.trust = .changed(previous: "SHA256:old")
        changed.senderFingerprint = "SHA256:new"
        try store.append([verified, changed])
        let kept = try store.recent(in: .room, limit: 5)
        #expect(kept.map(\.trust) == [.verified, .changed(previous: "SHA256:old")])
        #expect(kept.map(\.senderFingerprint) == ["SHA256:old", "SHA256:new"])
        #expect(kept.map(\.received) == [verified, changed])
    }

    @Test func searchFindsWordsAndPrefixesAndTreatsTypingAsWords() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        try store.append([
            Self.message("we deployed the release on friday", id: 1),
            Self.message("Déployé ce matin", from: "chloé", id: 2),
            Self.message("lunch?", from: "bob", to: "alice", id: 3),
            Self.message("the release notes are in the wiki", id: 4),
        ])
        #expect(try store.search("release", limit: 10).map(\.clientMessageID) == [4, 1])
        // Prefixes, any case, accents or not.
        #expect(try store.search("deplo", limit: 10).map(\.clientMessageID) == [2, 1])
        #expect(try store.search("DÉPLOYED", limit: 10).map(\.clientMessageID) == [1])
        #expect(try store.search("RELEASE wiki", limit: 10).map(\.clientMessageID) == [4])
        #expect(try store.search("lunch", limit: 10).first?.conversation == .direct("bob"))
        // FTS5 syntax typed by a person is searched for as words, never parsed.
        for typed in ["\"release", "release AND", "NEAR(release", "rel*ase", "col:release", "(", "-release"] {
            _ = try store.search(typed, limit: 10)
        }
        #expect(try store.search("   ", limit: 10).isEmpty)
    }

    /// What a result shows marked: the words the search matched, as FTS5 tokenized them
    /// (prefixes, any case, accents or not), in characters of the message's text.
    @Test func searchResultsSayWhichWordsMatched() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        try store.append([
            Self.message("we deployed the release on friday", id: 1),
            Self.message("Déployé 🚀 ce matin, déploiement", from: "chloé", id: 2),
            Self.message("the release notes are in the wiki; release day", id: 3),
        ])
        func matched(_ words: String, id: UInt64) throws -> [String] {
            let m = try #require(try store.search(words, limit: 10).first { $0.clientMessageID == id })
            let characters = Array(m.text)
            return m.matches.map { String(characters[$0]) }
        }
        #expect(try matched("deplo", id: 1) == ["deployed"])
        #expect(try matched("DEPLO", id: 2) == ["Déployé", "déploiement"])
        #expect(try matched("release wiki", id: 3) == ["release", "wiki", "release"])
        // Outside a search, nothing is marked.
        #expect(try store.recent(in: .room, limit: 10).allSatisfy(\.matches.isEmpty))
    }

    /// Review finding: a message of 30,000 matching words (a pasted log) made the marks cost
    /// the square of its length. At most `maxMatches` are kept, in one pass.
    @Test func aMessageOfManyMatchesKeepsTheFirstFewMarked() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        try store.append([Self.message(Array(repeating: "a", count: 30_000).joined(separator: " "), id: 1)])
        let found = try #require(try store.search("a", limit: 5).first)
        #expect(found.matches.count == HistoryStore.maxMatches)
        #expect(found.matches.first == 0..<1 && found.matches.last == 126..<127)
    }

    /// A message holding the very characters the marks are made of is found, and shown
    /// without marks rather than with marks it put there itself.
    @Test func aMessageCannotMarkItsOwnWordsAsFound() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        let forged = "plain \u{E000}forged\u{E001} words"
        try store.append([Self.message(forged, from: "mallory", id: 1)])
        let found = try #require(try store.search("words", limit: 10).first)
        #expect(found.text == forged && found.matches.isEmpty)
        // Marks around a combining sequence's first scalar widen to the whole character; marks
        // that do not spell out the text give nothing.
        let text = "cafe\u{301} ok"
        #expect(HistoryStore.matches(marked: "\u{E000}cafe\u{E001}\u{301} ok", text: text) == [0..<4])
        #expect(HistoryStore.matches(marked: "\u{E000}cafe\u{301} ok", text: text).isEmpty)
        #expect(HistoryStore.matches(marked: "\u{E000}other\u{E001}", text: text).isEmpty)
    }

    /// How far each conversation was read: the row of the newest message shown while it was
    /// open (messages can share a millisecond), moved forward only, per conversation, deleted
    /// with it by /forget; a conversation never opened is read up to the last row kept before
    /// marks were (none, in a new store).
    @Test func readMarksMoveForwardAndGoWithTheConversation() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        let fresh = try store.readMarks()
        #expect(fresh.marks.isEmpty && fresh.since == 0)
        // Three room messages in the same millisecond, then a direct one.
        try store.append([Self.message("one", id: 1), Self.message("two", id: 2), Self.message("three", id: 3),
                          Self.message("psst", from: "bob", to: "me", id: 4)])
        let rows = try store.recent(in: .room, limit: 5).map(\.id)
        try store.saveReadMark(.room, upTo: ("alice", 2))
        try store.saveReadMark(.room, upTo: ("alice", 1))  // a late write never moves it back
        try store.saveReadMark(.room, upTo: ("alice", 99))  // not kept: nothing
        try store.saveReadMark(.direct("bob"), upTo: ("bob", 4))
        let marks = try store.readMarks().marks
        #expect(marks[.room] == rows[1] && marks[.direct("bob")] != nil)
        _ = try store.forget(.direct("bob"))
        #expect(Array(try store.readMarks().marks.keys) == [.room])
        #expect(try store.readMarks().since == 0)
    }

    @Test func forgettingAConversationLeavesTheOthers() throws {
        let store = try HistoryStore(url: Self.directory().appendingPathComponent("h.sqlite"))
        try store.append([Self.message("hello room", id: 1), Self.message("secret plan", from: "bob", to: "me", id: 2)])
        #expect(try store.forget(.direct("bob")) == 1)
        #expect(try store.search("secret", limit: 10).isEmpty)  // gone from the search index too
        #expect(try store.recent(in: .room, limit: 10).map(\.text) == ["hello room"])
    }

    /// What was typed and not sent is kept per conversation, replaced as it changes, deleted
    /// when emptied, and forgotten with its conversation (and gone from the files).
    @Test func draftsAreKeptPerConversationUntilSentOrForgotten() throws {
        let url = Self.directory().appendingPathComponent("h.sqlite")
        let store = try HistoryStore(url: url)
        #expect(try store.drafts().isEmpty)
        try store.saveDrafts([.room: "half a thought", .direct("bob"): "the quokka-draft for bob", .direct("carol"): "hi"])
        try store.saveDrafts([.room: "half a thought, finished", .direct("carol"): ""])
        #expect(try store.drafts() == [.room: "half a thought, finished", .direct("bob"): "the quokka-draft for bob"])
        // The conversation left open; a forgotten one is not reopened.
        #expect(try store.openConversation() == nil)
        try store.saveOpenConversation(.direct("room"))
        #expect(try store.openConversation() == .direct("room"))
        try store.saveOpenConversation(.room)
        #expect(try store.openConversation() == .room)
        try store.saveOpenConversation(.direct("bob"))
        // A direct conversation with someone called "room" is not the room.
        try store.saveDrafts([.direct("room"): "to the person"])
        #expect(try store.drafts()[.room] == "half a thought, finished")
        #expect(try HistoryStore(url: url).drafts().count == 3)
        try store.forget(.direct("bob"))
        #expect(try store.drafts() == [.room: "half a thought, finished", .direct("room"): "to the person"])
        #expect(try store.openConversation() == nil)
        // Typed, kept a moment, then erased and never sent: gone from the files too.
        try store.saveDrafts([.direct("dave"): "the narwhal-draft, erased"])
        try store.saveDrafts([.direct("dave"): ""])
        for file in [url.path, url.path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(bytes.range(of: Data("quokka-".utf8)) == nil, "\(file) still holds a forgotten draft")
            #expect(bytes.range(of: Data("narwhal-".utf8)) == nil, "\(file) still holds an erased draft")
        }
    }

    /// The recorder writes drafts a moment after typing pauses, the last text of each
    /// conversation, and at once when flushed (the window closing).
    @Test func theRecorderKeepsTheLastDraftOfEachConversation() throws {
        let directory = Self.directory()
        let recorder = HistoryRecorder(dataDirectory: directory, identityFingerprint: "SHA256:me", onFailure: { Issue.record("\($0)") })
        recorder.record(.welcome(name: "me", serverFingerprint: "SHA256:server-one"))
        for prefix in ["h", "he", "hel", "hell", "hello"] { recorder.keepDraft(prefix, in: .room) }
        recorder.keepDraft("psst", in: .direct("bob"))
        recorder.keepDraft("", in: .direct("bob"))
        recorder.flush()
        let store = try HistoryStore(url: HistoryStore.url(in: directory, serverFingerprint: "SHA256:server-one", identityFingerprint: "SHA256:me"))
        #expect(try store.drafts() == [.room: "hello"])
    }

    /// Review finding: deleted rows stayed readable in SQLite's free pages and its WAL.
    @Test func forgottenTextIsGoneFromTheFiles() throws {
        let url = Self.directory().appendingPathComponent("h.sqlite")
        let store = try HistoryStore(url: url)
        try store.append((1...200).map { Self.message("the zebra-\($0)-marker plan at the quayside warehouse", from: "bob", to: "me", id: UInt64($0)) })
        try store.append([Self.message("kept in the room", id: 1000)])
        _ = try store.forget(.direct("bob"))
        // The words as the search index holds them too (review: FTS5 kept every term of the
        // deleted rows in its segments, with their row ids and positions, until a merge).
        for file in [url.path, url.path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            for word in ["zebra-", "quayside", "warehouse", "marker"] {
                #expect(bytes.range(of: Data(word.utf8)) == nil, "\(file) still holds \(word)")
            }
        }
        #expect(try store.search("quayside", limit: 5).isEmpty)
        #expect(try store.count() == 1)
    }

    /// A history written by the first schema (no sender identity) opens under the current
    /// one: the newcomer's build crashed on it when the first migration had been edited.
    @Test func aHistoryOfTheFirstSchemaIsMigrated() throws {
        let url = Self.directory().appendingPathComponent("h.sqlite")
        try SecureFile.ensurePrivateFile(url)
        let old = try DatabaseQueue(path: url.path)
        try HistoryStore.migrator.migrate(old, upTo: "1: messages and search")
        try old.write { db in
            for (id, changed) in [(1, false), (2, true)] {
                try db.execute(sql: """
                    INSERT INTO message (peer, direct, sender, recipient, text, time, own, sequence, clientMessageID, keyChanged)
                    VALUES ('', 0, 'bob', '', ?, 1800000000000, 0, ?, ?, ?)
                    """, arguments: ["old \(id)", id, id, changed])
            }
        }
        try old.close()
        let store = try HistoryStore(url: url)
        #expect(try store.appliedMigrations() == ["1: messages and search", "2: sender identity and trust", "3: drafts", "4: device state", "5: read marks",
                                                  "6: the server's time where it disagreed"])
        let kept = try store.recent(in: .room, limit: 5)
        #expect(kept.map(\.text) == ["old 1", "old 2"])
        #expect(kept.map(\.keyChanged) == [false, true])
        #expect(try store.search("old", limit: 5).count == 2)
        try store.append([Self.message("new", id: 3)])
        #expect(try store.count() == 3)
        try store.saveDrafts([.room: "typed after the migration"])
        #expect(try store.drafts() == [.room: "typed after the migration"])
    }

    /// A journal file left readable by others is refused like the database itself.
    @Test func aLooseJournalIsRefused() throws {
        let url = Self.directory().appendingPathComponent("h.sqlite")
        _ = try HistoryStore(url: url)
        FileManager.default.createFile(atPath: url.path + "-wal", contents: Data(), attributes: [.posixPermissions: 0o644])
        chmod(url.path + "-wal", 0o644)
        #expect { try HistoryStore(url: url) } throws: { "\($0)".contains("chmod 600 \(url.path)-wal") }
    }

    @Test func theFileIsPrivateAndVersioned() throws {
        let directory = Self.directory()
        let url = HistoryStore.url(in: directory, serverFingerprint: "SHA256:ab/c+d", identityFingerprint: "SHA256:me")
        #expect(url.path.hasSuffix("/history/ab_c-d/me.sqlite"))
        #expect(HistoryStore.url(in: directory, serverFingerprint: "SHA256:ab/c+d", identityFingerprint: "SHA256:other") != url)
        let store = try HistoryStore(url: url)
        try store.append([Self.message("x", id: 1)])
        #expect(try store.appliedMigrations() == ["1: messages and search", "2: sender identity and trust", "3: drafts", "4: device state", "5: read marks",
                                                  "6: the server's time where it disagreed"])
        func mode(_ path: String) -> mode_t? {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
        }
        #expect(mode(directory.path) == 0o700 && mode(url.deletingLastPathComponent().path) == 0o700)
        #expect(mode(url.deletingLastPathComponent().deletingLastPathComponent().path) == 0o700)
        for file in [url.path, url.path + "-wal", url.path + "-shm"] { #expect(mode(file) == 0o600, "\(file)") }
        #expect(try HistoryStore(url: url).count() == 1)
    }

    /// The recorder writes what arrives in bursts as few transactions, per server, off the
    /// caller's thread; a flush makes everything handed over durable.
    @Test func theRecorderKeepsEveryMessageShownForTheServerLoggedIn() throws {
        let directory = Self.directory()
        let recorder = HistoryRecorder(dataDirectory: directory, identityFingerprint: "SHA256:me", onFailure: { Issue.record("\($0)") })
        recorder.record(.welcome(name: "me", serverFingerprint: "SHA256:server-one"))
        for i in 1...1000 { recorder.record(.message(Self.message("line \(i)", id: UInt64(i)))) }
        recorder.record(.notice(.verified(name: "bob", fingerprint: "SHA256:x")))  // not a message: not kept
        recorder.flush()
        let store = try HistoryStore(url: HistoryStore.url(in: directory, serverFingerprint: "SHA256:server-one", identityFingerprint: "SHA256:me"))
        #expect(try store.count() == 1000)
        #expect(try recorder.withStore { try $0?.recent(in: .room, limit: 1).first?.text } == "line 1000")
    }

    /// Review finding: the window shows a message before it hands it over to be kept, so a
    /// read mark could reach the recorder before its message and be dropped for good (the
    /// last message read before quitting came back unread). It waits for its message.
    @Test func aReadMarkAheadOfItsMessageWaitsForIt() throws {
        let directory = Self.directory()
        let recorder = HistoryRecorder(dataDirectory: directory, identityFingerprint: "SHA256:me", onFailure: { Issue.record("\($0)") })
        recorder.record(.welcome(name: "me", serverFingerprint: "SHA256:server-one"))
        recorder.keepReadMark(.room, upTo: "alice", 7)
        recorder.flush()
        recorder.record(.message(Self.message("shown, then kept", id: 7)))
        recorder.flush()
        let marks = try #require(try recorder.withStore { try $0?.readMarks().marks })
        let row = try #require(try recorder.withStore { try $0?.recent(in: .room, limit: 1).first?.id })
        #expect(marks[.room] == row)
    }

    @Test func aHistoryThatCannotBeOpenedIsSaidOnce() throws {
        let blocked = Self.directory()
        try Data().write(to: blocked)  // a file where the directory should be
        let said = NSLockedStrings()
        let recorder = HistoryRecorder(dataDirectory: blocked, identityFingerprint: "SHA256:me", onFailure: { said.append($0) })
        recorder.record(.welcome(name: "me", serverFingerprint: "SHA256:s"))
        recorder.record(.message(Self.message("lost", id: 1)))
        recorder.flush()
        #expect(said.values.count == 1)
        #expect(said.values.first?.hasPrefix("History is not being kept") == true)
    }
}

final class NSLockedStrings: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ s: String) { lock.withLock { stored.append(s) } }
    var values: [String] { lock.withLock { stored } }
}
