import Foundation
import SottoCore
import Testing
@testable import SottoClient

/// Events collected from the client's thread.
private final class EventRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ClientEvent] = []
    func append(_ e: ClientEvent) { lock.withLock { events.append(e) } }
    var all: [ClientEvent] { lock.withLock { events } }
}

@Suite struct TrustPolicyTests {
    let a = "SHA256:" + String(repeating: "A", count: 43)
    let b = "SHA256:" + String(repeating: "B", count: 43)

    @Test func decisions() {
        #expect(TrustPolicy().decide(pinned: a, actual: a) == .trusted(pinNow: false))
        #expect(TrustPolicy().decide(pinned: a, actual: b) == .changed(expected: a, actual: b))
        // A pin wins over any vouching or first-use trust: a changed key is never accepted silently.
        #expect(TrustPolicy(vouched: b).decide(pinned: a, actual: b) == .changed(expected: a, actual: b))
        #expect(TrustPolicy(trustOnFirstUse: true).decide(pinned: a, actual: b) == .changed(expected: a, actual: b))
        #expect(TrustPolicy(vouched: a).decide(pinned: nil, actual: a) == .trusted(pinNow: true))
        #expect(TrustPolicy(vouched: a).decide(pinned: nil, actual: b) == .notVouched(expected: a, actual: b))
        #expect(TrustPolicy(trustOnFirstUse: true).decide(pinned: nil, actual: b) == .trusted(pinNow: true))
        #expect(TrustPolicy().decide(pinned: nil, actual: b) == .unknown(actual: b))
    }
}

