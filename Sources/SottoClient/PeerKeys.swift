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

    public init(url: URL) { self.url = url }

    public static func defaultURL(in directory: URL) -> URL { directory.appendingPathComponent("peers.json") }

    private static func key(server: String, name: String) -> String {
        "\(server) \(name.precomposedStringWithCanonicalMapping.lowercased())"
    }

    /// Pins on first sight; says how the key compares with the pin.
    public func trust(server: String, name: String, fingerprint: String) -> PeerTrust {
        lock.withLock {
            var entries = read()
            let key = Self.key(server: server, name: name)
            guard let entry = entries[key] else {
                entries[key] = Entry(fingerprint: fingerprint, verified: false)
                try? write(entries)
                return .unverified
            }
            if entry.fingerprint != fingerprint { return .changed(previous: entry.fingerprint) }
            return entry.verified ? .verified : .unverified
        }
    }

    /// The person compared safety numbers (or accepted a changed key): pin this key, verified.
    public func markVerified(server: String, name: String, fingerprint: String) throws {
        try lock.withLock {
            var entries = read()
            entries[Self.key(server: server, name: name)] = Entry(fingerprint: fingerprint, verified: true)
            try write(entries)
        }
    }

    private func read() -> [String: Entry] {
        guard let data = try? Data(contentsOf: url) else { return [:] }
        return (try? JSONDecoder().decode([String: Entry].self, from: data)) ?? [:]
    }

    private func write(_ entries: [String: Entry]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SecureFile.write(try encoder.encode(entries), to: url, mode: 0o600)
    }
}
