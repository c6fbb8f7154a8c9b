import Foundation
import GRDB
import SottoCore
@testable import SottoServer
import Testing

/// The rule that binds a name to the identity that first logged in with it, in both stores.
@Suite struct MemberStoreTests {
    /// Review finding: the delivery log needs SQLite 3.35 (RETURNING, UPDATE … FROM); an older
    /// library failed at the first commit with a syntax error. It is refused at open, and so
    /// is 3.35.0–3.35.4, whose DROP COLUMN (migration 6) could corrupt the file.
    @Test func anSQLiteTooOldForTheDeliveryLogIsRefusedAtOpenSayingWhy() throws {
        #expect(throws: ServerDatabase.SQLiteTooOld.self) { try ServerDatabase.requireSQLite(3_034_001, version: "3.34.1") }
        #expect(throws: ServerDatabase.SQLiteTooOld.self) { try ServerDatabase.requireSQLite(3_035_004, version: "3.35.4") }
        do { try ServerDatabase.requireSQLite(3_034_001, version: "3.34.1") } catch {
            #expect("\(error)".contains("SQLite 3.34.1 is too old") && "\(error)".contains("3.35.5 or newer"))
        }
        try ServerDatabase.requireSQLite(3_035_005, version: "3.35.5")
        try ServerDatabase.requireSQLite()  // this machine's
    }

