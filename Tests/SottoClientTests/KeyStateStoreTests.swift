import Crypto
import Foundation
import GRDB
@testable import SottoClient
import SottoCore
import Testing

/// What a device keeps of its end-to-end state, and what it lets go of: prekeys rotated and
/// their private halves deleted (overwritten) after their grace, so an attacker who recorded
/// every share and later steals the device's files cannot open the old ones.
@Suite struct KeyStateStoreTests {
    static let server = "SHA256:server"
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func stores() -> [(KeyStateStore, String)] {
        [(InMemoryKeyStateStore(), "memory"),
         (SQLiteKeyStateStore(dataDirectory: HistoryStoreTests.directory(), identityFingerprint: "SHA256:me"), "sqlite")]
    }

    @Test(arguments: stores())
    func whatIsStoredComesBackAndPrekeysRotate(_ store: KeyStateStore, _ kind: String) throws {
        let me = try IdentityKeys()
        let first = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start)
        #expect(first.prekeys.count == 1 && first.streams.isEmpty && first.chains.isEmpty, "\(kind)")
        // Loaded again the same week: the same prekey.
        #expect(try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start.addingTimeInterval(86_400)).prekeys == first.prekeys)
        var changes = KeyStateChanges()
        let chain = StoredChain(sender: "alice", conversation: "", chainID: [UInt8](repeating: 1, count: 16), chainKey: [UInt8](repeating: 2, count: 32),
                                index: 5, firstIndex: 3, signingKey: Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation),
                                senderDigest: [UInt8](repeating: 7, count: 32))
        changes.chains = [chain]
        changes.accepted = [AcceptedChain(sender: "alice", chainID: chain.chainID, createdMillis: 1_800_000_000_000)]
        try store.save(server: Self.server, changes, stream: "log/me", through: 42)
        var moved = chain
        moved.index = 9
        changes = KeyStateChanges()
        changes.chains = [moved]
        try store.save(server: Self.server, changes, stream: "log/me", through: 40)  // a position never moves back
        try store.save(server: Self.server, KeyStateChanges(), stream: "log/my-other-name", through: 7)
        let again = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start.addingTimeInterval(86_400))
        #expect(again.chains == [moved] && again.streams == ["log/me": 42, "log/my-other-name": 7])
        #expect(again.accepted == [AcceptedChain(sender: "alice", chainID: chain.chainID, createdMillis: 1_800_000_000_000)])
        // Another server's state is another's.
        #expect(try store.load(server: "SHA256:other", identity: me, policy: PrekeyPolicy(), now: start).chains.isEmpty)
        // A week on: a new prekey, published from now on; the old one kept for what is on its way.
        let week = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start.addingTimeInterval(7 * 86_400))
        #expect(week.prekeys.count == 2 && week.prekeys.first == first.prekeys.first)
        // Past the old one's grace (30 days after its successor was made): deleted. Accepted ids
        // too old to be offered again are forgotten.
        let later = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start.addingTimeInterval(38 * 86_400))
        #expect(!later.prekeys.contains(first.prekeys[0]))
        #expect(later.accepted.isEmpty)
        changes = KeyStateChanges()
        changes.removedChains = [.init(sender: "alice", chainID: chain.chainID)]
        try store.save(server: Self.server, changes, stream: "log/me", through: 43)
        #expect(try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start.addingTimeInterval(38 * 86_400)).chains.isEmpty)
    }

    /// A key store of the first schema (one position for the whole server) opens under the
    /// current one: its prekeys and chains are kept; its position, which could not tell one
    /// log or name from another, is dropped (the server hands over again what follows it).
    @Test func aKeyStoreOfTheFirstSchemaIsMigrated() throws {
        let directory = HistoryStoreTests.directory()
        let me = try IdentityKeys()
        let url = SQLiteKeyStateStore.url(in: directory, serverFingerprint: Self.server, identityFingerprint: "SHA256:me")
        try SecureFile.ensurePrivateFile(url)
        let prekey = try PrekeyPair.generate(now: start, identity: me)
        do {
            let old = try DatabaseQueue(path: url.path)
            try SQLiteKeyStateStore.migrator.migrate(old, upTo: "1: prekeys, chains, accepted, position")
            try old.write { db in
                try db.execute(sql: "INSERT INTO prekey (id, seed, signed, created) VALUES (?, ?, ?, ?)",
                               arguments: [Data(prekey.signed.id), Data(prekey.seed), Data(prekey.signed.encoded()), Int64(prekey.signed.createdMillis)])
                try db.execute(sql: "INSERT INTO stream (id, stored) VALUES (1, 99)")
            }
        }
        let store = SQLiteKeyStateStore(dataDirectory: directory, identityFingerprint: "SHA256:me")
        let state = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start)
        #expect(state.prekeys == [prekey] && state.streams.isEmpty)
    }

    /// A key store of schema 2 (chains without their sender's identity) opens under the
    /// current one with its chains, each with an empty digest, bound at its next message.
    @Test func aKeyStoreOfTheSecondSchemaKeepsItsChains() throws {
        let directory = HistoryStoreTests.directory()
        let me = try IdentityKeys()
        let url = SQLiteKeyStateStore.url(in: directory, serverFingerprint: Self.server, identityFingerprint: "SHA256:me")
        try SecureFile.ensurePrivateFile(url)
        let signing = Array(Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)
        do {
            let old = try DatabaseQueue(path: url.path)
            try SQLiteKeyStateStore.migrator.migrate(old, upTo: "2: a position per log and name")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO chain (sender, chainID, conversation, chainKey, idx, firstIndex, signingKey, arrival)
                    VALUES ('alice', ?, '', ?, 4, 0, ?, 1)
                    """, arguments: [Data(repeating: 1, count: 16), Data(repeating: 2, count: 32), Data(signing)])
            }
        }
        let store = SQLiteKeyStateStore(dataDirectory: directory, identityFingerprint: "SHA256:me")
        let state = try store.load(server: Self.server, identity: me, policy: PrekeyPolicy(), now: start)
        #expect(state.chains == [StoredChain(sender: "alice", conversation: "", chainID: [UInt8](repeating: 1, count: 16),
                                             chainKey: [UInt8](repeating: 2, count: 32), index: 4, firstIndex: 0, signingKey: signing)])
    }

    /// The attacker of docs/SECURITY.md: records every share the server relays, and later
    /// steals the device's files. A share sealed to a prekey deleted since opens with nothing
    /// they find: not with the identity's long-term key, not with what the key store holds —
    /// and the deleted private half is not left in the database's free pages or its WAL.
    @Test func aRecordedShareIsUnreadableOnceItsPrekeyIsDeletedWhoeverStealsTheFiles() throws {
        let directory = HistoryStoreTests.directory()
        let store = SQLiteKeyStateStore(dataDirectory: directory, identityFingerprint: "SHA256:bob")
        let alice = try IdentityKeys(), bob = try IdentityKeys()
        let prekey = try #require(try store.load(server: Self.server, identity: bob, policy: PrekeyPolicy(), now: start).prekeys.last)
        let chain = KeyShare.Chain(conversation: "", chainID: [UInt8](repeating: 4, count: 16), chainKey: ChainKey(key: [UInt8](repeating: 5, count: 32), index: 0),
                                   signingKey: [UInt8](repeating: 6, count: 32), created: start)
        let recorded = try KeyShare.seal(chain, from: "alice", to: "bob", prekey: prekey.signed, sender: alice)
        func open(with state: KeyState, or longTerm: XWingMLKEM768X25519.PrivateKey? = nil) -> KeyShare.Chain? {
            try? recorded.open(from: "alice", to: "bob", senderSigningKey: alice.bundle.signingKey, prekey: { id in
                longTerm ?? state.prekeys.first { $0.signed.id == id }?.privateKey
            })
        }
        // While the prekey is kept, the device itself opens it (the test can fail).
        let now = try store.load(server: Self.server, identity: bob, policy: PrekeyPolicy(), now: start)
        #expect(open(with: now) == chain)
        // Rotated, then past its grace: deleted.
        _ = try store.load(server: Self.server, identity: bob, policy: PrekeyPolicy(), now: start.addingTimeInterval(7 * 86_400))
        let stolen = try store.load(server: Self.server, identity: bob, policy: PrekeyPolicy(), now: start.addingTimeInterval(38 * 86_400))
        #expect(open(with: stolen) == nil)
        #expect(open(with: stolen, or: bob.kem) == nil, "identity.json's long-term key opens nothing")
        // Not in the files either: the seed's bytes are overwritten, in the database and its WAL.
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.contains(".sqlite") }
        #expect(files.contains { $0.hasSuffix(".sqlite") })
        for file in files {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(bytes.range(of: Data(prekey.seed)) == nil, "\(file) still holds the deleted prekey")
        }
        // And the files are private.
        let db = try #require(files.first { $0.hasSuffix(".sqlite") })
        let mode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(db).path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let dirMode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(db).deletingLastPathComponent().path)[.posixPermissions] as? Int
        #expect(dirMode == 0o700)
    }
}
