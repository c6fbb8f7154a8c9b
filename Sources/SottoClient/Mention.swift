/// Whether a message calls a member by name, as chat clients read it: "@name" anywhere (as
/// Tab completes a name after "@"), or the name opening the message followed by ":" or ","
/// (as IRC clients address someone). Any case; the name whole: "@ali" is not alice, nor is
/// "@alicia", nor "bob@alice.example" (an address, not a call). Pure; run once per message
/// as it is added, never per frame.
public enum Mention {
    /// `members`: the names listed; where a longer one is written ("@alice-team" beside
    /// "alice"), it is that member who is called (a newcomer's run: alice was called by
    /// every "@alice-team", as a hyphen ends a word but not a name).
    public static func calls(_ name: String, in text: String, members: [String] = []) -> Bool {
        guard !name.isEmpty, !text.isEmpty else { return false }
        let lowered = name.lowercased()
        let longer = members.map { Array($0.lowercased()) }.filter { $0.count > lowered.count && $0.starts(with: lowered) }
        // Both lowered once: a text of 16 KiB of "@" (a member's flood, checked on the
        // window's thread as each line is added and as pages of history load) cost 10 ms when
        // each "@" lowered what followed it.
        let name = Array(name.lowercased())
        let text = Array(text.lowercased())
        func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        // `candidate` at `start`, whole: nothing of a word right after it.
        func written(_ candidate: [Character], at start: Int) -> Bool {
            let end = start + candidate.count
            guard end <= text.count, text[start] == candidate[0], text[start..<end].elementsEqual(candidate) else { return false }
            return end == text.count || !isWord(text[end])
        }
        func nameAt(_ start: Int) -> Bool { written(name, at: start) && !longer.contains { written($0, at: start) } }
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
