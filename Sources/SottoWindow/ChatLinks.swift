/// Web links in a message, where a click opens them: `http://` and `https://` at the start of
/// a word, up to the next space, less the punctuation a sentence puts after a link (a closing
/// bracket stays when the link opened one, as Wikipedia's do). Only links written in plain
/// ASCII: a look-alike host (`аpple.com` with a Cyrillic а) or a bidi override would open
/// somewhere other than it reads, so such a text stays text, to be copied if wanted.
enum ChatLinks {
    /// Ranges of characters of `text` that are links.
    static func find(in text: String) -> [Range<Int>] {
        // Most messages have none: looked at only when one may be there.
        guard text.contains("://") else { return [] }
        let characters = Array(text)
        var links: [Range<Int>] = []
        var i = 0
        while i < characters.count {
            guard startsLink(characters, at: i), i == 0 || !isWordCharacter(characters[i - 1]) else { i += 1; continue }
            var end = i
            // Nor past a character no address holds (RFC 3986): `<a href="http://x">y</a>`
            // underlined `http://x">y</a`, a click away from opening that.
            while end < characters.count, !characters[end].isWhitespace, !Self.neverInAddress.contains(characters[end]) { end += 1 }
            while end > i, trailing.contains(characters[end - 1]) {
                // A closing bracket the link itself opened is part of it.
                if let open = brackets[characters[end - 1]],
                   characters[i..<end - 1].filter({ $0 == open }).count > characters[i..<end - 1].filter({ $0 == characters[end - 1] }).count {
                    break
                }
                end -= 1
            }
            let candidate = characters[i..<end]
            if candidate.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.asciiValue.map { $0 >= 0x21 && $0 < 0x7f } == true }),
               let scheme = candidate.firstIndex(of: ":"), candidate.distance(from: scheme, to: candidate.endIndex) > 3,
               hasHost(candidate) {
                links.append(i..<end)
            }
            i = max(end, i + 1)
        }
        return links
    }

    private static let neverInAddress: Set<Character> = ["\"", "<", ">", "`"]
    private static let trailing: Set<Character> = [".", ",", ";", ":", "!", "?", "'", "\"", ")", "]", "}", ">"]
    private static let brackets: [Character: Character] = [")": "(", "]": "[", "}": "{"]

    private static func startsLink(_ characters: [Character], at i: Int) -> Bool {
        for prefix in ["https://", "http://"] where characters.count - i >= prefix.count {
            if String(characters[i..<i + prefix.count]).lowercased() == prefix { return true }
        }
        return false
    }

    private static func isWordCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

    /// Something after the "//" before the first "/", "?" or "#".
    private static func hasHost(_ link: ArraySlice<Character>) -> Bool {
        guard let slashes = link.firstRange(of: ["/", "/"]) else { return false }
        let rest = link[slashes.upperBound...]
        return !(rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }).isEmpty
    }
}
