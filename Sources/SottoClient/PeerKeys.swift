import Foundation
import NIOConcurrencyHelpers
import SottoCore

/// Identity keys of people, pinned per server and username on first sight (TOFU), with a
/// "verified" mark once the person has compared safety numbers. Kept in `peers.json`.
public final class PeerKeys: @unchecked Sendable {
    public let url: URL
    private let lock = NIOLock()

    private struct Entry: Codable, Equatable {
        var fingerprint: String
        var verified: Bool
    }

    private var cache: [String: Entry]?
    /// Why the file on disk could not be used. Then nothing is written over it: a file we
    /// could not read must not be replaced by an empty one (every pin and verification lost).
    private var loadFailure: String?
    /// Pinned names by look-alike skeleton, per server ("server skeleton" → name key).
    private var lookAlikes: [String: String] = [:]
    private var writeScheduled = false
    private var lastPin = DispatchTime.now()
    private var firstUnwritten: DispatchTime?
    private let writer = DispatchQueue(label: "sotto.peer-keys")

    public init(url: URL) { self.url = url }

    public static func defaultURL(in directory: URL) -> URL { directory.appendingPathComponent("peers.json") }

    private static func key(server: String, name: String) -> String {
        "\(server) \(name.precomposedStringWithCanonicalMapping.lowercased())"
    }

    /// Pins on first sight; says how the key compares with the pin. New pins are written in
    /// the background, coalesced: joining a room of a hundred people costs one file write,
    /// not a hundred synchronous ones on the network thread.
    public func trust(server: String, name: String, fingerprint: String) -> PeerTrust {
        lock.withLock {
            let key = Self.key(server: server, name: name)
            guard let entry = loadedEntries()[key] else {
                cache![key] = Entry(fingerprint: fingerprint, verified: false)  // in place: no copy per pin
                index(key)
                scheduleWrite()
                return .unverified
            }
            if entry.fingerprint != fingerprint { return .changed(previous: entry.fingerprint) }
            return entry.verified ? .verified : .unverified
        }
    }

    /// The person compared safety numbers (or accepted a changed key): pin this key, verified.
    /// Written at once: a decision a person made must not be lost.
    public func markVerified(server: String, name: String, fingerprint: String) throws {
        try lock.withLock {
            var entries = loadedEntries()
            if let loadFailure { throw SecureFile.Failure(description: loadFailure) }
            entries[Self.key(server: server, name: name)] = Entry(fingerprint: fingerprint, verified: true)
            cache = entries
            try write(entries)
        }
    }

    /// Writes pending pins now (tests, and before exit).
    public func flush() {
        writer.sync {
            let snapshot: [String: Entry]? = lock.withLock {
                guard firstUnwritten != nil, loadFailure == nil else { return nil }
                firstUnwritten = nil
                return cache ?? [:]
            }
            if let snapshot { try? write(snapshot) }
        }
    }

    /// Why the pinned keys cannot be used (readable by others, unreadable, not valid), if so.
    /// A client refuses to connect then, rather than start over as if it had met nobody.
    public func problem() -> String? {
        lock.withLock {
            _ = loadedEntries()
            return loadFailure
        }
    }

    /// Caller holds the lock.
    private func loadedEntries() -> [String: Entry] {
        if let cache { return cache }
        var loaded: [String: Entry] = [:]
        do {
            if let data = try SecureFile.read(url) {
                do { loaded = try JSONDecoder().decode([String: Entry].self, from: data) } catch {
                    loadFailure = "\(url.path) is not a valid list of pinned keys (\(error))"
                }
            }
        } catch {
            loadFailure = "\(error)"
        }
        cache = loaded
        for key in loaded.keys { index(key) }
        return loaded
    }

    /// Caller holds the lock.
    private func index(_ key: String) {
        guard let space = key.firstIndex(of: " ") else { return }
        let server = String(key[..<space]), name = String(key[key.index(after: space)...])
        for skeleton in [server + " " + LookAlike.skeleton(name), server + " d " + LookAlike.displaySkeleton(name)] where lookAlikes[skeleton] == nil {
            lookAlikes[skeleton] = key
        }
    }

    /// A name met before on this server that `name` looks like but is not (the same
    /// look-alike skeleton): someone new may be passing for them.
    public func resembles(server: String, name: String) -> String? {
        lock.withLock {
            _ = loadedEntries()
            let key = Self.key(server: server, name: name)
            for skeleton in [server + " " + LookAlike.skeleton(name), server + " d " + LookAlike.displaySkeleton(name)] {
                if let other = lookAlikes[skeleton], other != key { return String(other.dropFirst(server.count + 1)) }
            }
            return nil
        }
    }

    /// Caller holds the lock. Writes once pins stop arriving for a second (a meeting of
    /// hundreds arriving costs a few writes, not one per person), and at least every ten
    /// seconds while they keep coming; a crash loses only recent first sightings, which
    /// are pinned again on the next sight.
    private func scheduleWrite() {
        lastPin = .now()
        if firstUnwritten == nil { firstUnwritten = .now() }
        guard !writeScheduled else { return }
        writeScheduled = true
        writer.asyncAfter(deadline: .now() + .seconds(1)) { [self] in writeWhenQuiet() }
    }

    private func writeWhenQuiet() {
        let snapshot: [String: Entry]? = lock.withLock {
            guard firstUnwritten != nil else {  // flushed meanwhile
                writeScheduled = false
                return nil
            }
            let quiet = DispatchTime.now() >= lastPin + .seconds(1)
            let overdue = DispatchTime.now() >= (firstUnwritten ?? .now()) + .seconds(10)
            guard quiet || overdue else { return nil }
            writeScheduled = false
            firstUnwritten = nil
            return loadFailure == nil ? cache ?? [:] : nil
        }
        guard let snapshot else {
            guard lock.withLock({ writeScheduled }) else { return }
            writer.asyncAfter(deadline: .now() + .milliseconds(250)) { [self] in writeWhenQuiet() }
            return
        }
        try? write(snapshot)
    }

    private func write(_ entries: [String: Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecureFile.write(try encoder.encode(entries), to: url, mode: 0o600)
    }
}
