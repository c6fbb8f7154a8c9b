import GRDB
import GRDBSQLite

/// The delivery log's insert, bound by hand. Through GRDB each row copied its record and
/// sender into `Data` and boxed eight values into `StatementArguments` (allocations, retains,
/// existential copies): at saturation most of the writer's commit. Here every value is bound
/// in place for the one step that reads it, and the bindings are cleared before the memory
/// they point to goes away. The step bypasses GRDB's statement hooks: no transaction
/// observer on `delivery` would see these inserts (there is none).

struct DeliveryInsert {
    static let sql = """
        INSERT INTO delivery (position, recipient, time, sender, clientMessageID, record, roomBytesBefore, roomMessagesBefore, last)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    let statement: Statement
    let db: Database

    init(_ db: Database) throws {
        self.db = db
        statement = try db.cachedStatement(sql: Self.sql)
    }

    /// One entry as a row of its own.
    func insert(_ d: StoredDelivery, roomBytesBefore: Int64, roomMessagesBefore: Int64) throws {
        try insert(d, record: d.record, last: nil, roomBytesBefore: roomBytesBefore, roomMessagesBefore: roomMessagesBefore)
    }

    /// A run of room entries as one row: at its first position, through `last`, at its last
    /// entry's time. A run of one is a row of its own, as any entry; an empty one writes nothing.
    func insert(_ run: RoomRun, roomBytesBefore: Int64, roomMessagesBefore: Int64) throws {
        guard let newest = run.entries.last else { return }
        guard run.entries.count > 1 else {
            return try insert(newest, roomBytesBefore: roomBytesBefore, roomMessagesBefore: roomMessagesBefore)
        }
        let row = StoredDelivery(position: run.first, recipient: nil, time: newest.time, sender: nil, clientMessageID: nil, record: [])
        try insert(row, record: run.encoded(), last: run.last, roomBytesBefore: roomBytesBefore, roomMessagesBefore: roomMessagesBefore)
    }

    private func insert(_ d: StoredDelivery, record bytes: [UInt8], last: UInt64?, roomBytesBefore: Int64, roomMessagesBefore: Int64) throws {
        let s = statement.sqliteStatement
        let code: CInt = Self.withOptionalText(d.recipient) { recipient in
            Self.withOptionalBlob(d.sender) { sender in
                bytes.withUnsafeBytes { record in
                    // The first binding that fails is the answer (none should: sizes are bounded).
                    var code = SQLITE_OK
                    func bound(_ result: CInt) { if code == SQLITE_OK { code = result } }
                    bound(sqlite3_bind_int64(s, 1, Int64(clamping: d.position)))
                    bound(recipient.map { sqlite3_bind_text(s, 2, $0, -1, nil) } ?? sqlite3_bind_null(s, 2))
                    bound(sqlite3_bind_int64(s, 3, Int64(clamping: d.time)))
                    bound(sender.map { sqlite3_bind_blob(s, 4, $0.baseAddress, CInt(clamping: $0.count), nil) } ?? sqlite3_bind_null(s, 4))
                    bound(d.clientMessageID.map { sqlite3_bind_int64(s, 5, Int64(bitPattern: $0)) } ?? sqlite3_bind_null(s, 5))
                    // An empty record still stores a blob, not NULL (NOT NULL column).
                    bound(sqlite3_bind_blob(s, 6, record.baseAddress ?? UnsafeRawPointer(bitPattern: 1), CInt(clamping: record.count), nil))
                    bound(sqlite3_bind_int64(s, 7, roomBytesBefore))
                    bound(sqlite3_bind_int64(s, 8, roomMessagesBefore))
                    bound(last.map { sqlite3_bind_int64(s, 9, Int64(clamping: $0)) } ?? sqlite3_bind_null(s, 9))
                    if code == SQLITE_OK { code = sqlite3_step(s) }
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
