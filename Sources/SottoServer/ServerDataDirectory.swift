import Crypto
import Foundation
import SottoCore

/// The server's persistent state: its Noise static key, its password salt and, when it
/// generated one, its password; its database. All files are 0600 in a 0700 directory.
public struct ServerDataDirectory {
    public let url: URL

    public init(url: URL) { self.url = url }

    public static var defaultURL: URL { XDG.dataHome().appendingPathComponent("sotto-server") }

    public var keyURL: URL { url.appendingPathComponent("server.key") }
    public var passwordURL: URL { url.appendingPathComponent("password") }
    public var saltURL: URL { url.appendingPathComponent("password.salt") }
    /// Registered members (SQLite, WAL).
    public var databaseURL: URL { url.appendingPathComponent("server.sqlite") }

    /// Held by the running server (`flock`, released when the process ends, however it ends).
    public var lockURL: URL { url.appendingPathComponent("server.lock") }

    /// The directory for one server process. Two servers on one directory (on two ports)
    /// would give the same delivery-log positions twice, each from its own memory of the
    /// last one: a member would miss messages or be sent another's. The second is refused,
    /// before it reads or writes anything there. `sotto-server members` takes no lock: it is
    /// made to run beside the server.
    public func lockForServer() throws -> DirectoryLock {
        try SecureFile.ensurePrivateDirectory(url)
        let fd = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SecureFile.Failure(description: "cannot create \(lockURL.path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SecureFile.Failure(description: busy
                ? "another sotto-server is running on \(url.path); stop it, or give this one its own --data-dir"
                : "cannot lock \(lockURL.path): \(reason)")
        }
        return DirectoryLock(fd: fd)
    }

    /// Open while the server runs; the kernel lets go of it when the process ends.
    public final class DirectoryLock {
        private let fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    public func loadOrCreateStaticKey() throws -> Curve25519.KeyAgreement.PrivateKey {
        try SecureFile.ensurePrivateDirectory(url)
        if let data = try SecureFile.read(keyURL) {
            guard let raw = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw)
            else { throw SecureFile.Failure(description: "\(keyURL.path) is not a Sotto server key") }
            return key
        }
        let key = Curve25519.KeyAgreement.PrivateKey()
        try SecureFile.write(Data((key.rawRepresentation.base64EncodedString() + "\n").utf8), to: keyURL)
        return key
    }

    /// A file there that is not what it should be is refused, never replaced (as the key is):
    /// it may be the operator's, damaged or mistyped, and what it held would be lost.
    public func loadOrCreateSalt() throws -> [UInt8] {
        if let data = try SecureFile.read(saltURL) {
            guard let salt = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                  salt.count >= WireLimits.minSaltLength
            else { throw SecureFile.Failure(description: "\(saltURL.path) is not a Sotto password salt (base64, at least \(WireLimits.minSaltLength) bytes); move it away to make a new one") }
            return Array(salt)
        }
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
        try SecureFile.write(Data((Data(salt).base64EncodedString() + "\n").utf8), to: saltURL)
        return salt
    }

    /// The stored generated password, creating one on first use.
    public func loadOrCreatePassword() throws -> (password: String, created: Bool) {
        if let data = try SecureFile.read(passwordURL) {
            let password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !password.isEmpty else {
                throw SecureFile.Failure(description: "\(passwordURL.path) is empty; write the password in it, or move it away to have one made")
            }
            return (password, false)
        }
        let password = Self.generatePassword()
        try SecureFile.write(Data((password + "\n").utf8), to: passwordURL)
        return (password, true)
    }

    /// 20 characters from a 32-letter alphabet without look-alikes (100 bits), in groups of 5.
    public static func generatePassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        var rng = SystemRandomNumberGenerator()
        let groups = (0..<4).map { _ in String((0..<5).map { _ in alphabet[Int(rng.next(upperBound: UInt32(alphabet.count)))] }) }
        return groups.joined(separator: "-")
    }
}
