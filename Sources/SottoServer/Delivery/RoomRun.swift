/// Room entries of one group commit, stored as one row of the delivery log (`last` set; the
/// row's `position` is the first entry's). A row costs SQLite about as much as the bytes it
/// holds: at saturation a commit of 17 room messages as 17 rows was most of what storing
/// added to a delivery, and as one row it is about half of that. Entries for one member
/// (direct messages, key shares) stay rows of their own: they are deleted one member at a
/// time, as that member confirms.
///
/// Encoding, per entry, little-endian: position minus the run's first (UInt32), time
/// (UInt64), sender length (UInt8, 0: none) and sender, whether a client message id follows
/// (UInt8) and the id (UInt64), record length (UInt32) and record.
struct RoomRun {
    /// Most entries in a run, and most positions it spans (direct entries may fall between
    /// its own): a run is about one group commit, decoded whole wherever one entry is read.
    static let maxEntries = 256
    static let maxSpan: UInt64 = 1_024

    var entries: [StoredDelivery]

    var first: UInt64 { entries.first?.position ?? 0 }
    var last: UInt64 { entries.last?.position ?? 0 }
    var recordBytes: Int64 { entries.reduce(0) { $0 + Int64($1.record.count) } }
    /// Messages among the entries (key shares have no client message id): the room's running count.
    var messages: Int64 { Int64(entries.count { $0.clientMessageID != nil }) }

    /// Whether `entry` (a room entry after the others) may join this run.
    func admits(_ entry: StoredDelivery) -> Bool {
        // A sender of more than 255 bytes, or an empty one, has no encoding here (identities are 32).
        guard entry.recipient == nil, entry.sender.map({ (1...255).contains($0.count) }) ?? true,
              entry.record.count <= UInt32.max else { return false }
        guard let first = entries.first else { return true }
        return entries.count < Self.maxEntries && entry.position > self.last && entry.position - first.position < Self.maxSpan
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(0) { $0 + 26 + ($1.sender?.count ?? 0) + $1.record.count })
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        let first = self.first
        for entry in entries {
            put(UInt32(entry.position - first))
            put(entry.time)
            let sender = entry.sender ?? []
            put(UInt8(sender.count))
            out.append(contentsOf: sender)
            if let id = entry.clientMessageID {
                put(UInt8(1))
                put(id)
            } else {
                put(UInt8(0))
            }
            put(UInt32(entry.record.count))
            out.append(contentsOf: entry.record)
        }
        return out
    }

    struct Malformed: Error, CustomStringConvertible {
        let first: UInt64
        var description: String { "the delivery log's run of room entries at \(first) is malformed" }
    }

    /// The run stored at `first`; a malformed one is refused, never read past its end.
    init(first: UInt64, encoded bytes: some Collection<UInt8>) throws {
        let bytes = Array(bytes)
        var at = 0
        func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard bytes.count - at >= MemoryLayout<T>.size else { throw Malformed(first: first) }
            var value: T = 0
            for i in 0..<MemoryLayout<T>.size { value |= T(bytes[at + i]) << (8 * i) }
            at += MemoryLayout<T>.size
            return value
        }
        func take(count: Int) throws -> [UInt8] {
            guard count >= 0, bytes.count - at >= count else { throw Malformed(first: first) }
            defer { at += count }
            return Array(bytes[at..<at + count])
        }
        var entries: [StoredDelivery] = []
        while at < bytes.count {
            let (position, overflow) = first.addingReportingOverflow(UInt64(try take(UInt32.self)))
            guard !overflow else { throw Malformed(first: first) }
            let time = try take(UInt64.self)
            let senderCount = Int(try take(UInt8.self))
            let sender = senderCount == 0 ? nil : try take(count: senderCount)
            let id: UInt64? = try take(UInt8.self) == 0 ? nil : try take(UInt64.self)
            let record = try take(count: Int(try take(UInt32.self)))
            entries.append(StoredDelivery(position: position, recipient: nil, time: time, sender: sender, clientMessageID: id, record: record))
        }
        self.entries = entries
    }

    init(entries: [StoredDelivery]) { self.entries = entries }
}
