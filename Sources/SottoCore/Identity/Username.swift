import Foundation

/// Usernames: Unicode NFC, 1–32 visible characters, unique case-insensitively.
public struct Username: Hashable, Sendable {
    /// As shown: NFC, trimmed of nothing (leading or trailing spaces are refused).
    public let display: String
    /// For uniqueness: NFC of the case-folded display form.
    public let key: String

    public static let maxCharacters = 32

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case empty, tooLong, invisibleCharacter, surroundingSpace

        public var description: String {
            switch self {
            case .empty: return "the username is empty"
            case .tooLong: return "the username is longer than \(Username.maxCharacters) characters"
            case .invisibleCharacter: return "the username contains control or invisible characters"
            case .surroundingSpace: return "the username starts or ends with a space"
            }
        }
    }

    public init(_ raw: String) throws {
        let nfc = raw.precomposedStringWithCanonicalMapping
        guard !nfc.isEmpty else { throw Problem.empty }
        guard nfc.count <= Self.maxCharacters else { throw Problem.tooLong }
        for scalar in nfc.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
                throw Problem.invisibleCharacter
            case .spaceSeparator where scalar != " ":
                throw Problem.invisibleCharacter
            default:
                break
            }
        }
        guard nfc.first != " ", nfc.last != " " else { throw Problem.surroundingSpace }
        guard nfc.contains(where: { !$0.isWhitespace }) else { throw Problem.empty }
        display = nfc
        key = nfc.lowercased().precomposedStringWithCanonicalMapping
    }
}
