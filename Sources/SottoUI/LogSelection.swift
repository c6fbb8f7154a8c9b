/// Selecting text in the log by characters, across entries: where a point in an entry's
/// text is drawn, which character lies under the mouse, what a word is, what is selected.
/// An entry's text is its prefix (bold: time and sender), a space, then its text (regular).
struct LogPoint: Equatable {
    /// The entry's key: it stays valid when entries before it come and go.
    var key: Int
    /// A character offset into the entry's full text.
    var offset: Int
}

struct LogEntryLayout {
    let entry: UIContext.LogEntry
    let full: [Character]
    let lines: [String]
    /// Each wrapped line's first character in `full` (wrapping drops the space it breaks at).
    let starts: [Int]
    /// Where lines after the first start (`UIContext.hangingIndent`).
    let indent: Int

    init(_ entry: UIContext.LogEntry, lines: [String], indent: Int = 0) {
        self.entry = entry
        self.lines = lines
        self.indent = indent
        full = Array(entry.fullText)
        var starts: [Int] = []
        var position = 0
        for line in lines {
            let chars = Array(line)
            if position < full.count, !full[position...].starts(with: chars), full[position] == " " || full[position] == "\n" {
                position += 1
            }
            starts.append(min(position, full.count))
            position += chars.count
        }
        self.starts = starts
    }

    /// Pixels from the text's left edge to character `k` of line `n` (lines after the first start at `indent`).
    func x(ofCharacter k: Int, inLine n: Int, metrics: TextMeasuring) -> Int {
        let chars = Array(lines[n])
        let k = max(0, min(k, chars.count))
        let prefixCount = entry.prefix.count
        guard n == 0 else { return indent + metrics.width(String(chars[..<k]), style: .regular) }
        guard prefixCount > 0 else { return metrics.width(String(chars[..<k]), style: .regular) }
        if k <= prefixCount { return metrics.width(String(chars[..<k]), style: .bold) }
        let bold = metrics.width(entry.prefix, style: .bold) + metrics.width(" ", style: .regular)
        return bold + metrics.width(String(chars[(prefixCount + 1)..<max(prefixCount + 1, k)]), style: .regular)
    }

    /// The character boundary nearest to `x` in line `n`, as an offset into `full`.
    func offset(atX x: Int, inLine n: Int, metrics: TextMeasuring) -> Int {
        let count = lines[n].count
        var best = 0
        var bestDistance = Int.max
        for k in 0...count {
            let d = abs(self.x(ofCharacter: k, inLine: n, metrics: metrics) - x)
            if d < bestDistance { best = k; bestDistance = d }
        }
        return starts[n] + best
    }

    static let trailing: Set<Character> = [".", ",", ";", ":", "!", "?", ")", "]", "}", "\"", "'", "»", "”", "’", "…"]
    static let leading: Set<Character> = ["(", "[", "{", "\"", "'", "«", "“", "‘"]

    /// The text after the prefix (what a triple click selects): from past the prefix's space.
    var textRange: Range<Int> { min(full.count, entry.prefix.isEmpty ? 0 : entry.prefix.count + 1)..<full.count }

    /// The word (a run of non-spaces) around `offset`.
    func word(at offset: Int) -> Range<Int> {
        guard !full.isEmpty else { return 0..<0 }
        let o = max(0, min(offset, full.count - 1))
        guard !full[o].isWhitespace else { return o..<(o + 1) }
        var lo = o, hi = o
        while lo > 0, !full[lo - 1].isWhitespace { lo -= 1 }
        while hi < full.count, !full[hi].isWhitespace { hi += 1 }
        // Without the punctuation around it ("afternoon," is "afternoon"; a link keeps its
        // inner dots and slashes), unless the press was on that punctuation.
        while hi - lo > 1, hi - 1 > o, Self.trailing.contains(full[hi - 1]) { hi -= 1 }
        while hi - lo > 1, lo < o, Self.leading.contains(full[lo]) { lo += 1 }
        return lo..<hi
    }
}

extension UIContext {
    /// The selected text from `a` to `b` (either order), entries joined by newlines.
    static func text(from a: LogPoint, to b: LogPoint, in source: LogSource) -> String {
        guard let ia = source.index(ofKey: a.key), let ib = source.index(ofKey: b.key) else { return "" }
        let (start, end) = (ia, a.offset) <= (ib, b.offset) ? ((ia, a.offset), (ib, b.offset)) : ((ib, b.offset), (ia, a.offset))
        var parts: [String] = []
        for i in start.0...end.0 {
            let full = Array(source.entry(i).fullText)
            let lo = i == start.0 ? min(start.1, full.count) : 0
            let hi = i == end.0 ? min(end.1, full.count) : full.count
            parts.append(lo < hi ? String(full[lo..<hi]) : "")
        }
        return parts.joined(separator: "\n")
    }
}
