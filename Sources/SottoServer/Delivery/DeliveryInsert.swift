import GRDB
import GRDBSQLite

/// The delivery log's insert, bound by hand. Through GRDB each row boxed eight values into
/// `StatementArguments` and SQLite copied the record (bound as transient): at saturation that
/// was most of the writer's time. Here every value is bound in place for the one step that
/// reads it, and the bindings are cleared before the memory they point to goes away.
struct DeliveryInsert {
    static let sql = """
        INSERT INTO delivery (position, recipient, time, sender, clientMessageID, record, roomBytesBefore, roomMessagesBefore)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """
    let statement: Statement
    let db: Database

    init(_ db: Database) throws {
        self.db = db
        statement = try db.cachedStatement(sql: Self.sql)
    }

    func insert(_ d: StoredDelivery, roomBytesBefore: Int64, roomMessagesBefore: Int64) throws {
        let s = statement.sqliteStatement
        let code: CInt = Self.withOptionalText(d.recipient) { recipient in
            Self.withOptionalBlob(d.sender) { sender in
                d.record.withUnsafeBytes { record in
                    sqlite3_bind_int64(s, 1, Int64(clamping: d.position))
                    if let recipient { sqlite3_bind_text(s, 2, recipient, -1, nil) } else { sqlite3_bind_null(s, 2) }
                    sqlite3_bind_int64(s, 3, Int64(clamping: d.time))
                    if let sender { sqlite3_bind_blob(s, 4, sender.baseAddress, CInt(sender.count), nil) } else { sqlite3_bind_null(s, 4) }
                    if let id = d.clientMessageID { sqlite3_bind_int64(s, 5, Int64(bitPattern: id)) } else { sqlite3_bind_null(s, 5) }
                    // An empty record still stores a blob, not NULL (NOT NULL column).
                    sqlite3_bind_blob(s, 6, record.baseAddress ?? UnsafeRawPointer(bitPattern: 1), CInt(record.count), nil)
                    sqlite3_bind_int64(s, 7, roomBytesBefore)
                    sqlite3_bind_int64(s, 8, roomMessagesBefore)
                    let code = sqlite3_step(s)
                    sqlite3_reset(s)
                    sqlite3_clear_bindings(s)
                    return code
                }
            }
        }
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: Self.sql)
        }
    }

    private static func withOptionalText<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    private static func withOptionalBlob<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard let bytes else { return body(nil) }
        return bytes.withUnsafeBytes { body($0) }
    }
}
