/// Whether a message calls a member by name, as chat clients read it: "@name" anywhere (as
/// Tab completes a name after "@"), or the name opening the message followed by ":" or ","
/// (as IRC clients address someone). Any case; the name whole: "@ali" is not alice, nor is
/// "@alicia", nor "bob@alice.example" (an address, not a call); where a longer member's name
/// is written ("@alice-team" beside "alice"), it is that member who is called (a newcomer's
/// run: alice was called by every "@alice-team", as a hyphen ends a word but not a name).
/// Made once per member list (a review: a list of 65,536 names, looked through at every
/// message, cost 69 ms a message), then run once per message as it is added, never per frame.
public struct Mention: Sendable {
    private let name: [Character]
    /// Listed names that begin with this one, lowered, and their lengths (at most 32).
    private let longer: Set<String>
    private let longerLengths: [Int]

    public init(name: String, members: [String] = []) {
        let lowered = name.lowercased()
        self.name = Array(lowered)
        let count = self.name.count
        longer = Set(members.lazy.map { $0.lowercased() }.filter { $0.count > count && $0.hasPrefix(lowered) })
        longerLengths = Set(longer.map(\.count)).sorted()
    }

    public static func calls(_ name: String, in text: String, members: [String] = []) -> Bool {
        Mention(name: name, members: members).calls(in: text)
    }

    public func calls(in text: String) -> Bool {
        guard !name.isEmpty, !text.isEmpty else { return false }
        // Lowered once: a text of 16 KiB of "@" (a member's flood, checked on the window's
        // thread as each line is added and as pages of history load) cost 10 ms when each "@"
        // lowered what followed it.
        let text = Array(text.lowercased())
        func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        func endsThere(_ end: Int) -> Bool { end == text.count || !isWord(text[end]) }
        // The name at `start`, whole, and not the beginning of a longer member's.
        func nameAt(_ start: Int) -> Bool {
            let end = start + name.count
            guard end <= text.count, text[start] == name[0], text[start..<end].elementsEqual(name), endsThere(end) else { return false }
            return !longerLengths.contains { length in
                start + length <= text.count && endsThere(start + length) && longer.contains(String(text[start..<start + length]))
            }
        }
        // "alice: …", "alice, …" (after any spaces: "  alice: hi" was missed)
        let opening = text.firstIndex { !$0.isWhitespace } ?? text.count
        if text.count > opening + name.count, nameAt(opening), text[opening + name.count] == ":" || text[opening + name.count] == "," { return true }
        // An address's "@" follows its ASCII local part; a call may follow any other character
        // (Chinese and Japanese put no space before it).
        func isAddressPart(_ c: Character) -> Bool { c.isASCII && (isWord(c) || ".-+".contains(c)) }
        for i in text.indices where text[i] == "@" && (i == 0 || !isAddressPart(text[i - 1])) {
            if nameAt(i + 1) { return true }
        }
        return false
    }
}
