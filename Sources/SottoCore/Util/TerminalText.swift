/// Text from others made safe for a terminal, a log line or a notification: every character
/// that a terminal would act on instead of show is replaced by a visible stand-in, so a
/// message cannot move the cursor, erase a line, set the window title, or reorder what
/// follows it.
///
/// - C0 controls (including CR, LF and TAB) and DEL become their Unicode control pictures
///   (ESC → ␛, CR → ␍, LF → ␊, DEL → ␡);
/// - C1 controls (U+0080–U+009F, which some terminals read as CSI and OSC) and the bidi
///   embeddings, overrides and isolates become `<U+XXXX>`.
public enum TerminalText {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x00...0x1F:
                out.append(Unicode.Scalar(0x2400 + scalar.value)!)
            case 0x7F:
                out.append("\u{2421}")
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out.append(contentsOf: "<U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex)>".unicodeScalars)
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// JSON as written, with what a terminal could act on (DEL, C1 controls, bidi controls,
    /// line and paragraph separators) as `\\uXXXX` escapes: the same JSON to a parser, inert to a
    /// person reading it raw (an attacker's review: sotto-cli --json passed them through;
    /// JSON encoders escape only what is below U+0020).
    public static func jsonEscaped(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7F && needsEscape($0) }) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x7F, needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: "\\u\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex)".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi controls
        default: return false
        }
    }
}
