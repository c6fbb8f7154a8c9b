/// `mono`: fingerprints and safety numbers, where l and I, 0 and O must not be confused.
public enum FontStyle: Hashable, Sendable { case regular, bold, small, mono }

/// What a frame draws, in order. A tiny renderer replays it; tests read it.
public enum DrawCommand: Equatable, Sendable {
    case rect(Rect, Color)
    case border(Rect, Color)
    case text(String, x: Int, y: Int, Color, FontStyle)
    case clip(Rect?)
}

/// Measures text; injected so layout and widgets are testable without SDL.
public protocol TextMeasuring: AnyObject {
    func width(_ text: String, style: FontStyle) -> Int
    func lineHeight(_ style: FontStyle) -> Int
}

/// Fixed-width metrics for tests: every character is `advance` points wide.
public final class MonospaceMetrics: TextMeasuring {
    public let advance: Int, height: Int
    public init(advance: Int = 8, height: Int = 16) {
        self.advance = advance
        self.height = height
    }
    public func width(_ text: String, style: FontStyle) -> Int { text.count * advance }
    public func lineHeight(_ style: FontStyle) -> Int { style == .small ? height - 2 : height }
}

public enum TextWrap {
    /// The lines an edited text is shown on, as ranges of character indices: every character
    /// is in one line but newlines, which are in none; a space where a line breaks ends the
    /// upper line (so the caret can sit on either side of it). Breaks at spaces where it can
    /// and inside words where it must, at least one character a line.
    public static func segments(_ characters: [Character], width: Int, style: FontStyle = .regular, metrics: TextMeasuring) -> [Range<Int>] {
        var out: [Range<Int>] = []
        func measure(_ range: Range<Int>) -> Int { metrics.width(String(characters[range]), style: style) }
        func wrap(_ paragraph: Range<Int>) {
            guard width > 0 else { return out.append(paragraph) }
            var lineStart = paragraph.lowerBound, next = paragraph.lowerBound
            while next < paragraph.upperBound {
                // The next word and the spaces after it.
                var wordEnd = next
                while wordEnd < paragraph.upperBound, characters[wordEnd] != " " { wordEnd += 1 }
                var tokenEnd = wordEnd
                while tokenEnd < paragraph.upperBound, characters[tokenEnd] == " " { tokenEnd += 1 }
                // More characters than points cannot fit (none is narrower than a point but
                // the invisible, which then wrap early): a 100 KB word is not measured whole.
                if wordEnd - lineStart <= width, measure(lineStart..<wordEnd) <= width {
                    next = tokenEnd
                } else if next > lineStart {
                    out.append(lineStart..<next)  // the word starts the next line
                    lineStart = next
                } else {
                    // A word wider than a line: as many of its characters as fit, measured
                    // one by one (each line costs its own characters, not the word's rest).
                    var end = lineStart + 1, used = measure(lineStart..<end)
                    while end < wordEnd {
                        let character = measure(end..<(end + 1))
                        guard used + character <= width else { break }
                        used += character
                        end += 1
                    }
                    out.append(lineStart..<end)
                    lineStart = end
                    next = end
                }
            }
            out.append(lineStart..<paragraph.upperBound)
        }
        var start = 0
        while true {
            let end = characters[start...].firstIndex(of: "\n") ?? characters.count
            wrap(start..<end)
            guard end < characters.count else { break }
            start = end + 1
        }
        return out
    }

    /// Breaks at spaces where it can and inside words where it must (a link after a "/", "?"
    /// or the like when one is in the line); keeps explicit newlines. Lines after the first
    /// are `continuationWidth` wide, if given (a hanging indent).
    public static func lines(_ text: String, width: Int, continuationWidth: Int? = nil, style: FontStyle = .regular,
                             metrics: TextMeasuring) -> [String] {
        guard width > 0 else { return [text] }
        var out: [String] = []
        func available() -> Int { out.isEmpty ? width : max(1, continuationWidth ?? width) }
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                let candidate = line.isEmpty ? String(word) : line + " " + word
                if metrics.width(candidate, style: style) <= available() {
                    line = candidate
                    continue
                }
                if !line.isEmpty { out.append(line) }
                line = ""
                // A word longer than the line: split it by characters, after the last of
                // `breaksAfter` in the piece if that keeps most of the line filled. Measured
                // one character at a time, and no more characters than points in a line (the
                // invisible are zero wide: 20,000 of them in one word were measured as ever
                // longer strings, review), so a word costs its length.
                var piece: [Character] = [], widths: [Int] = [], used = 0
                for ch in word {
                    let w = metrics.width(String(ch), style: style)
                    if used + w > available() || piece.count >= available(), !piece.isEmpty {
                        var cut = piece.count
                        if let last = piece.lastIndex(where: breaksAfter.contains), last + 1 >= piece.count / 2 { cut = last + 1 }
                        out.append(String(piece[..<cut]))
                        piece.removeFirst(cut)
                        widths.removeFirst(cut)
                        used = widths.reduce(0, +)
                    }
                    piece.append(ch)
                    widths.append(w)
                    used += w
                }
                line = String(piece)
            }
            out.append(line)
        }
        return out
    }

    /// Where a word too long for a line (a link, a path) breaks best: after one of these.
    static let breaksAfter: Set<Character> = ["/", "?", "&", "=", "-", "_", ".", ",", ";", ":", "#", "\\"]
}
