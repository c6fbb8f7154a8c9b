/// Reads what `WireWriter` writes, bounding every length before it is used.
public struct WireReader {
    private let bytes: [UInt8]
    private var position: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
    }

    public var remaining: Int { bytes.count - position }
    public var isAtEnd: Bool { position == bytes.count }

    // Field names are autoclosures so the hot path never formats a string: it is built only
    // for the error.
    private mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> ArraySlice<UInt8> {
        guard n <= remaining else { throw WireError.truncated(what()) }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    public mutating func u8(_ what: String) throws -> UInt8 { try take(1, what).first! }

    public mutating func u16(_ what: @autoclosure () -> String) throws -> UInt16 {
        let b = try take(2, what())
        return UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1])
    }

    public mutating func u32(_ what: String) throws -> UInt32 {
        try take(4, what).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func u64(_ what: String) throws -> UInt64 {
        try take(8, what).reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func bool(_ what: String) throws -> Bool {
        switch try u8(what) {
        case 0: return false
        case 1: return true
        default: throw WireError.invalid("\(what) is not a boolean")
        }
    }

    public mutating func bytes16(_ what: String, max: Int) throws -> [UInt8] {
        let n = Int(try u16("\(what) length"))  // formatted only if truncated
        guard n <= max else { throw WireError.tooLong(field: what, limit: max) }
        return Array(try take(n, what))
    }

    /// Exactly `count` bytes behind a u16 length (keys, digests).
    public mutating func fixed16(_ what: String, count: Int) throws -> [UInt8] {
        let value = try bytes16(what, max: count)
        guard value.count == count else { throw WireError.invalid("\(what) must be \(count) bytes") }
        return value
    }

    public mutating func string16(_ what: String, max: Int) throws -> String {
        let raw = try bytes16(what, max: max)
        guard let s = String(validating: raw, as: UTF8.self) else { throw WireError.invalidUTF8(what) }
        return s
    }

    /// `count` entries, each read by `entry`, once the record is known to hold them (each
    /// takes at least `minLength` bytes): a forged count never reserves more than arrived.
    public mutating func entries<T>(_ count: Int, minLength: Int, _ what: String, _ entry: (inout WireReader) throws -> T) throws -> [T] {
        guard count * minLength <= remaining else { throw WireError.truncated(what) }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try entry(&self)) }
        return result
    }

    /// A leading version byte that must be `expected`.
    public mutating func version(_ expected: UInt8, _ what: String) throws {
        let version = try u8(what)
        guard version == expected else { throw WireError.unsupportedVersion(version) }
    }

    public func expectEnd(_ what: String) throws {
        guard isAtEnd else { throw WireError.trailingBytes(what) }
    }
}