    /// An attacker's review: "AIice" (capital A, capital I) was let in beside alice, its
    /// look-alike key as written ("Alice") not case folded. Names registered before keep
    /// theirs made the new way: alice is refused beside a registered AIice.
    @Test func namesRegisteredBeforeGetTheirLookAlikeKeysMadeAnew() throws {
        let url = try DeliveryStoreTests.database(upTo: "7: room runs") { db in
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('aiice', 'Alice', 'AIice', ?, 1, 2)",
                           arguments: [Data(repeating: 1, count: 32)])
            // A pair two people registered before, that reads alike once folded (AI, al).
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('ai', 'Al', 'AI', ?, 1, 2)",
                           arguments: [Data(repeating: 3, count: 32)])
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('al', 'al', 'al', ?, 1, 2)",
                           arguments: [Data(repeating: 4, count: 32)])
        }
        let store = SQLiteMemberStore(try ServerDatabase(url: url))
        #expect(try store.claim(Username("alice"), identity: [UInt8](repeating: 2, count: 32), at: 3, verifies: { true }) == .heldByAnother(holder: "AIice"))
        #expect(try store.claim(Username("AIice"), identity: [UInt8](repeating: 1, count: 32), at: 3, verifies: { true }) == .returning)
        // Each of the pair keeps their own name (a review: both were locked out); a third
        // look-alike is refused.
        #expect(try store.claim(Username("AI"), identity: [UInt8](repeating: 3, count: 32), at: 3, verifies: { true }) == .returning)
        #expect(try store.claim(Username("al"), identity: [UInt8](repeating: 4, count: 32), at: 3, verifies: { true }) == .returning)
        if case .heldByAnother = try store.claim(Username("aI"), identity: [UInt8](repeating: 5, count: 32), at: 3, verifies: { true }) {} else {
            Issue.record("a third look-alike was let in")
        }
    }

    /// Review finding: `sotto-server members list` run with new binaries before the server
    /// was restarted migrated the database under the running older server (schema 6 drops
    /// columns it writes: it could no longer store, so no longer relay). An older schema is
    /// refused there, saying what to do; an empty database is still set up; one written by a
    /// newer version is refused by everyone.
    @Test func theMembersToolNeverMigratesADatabaseAServerMayHaveOpen() throws {
        let url = try DeliveryStoreTests.database(upTo: "5: running totals") { db in
            try db.execute(sql: "INSERT INTO member (key, displayKey, name, identity, registeredAt, lastSeen) VALUES ('alice', 'alice', 'alice', ?, 1, 2)",
                           arguments: [Data(repeating: 1, count: 32)])
        }
        #expect { _ = try ServerDatabase(url: url, upgrade: false) } throws: { error in
            "\(error)".contains("from an older version of Sotto") && "\(error)".contains("Restart sotto-server with this version first")
        }
        let untouched = try DatabaseQueue(path: url.path)
        #expect(try untouched.read { db in try ServerDatabase.migrator.appliedIdentifiers(db).count } == 5)
        try untouched.close()
        // The server itself upgrades it; then the tool opens it.
        _ = try ServerDatabase(url: url)
        #expect(try SQLiteMemberStore(ServerDatabase(url: url, upgrade: false)).members().map(\.name) == ["alice"])
        // A fresh data directory: set up by the tool as before.
        let fresh = Self.temporaryDirectory().appendingPathComponent("server.sqlite")
        #expect(try SQLiteMemberStore(ServerDatabase(url: fresh, upgrade: false)).members().isEmpty)
        // A migration this version does not know: refused, not misread.
        let newer = try DatabaseQueue(path: fresh.path)
        try newer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('7: from the future')") }
        try newer.close()
        #expect { _ = try ServerDatabase(url: fresh) } throws: { "\($0)".contains("written by a newer version of Sotto") }
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sotto-members-\(UUID().uuidString)")
    }

    static func stores() throws -> [MemberStore] {
        [InMemoryMemberStore(), SQLiteMemberStore(try ServerDatabase(url: temporaryDirectory().appendingPathComponent("server.sqlite")))]
    }

    let alice = [UInt8](repeating: 1, count: 32), mallory = [UInt8](repeating: 2, count: 32)

    @Test(arguments: try stores())
    func aNameIsBoundToItsFirstIdentity(store: MemberStore) throws {
        #expect(try store.claim(Username("alice"), identity: alice, at: 1000, verifies: { true }) == .registered)
        #expect(try store.claim(Username("Alice"), identity: alice, at: 2000, verifies: { Issue.record("verified twice"); return true }) == .returning)
        // Another identity, while alice is offline: the same name in any case, and names that read as it.
        for name in ["alice", "ALICE", "ａｌｉｃｅ", "aIice", "AIice"] {
            #expect(try store.claim(Username(name), identity: mallory, at: 3000, verifies: { true }) == .heldByAnother(holder: "alice"), "\(name)")
        }
        let listed = try store.members()
        #expect(listed.map(\.name) == ["alice"])
        #expect(listed.first?.registeredAt == 1000 && listed.first?.lastSeen == 1000)  // a login writes nothing
        try store.noteSeen(Username("alice"), at: 5000)
        try store.noteSeen(Username("alice"), at: 4000)  // a late note never moves it back
        #expect(try store.members().first?.lastSeen == 5000)
    }

    @Test(arguments: try stores())
    func aReleasedNameIsFreeForTheNextLogin(store: MemberStore) throws {
        _ = try store.claim(Username("bob"), identity: alice, at: 1, verifies: { true })
        #expect(try store.release(Username("BOB"))?.identity == alice)
        #expect(try store.release(Username("bob")) == nil)
        #expect(try store.claim(Username("bob"), identity: mallory, at: 2, verifies: { true }) == .registered)
        #expect(try store.members().map(\.identity) == [mallory])
    }

    /// A login whose identity does not verify binds nothing: it cannot squat the name.
    @Test(arguments: try stores())
    func anIdentityThatDoesNotVerifyIsNotBound(store: MemberStore) throws {
        #expect(try store.claim(Username("carol"), identity: mallory, at: 1, verifies: { false }) == .unverifiedIdentity)
        #expect(try store.members().isEmpty)
        #expect(try store.claim(Username("carol"), identity: alice, at: 2, verifies: { true }) == .registered)
    }

    /// One password holder cannot reserve every name, nor grow the table without end.
    @Test(arguments: [true, false])
    func namesPerIdentityAndMembersInAllAreBounded(sqlite: Bool) throws {
        let limits = MemberLimits(namesPerIdentity: 2, maxMembers: 3)
        let store: MemberStore = sqlite
            ? SQLiteMemberStore(try ServerDatabase(url: Self.temporaryDirectory().appendingPathComponent("s.sqlite")), limits: limits)
            : InMemoryMemberStore(limits: limits)
        #expect(try store.claim(Username("one"), identity: mallory, at: 1, verifies: { true }) == .registered)
        #expect(try store.claim(Username("two"), identity: mallory, at: 1, verifies: { true }) == .registered)
        #expect(try store.claim(Username("three"), identity: mallory, at: 1, verifies: { true }) == .tooManyNames)
        #expect(try store.claim(Username("one"), identity: mallory, at: 2, verifies: { true }) == .returning)
        #expect(try store.claim(Username("alice"), identity: alice, at: 1, verifies: { true }) == .registered)
        #expect(try store.claim(Username("bob"), identity: [UInt8](repeating: 3, count: 32), at: 1, verifies: { true }) == .full)
        #expect(try store.members().count == 3)
    }

    /// Releasing a name frees the look-alikes its identity holds too, and a withdrawn
    /// registration (a login refused after all) frees only that identity's row.
    @Test(arguments: try stores())
    func releaseTakesLookAlikesAndWithdrawOnlyItsOwn(store: MemberStore) throws {
        _ = try store.claim(Username("alice"), identity: alice, at: 1, verifies: { true })
        #expect(try store.claim(Username("aIice"), identity: alice, at: 1, verifies: { true }) == .registered)
        #expect(try store.release(Username("alice"))?.name == "alice")
        #expect(try store.claim(Username("alice"), identity: mallory, at: 2, verifies: { true }) == .registered)
        try store.withdraw(Username("alice"), identity: alice)  // not alice's any more: nothing happens
        #expect(try store.members().map(\.identity) == [mallory])
        try store.withdraw(Username("alice"), identity: mallory)
        #expect(try store.members().isEmpty)
    }

    /// `sotto-server members release` opens the database while the server has it open.
    @Test func aSecondOpeningSeesAndReleasesWhileTheFirstIsOpen() throws {
        let url = Self.temporaryDirectory().appendingPathComponent("server.sqlite")
        let server = SQLiteMemberStore(try ServerDatabase(url: url))
        _ = try server.claim(Username("dave"), identity: alice, at: 1, verifies: { true })
        let operator_ = SQLiteMemberStore(try ServerDatabase(url: url))
        #expect(try operator_.members().map(\.name) == ["dave"])
        #expect(try operator_.release(Username("dave")) != nil)
        #expect(try server.claim(Username("dave"), identity: mallory, at: 2, verifies: { true }) == .registered)
    }

    @Test func theDatabaseIsPrivateAndVersioned() throws {
        let directory = Self.temporaryDirectory()
        let url = directory.appendingPathComponent("server.sqlite")
        let database = try ServerDatabase(url: url)
        _ = try SQLiteMemberStore(database).claim(Username("erin"), identity: alice, at: 1, verifies: { true })
        #expect(try database.appliedMigrations() == ["1: members", "2: delivery log", "3: log identity", "4: lean commits", "5: running totals", "6: keys apart", "7: room runs", "8: display keys folded"])
        func mode(_ path: String) -> mode_t? {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
        }
        #expect(mode(directory.path) == 0o700)
        for file in [url.path, url.path + "-wal", url.path + "-shm"] {
            #expect(mode(file) == 0o600, "\(file)")
        }
        // Opened again (a restart): nothing to migrate, nothing lost.
        #expect(try SQLiteMemberStore(try ServerDatabase(url: url)).members().count == 1)
        // Loosened by hand: refused, with the command that fixes it.
        chmod(url.path, 0o644)
        #expect { try ServerDatabase(url: url) } throws: { "\($0)".contains("chmod 600") }
    }
}
