import Foundation

/// Files that hold secrets: written 0600 through a temporary file and a rename, so a
/// crash never leaves a half-written key and no other user can read one for an instant.
public enum SecureFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func write(_ data: Data, to url: URL, mode: mode_t = 0o600) throws {
        try ensurePrivateDirectory(url.deletingLastPathComponent())
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temp.path): \(String(cString: strerror(errno)))") }
        var ok = true
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { ok = false; break }
                offset += n
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp.path, url.path) == 0 else {
            unlink(temp.path)
            throw Failure(description: "cannot write \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// A directory of Sotto's own (its config or data directory): created 0700, or tightened
    /// to 0700 if it exists with access for others (an existing `--data-dir` made 0755 by
    /// hand or by `mkdir`); refused if it belongs to someone else.
    public static func ensurePrivateDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var info = stat()
        guard stat(url.path, &info) == 0 else { throw Failure(description: "cannot stat \(url.path)") }
        guard info.st_uid == getuid() else {
            throw Failure(description: "\(url.path) belongs to another user; Sotto keeps its keys only in a directory of yours")
        }
        if info.st_mode & 0o077 != 0, chmod(url.path, 0o700) != 0 {
            throw Failure(description: "\(url.path) is open to other users and cannot be made private; run: chmod 700 \(url.path)")
        }
    }

    /// A database file: created 0600 (empty) before SQLite opens it, since SQLite gives its
    /// -wal and -shm files the database's mode; an existing one open to others is refused,
    /// as key files are.
    public static func ensurePrivateFile(_ url: URL) throws {
        try ensurePrivateDirectory(url.deletingLastPathComponent())
        let fd = open(url.path, O_RDONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(url.path): \(String(cString: strerror(errno)))") }
        close(fd)
        // Its journal files too, if a crash left them (SQLite reuses them as they are).
        for path in [url.path, url.path + "-wal", url.path + "-shm"] {
            var info = stat()
            guard stat(path, &info) == 0 else {
                if path == url.path { throw Failure(description: "cannot stat \(path)") }
                continue
            }
            if info.st_mode & 0o077 != 0 {
                throw Failure(description: "\(path) is readable by other users; run: chmod 600 \(path)")
            }
        }
    }

    /// Reads a secret file, refusing one that others can read (as ssh does for private keys).
    public static func read(_ url: URL) throws -> Data? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        var info = stat()
        guard stat(url.path, &info) == 0 else { throw Failure(description: "cannot stat \(url.path)") }
        if info.st_mode & 0o077 != 0 {
            throw Failure(description: "\(url.path) is readable by other users; run: chmod 600 \(url.path)")
        }
        return try Data(contentsOf: url)
    }
}

/// Passwords given as a file: the first line, without its newline.
public enum PasswordFile {
    public static func read(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(whereSeparator: \.isNewline).first, !line.isEmpty
        else { return nil }
        return String(line)
    }
}

/// XDG base directories (config for clients, data for the server).
public enum XDG {
    public static func configHome() -> URL { base("XDG_CONFIG_HOME", fallback: ".config") }

    /// Where the clients keep identity, known servers, pins and settings: the one given,
    /// else `SOTTO_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sotto`.
    public static func sottoConfigDirectory(_ given: URL? = nil) -> URL {
        given
            ?? ProcessInfo.processInfo.environment["SOTTO_CONFIG_DIR"].map { URL(fileURLWithPath: $0) }
            ?? configHome().appendingPathComponent("sotto")
    }
    /// Where the clients keep what they collect (history): the one given, else
    /// `SOTTO_DATA_DIR`, else `$XDG_DATA_HOME/sotto`.
    public static func sottoDataDirectory(_ given: URL? = nil) -> URL {
        given
            ?? ProcessInfo.processInfo.environment["SOTTO_DATA_DIR"].map { URL(fileURLWithPath: $0) }
            ?? dataHome().appendingPathComponent("sotto")
    }

    public static func dataHome() -> URL { base("XDG_DATA_HOME", fallback: ".local/share") }

    private static func base(_ variable: String, fallback: String) -> URL {
        if let value = ProcessInfo.processInfo.environment[variable], value.hasPrefix("/") {
            return URL(fileURLWithPath: value)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(fallback)
    }
}
