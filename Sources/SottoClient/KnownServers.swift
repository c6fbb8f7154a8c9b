import Foundation
import NIOConcurrencyHelpers
import SottoCore

/// Pinned server keys, one `host:port fingerprint` per line, like ssh's known_hosts.
public final class KnownServers: @unchecked Sendable {
    public let url: URL
    private let lock = NIOLock()
    /// The file as last read, and the stamp it had: a connect checks the stamp (one stat)
    /// instead of reading and parsing the file on the network thread, yet still sees a pin
    /// another process added or forgot.
    private var cached: (stamp: FileStamp, entries: [String: String])?

    public init(url: URL) { self.url = url }

    public static func defaultURL(in directory: URL) -> URL { directory.appendingPathComponent("known_servers") }

    public static func entryName(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host.lowercased())]:\(port)" : "\(host.lowercased()):\(port)"
    }

    /// The pin for this address; nil if none, or if the file is damaged (`problem` says so,
    /// and the client does not connect).
    public func fingerprint(host: String, port: Int) -> String? {
        lock.withLock { (try? readEntries())?[Self.entryName(host: host, port: port)] }
    }

    /// Why the pins cannot be used (unreadable, not text, a line that is not a pin), if so.
    /// A client refuses to connect then: read as empty, every server would be unknown again,
    /// a key a man in the middle shows would be taken on first use, and the next pin would
    /// write the old ones away.
    public func problem() -> String? {
        lock.withLock {
            do { _ = try readEntries() } catch { return "\(error)" }
            return nil
        }
    }

    /// Adds a pin. An existing different pin is never overwritten here: that takes `forget`.
    /// A damaged file is left as it is.
    public func pin(host: String, port: Int, fingerprint: String) throws {
        try lock.withLock {
            var entries = try readEntries()
            let name = Self.entryName(host: host, port: port)
            if let existing = entries[name], existing != fingerprint {
                throw SecureFile.Failure(description: "\(name) is already pinned to another key")
            }
            entries[name] = fingerprint
            try writeEntries(entries)
        }
    }

    /// Removes a pin (what a person does after confirming a server's key really changed).
    public func forget(host: String, port: Int) throws {
        try lock.withLock {
            var entries = try readEntries()
            entries[Self.entryName(host: host, port: port)] = nil
            try writeEntries(entries)
        }
    }

    private func readEntries() throws -> [String: String] {
        let stamp = FileStamp(of: url)
        if let cached, let stamp, cached.stamp == stamp { return cached.entries }
        let entries = try parseEntries()
        cached = stamp.map { ($0, entries) }
        return entries
    }

    private func parseEntries() throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: url.path) else { return [:] }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SecureFile.Failure(description: "\(url.path) cannot be read (\(error.localizedDescription))")
        }
        guard var text = String(validating: data, as: UTF8.self) else {
            throw SecureFile.Failure(description: "\(url.path) is not text: it is damaged")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }  // an editor's byte-order mark
        var entries: [String: String] = [:]
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var parts = line.split(whereSeparator: \.isWhitespace)
            if parts.isEmpty || parts[0].hasPrefix("#") { continue }
            // A comment after a pin, as in ssh's files.
            if let comment = parts.firstIndex(where: { $0.hasPrefix("#") }) { parts.removeSubrange(comment...) }
            guard parts.count == 2, Fingerprint.isWellFormed(String(parts[1])) else {
                throw SecureFile.Failure(description: "\(url.path), line \(number + 1), is not \"host:port fingerprint\": the file is damaged")
            }
            entries[String(parts[0])] = String(parts[1])
        }
        return entries
    }

    private func writeEntries(_ entries: [String: String]) throws {
        let body = entries.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
        try SecureFile.write(Data(("# Sotto known servers: host:port fingerprint\n" + body).utf8), to: url, mode: 0o644)
        cached = nil
    }
}

/// How a client decides whether the key a server presents is the right one.
public struct TrustPolicy: Sendable, Equatable {
    /// A fingerprint vouched for out of band (invite link or --trust).
    public var vouched: String?
    /// Accept and pin an unknown key without asking (ssh's accept-new).
    public var trustOnFirstUse: Bool

    public init(vouched: String? = nil, trustOnFirstUse: Bool = false) {
        self.vouched = vouched
        self.trustOnFirstUse = trustOnFirstUse
    }

    public enum Decision: Equatable, Sendable {
        case trusted(pinNow: Bool)
        case changed(expected: String, actual: String)
        case notVouched(expected: String, actual: String)
        case unknown(actual: String)
    }

    public func decide(pinned: String?, actual: String) -> Decision {
        if let pinned {
            return pinned == actual ? .trusted(pinNow: false) : .changed(expected: pinned, actual: actual)
        }
        if let vouched {
            return vouched == actual ? .trusted(pinNow: true) : .notVouched(expected: vouched, actual: actual)
        }
        return trustOnFirstUse ? .trusted(pinNow: true) : .unknown(actual: actual)
    }
}

/// What identifies one version of a file without reading it: inode, size and modification time
/// to the nanosecond (a rewrite replaces the file, so the inode changes too).
struct FileStamp: Equatable {
    let inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int

    init?(of url: URL) {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return nil }
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        seconds = Int(st.st_mtim.tv_sec)
        nanoseconds = Int(st.st_mtim.tv_nsec)
    }
}
