import Foundation
import GRDB
import SottoCore
import SottoStorage

/// The server's SQLite database, `server.sqlite` in its data directory: WAL, 0600 in a
/// 0700 directory, its schema versioned by named migrations (never edited once released,
/// only added to).
public final class ServerDatabase: Sendable {
    public let url: URL
    let pool: DatabasePool

    public init(url: URL) throws {
        self.url = url
        pool = try PrivateDatabase.open(url, label: "sotto-server", what: "the server database", migrator: Self.migrator)
    }

    /// Versions of the schema, in order.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: members") { db in
            try db.create(table: "member") { t in
                t.primaryKey("key", .text)
                t.column("displayKey", .text).notNull().indexed()
                t.column("name", .text).notNull()
                t.column("identity", .blob).notNull().indexed()
                t.column("registeredAt", .integer).notNull()
                t.column("lastSeen", .integer).notNull()
            }
        }
        return migrator
    }

    /// The applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] { try PrivateDatabase.appliedMigrations(pool, Self.migrator) }
}