@Suite struct ClientStoreTests {
    func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sotto-client-\(UUID().uuidString)")
    }

    @Test func knownServersPinPerHostAndPortAndNeverOverwrite() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = KnownServers(url: KnownServers.defaultURL(in: dir))
        let a = "SHA256:" + String(repeating: "A", count: 43)
        let b = "SHA256:" + String(repeating: "B", count: 43)
        try store.pin(host: "Host.lan", port: 8888, fingerprint: a)
        try store.pin(host: "::1", port: 8888, fingerprint: b)
        #expect(store.fingerprint(host: "host.lan", port: 8888) == a)
        #expect(store.fingerprint(host: "host.lan", port: 8889) == nil)
        #expect(store.fingerprint(host: "::1", port: 8888) == b)
        #expect(throws: (any Error).self) { try store.pin(host: "host.lan", port: 8888, fingerprint: b) }
        // Survives a reload; comments and blank lines are skipped.
        let text = try String(contentsOf: store.url, encoding: .utf8)
        // An editor's byte-order mark and a comment after a pin are read as such (a review).
        try ("\u{FEFF}" + text.replacingOccurrences(of: a, with: a + "  # the office server") + "\n  # comment\n").write(to: store.url, atomically: true, encoding: .utf8)
        let reloaded = KnownServers(url: store.url)
        #expect(reloaded.problem() == nil)
        #expect(reloaded.fingerprint(host: "host.lan", port: 8888) == a)
        try reloaded.forget(host: "host.lan", port: 8888)
        #expect(reloaded.fingerprint(host: "host.lan", port: 8888) == nil)
    }

    /// An attacker's review: a known_servers file with one damaged byte read as empty, so
    /// every server was unknown again (a man in the middle's key taken on first use), and the
    /// next pin wrote the old ones away. It is refused, said where, and left as it is.
    @Test func aDamagedKnownServersFileIsRefusedAndNeverOverwritten() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = KnownServers(url: KnownServers.defaultURL(in: dir))
        let a = "SHA256:" + String(repeating: "A", count: 43)
        try store.pin(host: "one.lan", port: 8888, fingerprint: a)
        try store.pin(host: "two.lan", port: 8888, fingerprint: a)
        var damaged = try Data(contentsOf: store.url)
        damaged.append(0xff)
        try damaged.write(to: store.url)
        for (bytes, saying) in [(damaged, "is not text"), (Data("one.lan:8888 \(a)\nnot a pin at all\n".utf8), "line 2")] {
            try bytes.write(to: store.url)
            let reread = KnownServers(url: store.url)
            #expect(reread.problem()?.contains(saying) == true, "\(String(describing: reread.problem()))")
            #expect(reread.problem()?.contains(store.url.path) == true)
            #expect(reread.fingerprint(host: "three.lan", port: 8888) == nil)
            #expect(throws: (any Error).self) { try reread.pin(host: "three.lan", port: 8888, fingerprint: a) }
            #expect(throws: (any Error).self) { try reread.forget(host: "one.lan", port: 8888) }
            #expect(try Data(contentsOf: store.url) == bytes, "the damaged file was written over")
            // A client with such a file does not connect, and says why.
            let why = try refusalToConnect(identity: ClientIdentity.loadOrCreate(in: dir), knownServers: reread)
            #expect(why.contains("pinned keys cannot be used") && why.contains(store.url.path), "\(why)")
        }
    }

    /// Why a client with these pins refuses to connect ("" if it does not refuse).
    func refusalToConnect(identity: ClientIdentity, knownServers: KnownServers) throws -> String {
        let events = EventRecorder()
        let client = ChatClient(configuration: ClientConfiguration(host: "127.0.0.1", port: 1, username: "u", password: "p"),
                                identity: identity, knownServers: knownServers, onEvent: { events.append($0) })
        defer { client.shutdown() }
        client.connect()
        var failure: ClientFailure?
        for _ in 0..<200 where failure == nil {
            usleep(10_000)
            failure = events.all.lazy.compactMap { if case .state(.failed(let f)) = $0 { f } else { nil } }.first
        }
        guard case .invalidSetting(let why)? = failure else { return "" }
        return why
    }

    @Test func knownServersSeePinsThatAnotherProcessChanged() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mine = KnownServers(url: KnownServers.defaultURL(in: dir))
        let theirs = KnownServers(url: mine.url)  // another sotto process, the same file
        let a = "SHA256:" + String(repeating: "A", count: 43)
        #expect(mine.fingerprint(host: "lan", port: 1) == nil)  // read (no file yet)
        try theirs.pin(host: "lan", port: 1, fingerprint: a)
        #expect(mine.fingerprint(host: "lan", port: 1) == a)
        #expect(mine.fingerprint(host: "lan", port: 1) == a)  // from what it read last
        try theirs.forget(host: "lan", port: 1)
        #expect(mine.fingerprint(host: "lan", port: 1) == nil)
        // Edited by hand in place (same inode): size and time give it away.
        try theirs.pin(host: "lan", port: 2, fingerprint: a)
        #expect(mine.fingerprint(host: "lan", port: 2) == a)
        let handle = try FileHandle(forWritingTo: mine.url)
        try handle.truncate(atOffset: 0)
        try handle.close()
        #expect(mine.fingerprint(host: "lan", port: 2) == nil)
    }

    @Test func peerPinsAreCoalescedIntoOneWriteAndFlushedPrivately() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let peers = PeerKeys(url: PeerKeys.defaultURL(in: dir))
        let fp = { (i: Int) in "SHA256:" + String(repeating: "\(i % 10)", count: 43) }
        // A meeting arrives: two hundred first sightings, each trusted on first use.
        for i in 0..<200 { #expect(peers.trust(server: "S", name: "p\(i)", fingerprint: fp(i)) == .unverified) }
        #expect(!FileManager.default.fileExists(atPath: peers.url.path))  // not one write per person
        peers.flush()
        #expect(try FileManager.default.attributesOfItem(atPath: peers.url.path)[.posixPermissions] as? Int == 0o600)
        let reloaded = PeerKeys(url: peers.url)
        #expect(reloaded.trust(server: "S", name: "P150", fingerprint: fp(150)) == .unverified)  // names fold case
        #expect(reloaded.trust(server: "S", name: "p7", fingerprint: fp(8)) == .changed(previous: fp(7)))
        try reloaded.markVerified(server: "S", name: "p7", fingerprint: fp(7))
        #expect(PeerKeys(url: peers.url).trust(server: "S", name: "p7", fingerprint: fp(7)) == .verified)
    }

    /// Finding: an unparsable peers.json silently reset every pin (and was overwritten by the
    /// next one); it was read without the permission check. Now it is refused, loudly, and
    /// left as it is.
    @Test func anUnusablePeersFileIsRefusedAndNeverOverwritten() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = PeerKeys.defaultURL(in: dir)
        try SecureFile.write(Data("{ this is not json".utf8), to: url)
        let peers = PeerKeys(url: url)
        #expect(peers.problem()?.contains("is not a valid list of pinned keys") == true)
        _ = peers.trust(server: "S", name: "bob", fingerprint: "SHA256:" + String(repeating: "b", count: 43))
        peers.flush()
        #expect(throws: (any Error).self) { try peers.markVerified(server: "S", name: "bob", fingerprint: "x") }
        #expect(try String(contentsOf: url, encoding: .utf8) == "{ this is not json", "the file was replaced")
        // Readable by others: refused like a key file.
        try SecureFile.write(Data("{}".utf8), to: url)
        chmod(url.path, 0o644)
        #expect(PeerKeys(url: url).problem()?.contains("readable by other users") == true)
        chmod(url.path, 0o600)
        #expect(PeerKeys(url: url).problem() == nil)
        // A client with such a file does not connect, and says why.
        try SecureFile.write(Data("[1, 2]".utf8), to: url)
        let why = try refusalToConnect(identity: ClientIdentity.loadOrCreate(in: dir), knownServers: KnownServers(url: KnownServers.defaultURL(in: dir)))
        #expect(why.contains("pinned keys cannot be used") && why.contains(url.path), "\(why)")
    }

    /// Finding: an existing config or data directory was left open to others (0755).
    @Test func sottoDirectoriesAreMadePrivate() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        _ = try ClientIdentity.loadOrCreate(in: dir)
        #expect(try FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int == 0o700)
    }

    @Test func identityIsCreatedOncePrivatelyAndReloaded() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try ClientIdentity.loadOrCreate(in: dir)
        let again = try ClientIdentity.loadOrCreate(in: dir)
        #expect(first.publicKey == again.publicKey)
        let path = ClientIdentity.fileURL(in: dir).path
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        try "{}".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: (any Error).self) { try ClientIdentity.loadOrCreate(in: dir) }
    }

    @Test func backoffDoublesWithJitterAndIsCapped() {
        var config = ClientConfiguration(host: "h", port: 1, username: "u", password: "p")
        config.backoffBase = 0.5
        config.backoffMax = 8
        for attempt in 1...10 {
            let expected = min(8, 0.5 * pow(2, Double(attempt - 1)))
            let delay = config.backoff(attempt: attempt)
            #expect(delay >= expected * 0.8 && delay <= expected * 1.2)
        }
    }

    @Test func failuresSayWhatHappenedAndWhichAreTransient() {
        #expect(ClientFailure.unreachable(host: "h", port: 1, reason: "connection refused").description.contains("Is the server running"))
        #expect(ClientFailure.connectionLost.isTransient)
        #expect(!ClientFailure.server(.init(.wrongPassword, fatal: true)).isTransient)
        #expect(!ClientFailure.serverKeyChanged(host: "h", port: 1, expected: "x", actual: "y").isTransient)
        #expect(ClientFailure.serverKeyChanged(host: "h", port: 1, expected: "OLD", actual: "NEW").description.contains("OLD"))
    }
}

