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
    private var writeScheduled = false
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
            var entries = loadedEntries()
            let key = Self.key(server: server, name: name)
            guard let entry = entries[key] else {
                entries[key] = Entry(fingerprint: fingerprint, verified: false)
                cache = entries
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
            entries[Self.key(server: server, name: name)] = Entry(fingerprint: fingerprint, verified: true)
            cache = entries
            try write(entries)
        }
    }

    /// Waits for background writes (tests, and before exit).
    public func flush() {
        writer.sync {}
    }

    /// Caller holds the lock.
    private func loadedEntries() -> [String: Entry] {
        if let cache { return cache }
        var loaded: [String: Entry] = [:]
        if let data = try? Data(contentsOf: url), let decoded = try? JSONDecoder().decode([String: Entry].self, from: data) {
            loaded = decoded
        }
        cache = loaded
        return loaded
    }

    /// Caller holds the lock.
    private func scheduleWrite() {
        guard !writeScheduled else { return }
        writeScheduled = true
        writer.asyncAfter(deadline: .now() + .milliseconds(200)) { [self] in
            let snapshot: [String: Entry] = lock.withLock {
                writeScheduled = false
                return cache ?? [:]
            }
            try? write(snapshot)
        }
    }

    private func write(_ entries: [String: Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecureFile.write(try encoder.encode(entries), to: url, mode: 0o600)
    }
}
