/// A schema violation in bytes from the network. Always fatal for the connection that sent them.
public enum WireError: Error, Equatable, Sendable {
    case truncated(String)
    case tooLong(field: String, limit: Int)
    case invalidUTF8(String)
    case unknownRecordType(UInt8)
    case trailingBytes(String)
    case unsupportedVersion(UInt8)
    case invalid(String)
}

extension WireError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .truncated(let what): return "truncated \(what)"
        case .tooLong(let field, let limit): return "\(field) longer than \(limit) bytes"
        case .invalidUTF8(let field): return "\(field) is not valid UTF-8"
        case .unknownRecordType(let t): return "unknown record type 0x\(String(t, radix: 16))"
        case .trailingBytes(let what): return "unexpected bytes after \(what)"
        case .unsupportedVersion(let v): return "unsupported schema version \(v)"
        case .invalid(let why): return why
        }
    }
}
