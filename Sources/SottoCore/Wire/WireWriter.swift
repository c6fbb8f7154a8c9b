/// Appends big-endian integers and length-prefixed fields. Lengths are checked by the
/// record encoders against the same limits the reader enforces.
public struct WireWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    public mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    public mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }

    /// u16 length then the bytes; callers keep `data` within 65535.
    public mutating func bytes16<B: Collection>(_ data: B) where B.Element == UInt8 {
        precondition(data.count <= Int(UInt16.max), "field exceeds u16 length")
        u16(UInt16(data.count))
        bytes.append(contentsOf: data)
    }

    public mutating func string16(_ s: String) { bytes16(Array(s.utf8)) }
}
