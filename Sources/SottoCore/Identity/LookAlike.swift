import CSpoof

/// Names that a person could take for one another (UTS #39, through ICU's spoof checker):
/// `аlice` with a Cyrillic а, `aIice`, fullwidth or mathematical letters, `STRASSE` beside
/// `straße`. Their skeletons are equal, so a server that keys names by skeleton cannot hold
/// both, and a client can tell that a new name resembles one it knows.
public enum LookAlike {
    /// One checker for the process: ICU's checks and skeletons only read it.
    private final class Checker: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer? = sotto_spoof_open()
    }
    private static let checker = Checker()

    /// The key two names share when they are the same but for case or look alike once case
    /// is ignored: NFKC case folding (ALICE and alice, ß and ss, ｆ and f), then the
    /// confusable skeleton (а and a, ο and o).
    public static func skeleton(_ name: String) -> String {
        String(decoding: confusable(fold(Array(name.utf16))), as: UTF16.self)
    }

    /// The key two names share when they look alike as written, case and all (aIice and
    /// alice: capital I and small l), which folding case first would hide: the skeleton as
    /// written, then case folded and its skeleton taken, until that changes nothing. (The
    /// skeleton as written alone kept AIice, "Alice" with a capital I, apart from alice: its
    /// capital A.)
    public static func displaySkeleton(_ name: String) -> String {
        var text = confusable(Array(name.utf16))
        for _ in 0..<4 {
            let next = confusable(fold(text))
            if next == text { break }
            text = next
        }
        return String(decoding: text, as: UTF16.self)
    }

    private static func confusable(_ text: [UInt16]) -> [UInt16] {
        guard let checker = checker.pointer else { return text }
        return transform(text) { sotto_spoof_skeleton(checker, $0, $1, $2, $3) }
    }

    private static func fold(_ text: [UInt16]) -> [UInt16] { transform(text) { sotto_nfkc_casefold($0, $1, $2, $3) } }

    /// Whether the name mixes writing systems beyond what one language uses (Latin with
    /// Cyrillic or Greek letters; Han with kana is fine), has invisible or repeated marks,
    /// or mixes digits of several systems: ICU's "highly restrictive" level.
    public static func isMixed(_ name: String) -> Bool {
        guard let checker = checker.pointer else { return false }
        let units = Array(name.utf16)
        return units.withUnsafeBufferPointer { sotto_spoof_check(checker, $0.baseAddress, Int32($0.count)) } != 0
    }

    /// Runs an ICU string function that writes into a buffer, with more room once if it asks.
    private static func transform(_ input: [UInt16],
                                  _ call: (UnsafePointer<UInt16>?, Int32, UnsafeMutablePointer<UInt16>?, Int32) -> Int32) -> [UInt16] {
        var capacity = max(16, input.count * 4)
        for _ in 0..<2 {
            var output = [UInt16](repeating: 0, count: capacity)
            let length = input.withUnsafeBufferPointer { src in
                output.withUnsafeMutableBufferPointer { call(src.baseAddress, Int32(src.count), $0.baseAddress, Int32($0.count)) }
            }
            guard length >= 0 else { return input }
            if Int(length) > capacity { capacity = Int(length); continue }
            return Array(output[..<Int(length)])
        }
        return input
    }
}
