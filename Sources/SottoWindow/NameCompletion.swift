/// Tab in the message box completes a member's name from the word before the caret, as chat
/// clients do (a newcomer's run: Tab, pressed for that, moved the focus to the Send button,
/// and the next Space sent half a message). Pure: text, caret and names in, text and caret out.
struct NameCompletion: Equatable {
    /// Where the completed word starts, the names it may become (sorted), and which one it is.
    var start: Int
    var candidates: [String]
    var index: Int

    /// The word before `caret` (after a space or line start; a leading "@" is kept) completed:
    /// to the one listed name it begins (any case), followed by a space; with several, the
    /// first, and each further Tab (`last`, while the text still ends in it) the next; "@"
    /// alone begins every name. Nil when no name begins with it (then Tab stays in the box).
    static func complete(_ text: [Character], caret: Int, names: [String], last: NameCompletion?) -> (text: [Character], caret: Int, state: NameCompletion)? {
        guard caret >= 0, caret <= text.count else { return nil }
        // Tab again right after a completion: the next candidate, in place of the last.
        if let last, last.start <= caret, let shown = last.candidates[safe: last.index] {
            let replaced = Array(shown) + [" "]
            if last.start + replaced.count == caret, Array(text[last.start..<caret]) == replaced, last.candidates.count > 1 {
                var next = last
                next.index = (last.index + 1) % last.candidates.count
                return Self.put(next, in: text, replacing: last.start..<caret)
            }
        }
        var start = caret
        while start > 0, !text[start - 1].isWhitespace { start -= 1 }
        var wordStart = start
        let called = wordStart < caret && text[wordStart] == "@"
        if called { wordStart += 1 }
        let typed = String(text[wordStart..<caret]).lowercased()
        // "@" alone: every name, in turn (a newcomer's run expected it, as in chat clients).
        guard !typed.isEmpty || called else { return nil }
        let candidates = names.filter { $0.lowercased().hasPrefix(typed) }.sorted { $0.lowercased() < $1.lowercased() }
        guard !candidates.isEmpty else { return nil }
        return Self.put(NameCompletion(start: wordStart, candidates: candidates, index: 0), in: text, replacing: wordStart..<caret)
    }

    private static func put(_ state: NameCompletion, in text: [Character], replacing range: Range<Int>) -> (text: [Character], caret: Int, state: NameCompletion) {
        var text = text
        let name = Array(state.candidates[state.index]) + [" "]
        text.replaceSubrange(range, with: name)
        return (text, range.lowerBound + name.count, state)
    }
}

private extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
