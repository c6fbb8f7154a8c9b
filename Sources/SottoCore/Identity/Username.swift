import Foundation

/// Usernames: Unicode NFC, 1–32 visible characters, unique case-insensitively.
public struct Username: Hashable, Sendable {
    /// As shown: NFC, trimmed of nothing (leading or trailing spaces are refused).
    public let display: String
    /// For uniqueness: the case-folded look-alike skeleton (`LookAlike.skeleton`), so that
    /// nobody can hold a name that reads as one already taken (Cyrillic а for a, ß for ss).
    public let key: String
    /// Also unique: the skeleton as written (`LookAlike.displaySkeleton`: I for l).
    public let displayKey: String
    /// Combining marks allowed on one character: enough for any language's accents and
    /// tones, not for a tower of marks drawn over the neighbours' names.
    public static let maxMarksPerCharacter = 4

    public static let maxCharacters = 32

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case empty, tooLong, invisibleCharacter, surroundingSpace, notNormalized, mixedScripts, stackedMarks

        public var description: String {
            switch self {
            case .empty: return "the username is empty"
            case .tooLong: return "the username is longer than \(Username.maxCharacters) characters"
            case .invisibleCharacter: return "the username contains control or invisible characters"
            case .surroundingSpace: return "the username starts or ends with a space"
            case .notNormalized: return "the username is not in Unicode normal form C"
            case .mixedScripts: return "the username mixes writing systems (such as Latin and Cyrillic letters), which lets it pass for another"
            case .stackedMarks: return "the username starts with a combining mark or stacks more than \(Username.maxMarksPerCharacter) on one character"
            }
        }
    }

    public init(_ raw: String) throws {
        let nfc = raw.precomposedStringWithCanonicalMapping
        guard !nfc.isEmpty else { throw Problem.empty }
        guard nfc.count <= Self.maxCharacters else { throw Problem.tooLong }
        for scalar in nfc.unicodeScalars {
            // Characters that render as nothing (Hangul fillers, joiners, variation selectors:
            // Unicode's default-ignorable set) or as a blank (the empty Braille pattern)
            // would make a name look like another, or like nobody.
            if scalar.properties.isDefaultIgnorableCodePoint || scalar.value == 0x2800 { throw Problem.invisibleCharacter }
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
        if let first = nfc.unicodeScalars.first, Self.isMark(first) { throw Problem.stackedMarks }
        for character in nfc where character.unicodeScalars.lazy.filter(Self.isMark).count > Self.maxMarksPerCharacter {
            _ = character
            throw Problem.stackedMarks
        }
        guard !LookAlike.isMixed(nfc) else { throw Problem.mixedScripts }
        display = nfc
        key = LookAlike.skeleton(nfc)
        displayKey = LookAlike.displaySkeleton(nfc)
    }

    /// For a name someone else (the server) lists: it must be exactly what a login with it
    /// would have been shown as.
    public static func validate(listed name: String) -> Result<Username, Problem> {
        do {
            let username = try Username(name)
            // Byte for byte: String's == treats canonically equivalent spellings as equal.
            guard username.display.utf8.elementsEqual(name.utf8) else { return .failure(.notNormalized) }
            return .success(username)
        } catch let problem as Problem {
            return .failure(problem)
        } catch {
            return .failure(.invisibleCharacter)
        }
    }

    private static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }
}
