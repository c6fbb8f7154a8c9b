/// The editing state of one text field: text, caret and selection, in characters
/// (grapheme clusters, so an emoji or "é" moves as one).
public struct TextEditState: Equatable, Sendable {
    public private(set) var characters: [Character]
    public private(set) var caret: Int
    /// The other end of the selection, if any.
    public private(set) var anchor: Int?

    public init(_ text: String = "") {
        characters = Array(text)
        caret = characters.count
    }

    public var text: String { String(characters) }

    public var selection: Range<Int>? {
        guard let anchor, anchor != caret else { return nil }
        return min(anchor, caret)..<max(anchor, caret)
    }

    public var selectedText: String { selection.map { String(characters[$0]) } ?? "" }

    public mutating func setText(_ text: String) {
        guard text != self.text else { return }
        characters = Array(text)
        caret = min(caret, characters.count)
        anchor = nil
    }

    public mutating func insert(_ s: String) {
        deleteSelection()
        let new = Array(s)
        characters.insert(contentsOf: new, at: caret)
        caret += new.count
    }

    @discardableResult
    public mutating func deleteSelection() -> Bool {
        guard let range = selection else { anchor = nil; return false }
        characters.removeSubrange(range)
        caret = range.lowerBound
        anchor = nil
        return true
    }

    public mutating func backspace(word: Bool = false) {
        if deleteSelection() { return }
        let start = word ? wordStart(before: caret) : max(0, caret - 1)
        characters.removeSubrange(start..<caret)
        caret = start
    }

    public mutating func deleteForward(word: Bool = false) {
        if deleteSelection() { return }
        let end = word ? wordEnd(after: caret) : min(characters.count, caret + 1)
        characters.removeSubrange(caret..<end)
    }

    public enum Motion { case left, right, wordLeft, wordRight, home, end }

    public mutating func move(_ motion: Motion, selecting: Bool) {
        if selecting { if anchor == nil { anchor = caret } } else if let range = selection {
            // Without shift, an arrow collapses the selection to its side.
            anchor = nil
            switch motion {
            case .left, .wordLeft: caret = range.lowerBound; return
            case .right, .wordRight: caret = range.upperBound; return
            default: break
            }
        } else {
            anchor = nil
        }
        switch motion {
        case .left: caret = max(0, caret - 1)
        case .right: caret = min(characters.count, caret + 1)
        case .wordLeft: caret = wordStart(before: caret)
        case .wordRight: caret = wordEnd(after: caret)
        case .home: caret = lineStart(caret)
        case .end: caret = lineEnd(caret)
        }
    }

    public mutating func selectAll() {
        anchor = 0
        caret = characters.count
    }

    public mutating func placeCaret(_ index: Int, selecting: Bool) {
        if selecting { if anchor == nil { anchor = caret } } else { anchor = nil }
        caret = max(0, min(characters.count, index))
    }

    private func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    private func wordStart(before i: Int) -> Int {
        var j = i
        while j > 0, !isWordCharacter(characters[j - 1]) { j -= 1 }
        while j > 0, isWordCharacter(characters[j - 1]) { j -= 1 }
        return j
    }

    private func wordEnd(after i: Int) -> Int {
        var j = i
        while j < characters.count, !isWordCharacter(characters[j]) { j += 1 }
        while j < characters.count, isWordCharacter(characters[j]) { j += 1 }
        return j
    }

    private func lineStart(_ i: Int) -> Int {
        var j = i
        while j > 0, characters[j - 1] != "\n" { j -= 1 }
        return j
    }

    private func lineEnd(_ i: Int) -> Int {
        var j = i
        while j < characters.count, characters[j] != "\n" { j += 1 }
        return j
    }
}
