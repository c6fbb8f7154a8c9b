import Foundation
import GRDB
import SottoCore

/// How Sotto opens its SQLite databases (the server's members, a client's history): the file
/// created 0600 in a 0700 directory before SQLite opens it (its -wal and -shm get its mode),
/// WAL through a pool (reads beside a write), a busy timeout for another process writing at
/// the same moment (`sotto-server members` beside the server), and the schema migrated to its
/// newest version. Migrations are named and never edited once released, only added to.
public enum PrivateDatabase {
    /// `what` names the database in the error a person reads ("the history"). A database a
    /// newer version wrote is refused (this one would misread it). `upgrade` false: one of an
    /// older version is refused too, rather than migrated under a program of that version
    /// that may still have it open (`sotto-server members` beside a running server);
    /// `olderAdvice` says what to do instead. A new, empty one is set up either way.
    public static func open(_ url: URL, label: String, what: String, migrator: DatabaseMigrator,
                            upgrade: Bool = true, olderAdvice: String = "",
                            prepare: (@Sendable (Database) throws -> Void)? = nil) throws -> DatabasePool {
        try SecureFile.ensurePrivateFile(url)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = label
        if let prepare { configuration.prepareDatabase(prepare) }
        let pool: DatabasePool
        let empty: Bool, newer: Bool, behind: Bool
        do {
            pool = try DatabasePool(path: url.path, configuration: configuration)
            (empty, newer, behind) = try pool.read { db in
                (try migrator.appliedIdentifiers(db).isEmpty, try migrator.hasBeenSuperseded(db), try !migrator.hasCompletedMigrations(db))
            }
        } catch {
            throw SecureFile.Failure(description: "cannot open \(what) \(url.path): \(error)")
        }
        if newer {
            throw SecureFile.Failure(description: "\(what) \(url.path) was written by a newer version of Sotto: use that version (this one would misread it)")
        }
        if behind && !upgrade && !empty {
            throw SecureFile.Failure(description: "\(what) \(url.path) is from an older version of Sotto. \(olderAdvice)")
        }
        do {
            try migrator.migrate(pool)
            return pool
        } catch {
            throw SecureFile.Failure(description: "cannot open \(what) \(url.path): \(error)")
        }
    }

    /// The migrations applied to a database, by name, in order.
    public static func appliedMigrations(_ pool: DatabasePool, _ migrator: DatabaseMigrator) throws -> [String] {
        try pool.read { db in try migrator.appliedIdentifiers(db) }.sorted()
    }
}
