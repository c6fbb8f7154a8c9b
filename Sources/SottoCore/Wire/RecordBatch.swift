/// A transport message's plaintext is a sequence of records, each `u16 length ‖ record`,
/// so a sender can coalesce everything it has queued into one encryption.
public enum RecordBatch {
    /// Splits a decrypted plaintext into records; an empty or partial record is a violation.
    public static func split(_ plaintext: [UInt8]) throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        var i = 0
        while i < plaintext.count {
            guard plaintext.count - i >= WireLimits.recordHeaderLength else { throw WireError.truncated("record length") }
            let length = Int(plaintext[i]) << 8 | Int(plaintext[i + 1])
            i += 2
            guard length > 0 else { throw WireError.invalid("empty record") }
            guard length <= plaintext.count - i else { throw WireError.truncated("record") }
            records.append(Array(plaintext[i..<(i + length)]))
            i += length
        }
        guard !records.isEmpty else { throw WireError.invalid("transport message without records") }
        return records
    }

    /// Appends one record to a plaintext under construction.
    public static func append(_ record: [UInt8], to plaintext: inout [UInt8]) {
        precondition(!record.isEmpty && record.count <= WireLimits.maxRecordLength)
        plaintext.append(UInt8(record.count >> 8))
        plaintext.append(UInt8(record.count & 0xff))
        plaintext.append(contentsOf: record)
    }

    /// Bytes a record occupies inside a plaintext.
    public static func framedLength(_ record: [UInt8]) -> Int { record.count + WireLimits.recordHeaderLength }
}
