/// Whether a message calls a member by name, as chat clients read it: "@name" anywhere (as
/// Tab completes a name after "@"), or the name opening the message followed by ":" or ","
/// (as IRC clients address someone). Any case; the name whole: "@ali" is not alice, nor is
/// "@alicia", nor "bob@alice.example" (an address, not a call). Pure; run once per message
/// as it is added, never per frame.
public enum Mention {
    public static func calls(_ name: String, in text: String) -> Bool {
        guard !name.isEmpty, !text.isEmpty else { return false }
        let name = Array(name.lowercased())
        let text = Array(text)
        func isWord(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }
        // The name at `start`, whole: nothing of a word right after it.
        func nameAt(_ start: Int) -> Bool {
            let end = start + name.count
            guard end <= text.count, Array(String(text[start..<end]).lowercased()) == name else { return false }
            return end == text.count || !isWord(text[end])
        }
        // "alice: …", "alice, …"
        if text.count > name.count, nameAt(0), text[name.count] == ":" || text[name.count] == "," { return true }
        // An address's "@" follows its ASCII local part; a call may follow any other character
        // (Chinese and Japanese put no space before it).
        func isAddressPart(_ c: Character) -> Bool { c.isASCII && (isWord(c) || ".-+".contains(c)) }
        for i in text.indices where text[i] == "@" && (i == 0 || !isAddressPart(text[i - 1])) {
            if nameAt(i + 1) { return true }
        }
        return false
    }
}