/// An attacker's review: a last-seen time 31 years ahead read "since 02:02:13" (sotto-cli
/// showed only the clock whatever the day; the window left out the year).
@Suite struct LastSeenTests {
    let calendar: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()
    func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func theDayAndYearAreSaidWhenTheyAreNotToday() {
        let now = date("2026-12-05T15:00:00Z")
        var utc = calendar
        utc.timeZone = TimeZone.current
        #expect(LastSeen.since(now.addingTimeInterval(-3_600), now: now, calendar: utc).hasPrefix("since "))
        #expect(LastSeen.since(date("2026-12-04T09:12:00Z"), now: now, calendar: calendar).hasPrefix("since yesterday "))
        #expect(LastSeen.since(date("2026-03-02T12:00:00Z"), now: now, calendar: calendar) == "since 2 Mar")
        #expect(LastSeen.since(date("2025-12-02T12:00:00Z"), now: now, calendar: calendar) == "since 2 Dec 2025")
        // The server's word for a time ahead of this clock is not shown as a time.
        #expect(LastSeen.since(date("2057-12-05T02:02:13Z"), now: now, calendar: calendar) == "last seen at a time ahead of this device's clock")
        #expect(LastSeen.since(now.addingTimeInterval(60), now: now, calendar: calendar).hasPrefix("since "), "a minute ahead is clocks differing")
    }
}
