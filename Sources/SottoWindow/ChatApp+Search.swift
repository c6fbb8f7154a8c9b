import Foundation
import SottoClient
import SottoCore
import SottoUI

/// The search panel (Ctrl+F): every kept conversation searched off the frame, the results
/// listed, and a click that opens the conversation at the message.
extension ChatApp {
    /// "3 kept messages", or, when the results reached their limit (more may match), "The
    /// newest 100 kept messages".
    static func foundCount(_ count: Int) -> String {
        count >= searchResults ? "The newest \(count) kept messages" : "\(count) kept message\(count == 1 ? "" : "s")"
    }

    /// Lines shown above a search result, so what led to it shows too.
    static let resultContext = 3
    /// A found message listed on one line starts this many characters before its first
    /// matched word, at a word, when that word lies past what the line shows.
    static let resultLead = 24

    /// A found message as one line: its line breaks drawn as ↵ and controls escaped (what
    /// others wrote is shown, not obeyed), from a few words before the first match when that
    /// lies past the first `fits` characters (with "…" before; nil: never), and where the
    /// matched words are in that line. A line that shows `fits` characters gets at most twice
    /// that (a 60 KB message was measured whole for its ellipsis in every frame). Linear in
    /// the text, whatever the number of matches.
    static func resultLine(_ text: String, matches: [Range<Int>], fits: Int?) -> (text: String, highlights: [Range<Int>]) {
        var characters = Array(text)
        let valid = matches.filter { $0.lowerBound >= 0 && $0.upperBound <= characters.count && !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
        var start = 0
        if let fits, let first = valid.first, first.upperBound > fits, first.lowerBound > Self.resultLead {
            // Back to the start of a word about `resultLead` characters before the match.
            start = first.lowerBound - Self.resultLead
            // At a word's start when there is one before the match (inside a link there may be
            // none: then mid-word, rather than at the match with nothing before it).
            let wordStart = (start..<first.lowerBound).first { $0 > 0 && characters[$0 - 1].isWhitespace }
            if let wordStart { start = wordStart }
        }
        if let fits, characters.count > start + 2 * fits { characters = Array(characters[..<(start + 2 * fits)]) }
        func shown(_ part: ArraySlice<Character>) -> String {
            TerminalText.escaped(String(part).split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " ↵ "))
        }
        var line = start > 0 ? "…" : ""
        var length = line.count
        var highlights: [Range<Int>] = []
        var position = start
        for match in valid where match.lowerBound >= position && match.upperBound <= characters.count {
            let before = shown(characters[position..<match.lowerBound]), word = shown(characters[match])
            line += before
            length += before.count
            highlights.append(length..<(length + word.count))
            line += word
            length += word.count
            position = match.upperBound
        }
        line += shown(characters[position...])
        return (line, highlights)
    }

    /// A search result chosen in the panel: its conversation opens at it, loading what lies
    /// between it and the oldest line shown first if it is not shown yet.
    func jump(to result: StoredMessage) {
        let conversation = result.conversation
        let target = ChatModel.messageID(from: result.from, result.clientMessageID)
        searchOpen = false
        model.open(conversation)
        markedMessage = (conversation, target, result.matches)  // which line matched, where several are shown
        // A selection left in it would cover the words found (a newcomer's run).
        ui.clearLogSelection(conversation.logID)
        // Focused from the next frame's start: a key typed right after is not lost.
        ui.focus(ui.id("field:message"))
        if showMessage(target, in: conversation) { return }
        // Up to the oldest line shown: a kept page's row, or the first message of a log whose
        // top was let go (`ChatModel.trimmed`; up to the newest then, it read the whole rest).
        let log = model.conversations[conversation]
        let oldestKept = log?.oldestKept, olderBefore = log?.olderBefore
        askHistory(conversation) { store in
            let before = try oldestKept ?? olderBefore.flatMap { try store.rowBound(($0.sender, $0.clientMessageID), inclusive: $0.inclusive) } ?? Int64.max
            return .upTo(target: target, try store.range(in: conversation, from: result.id, before: before, context: Self.resultContext))
        }
    }

    /// Puts the line of this message near the top of its conversation's log, `context` lines
    /// below the top so what led to it shows too; false if it is not loaded.
    @discardableResult
    func showMessage(_ messageID: String, in conversation: Conversation, context: Int = resultContext) -> Bool {
        guard let lines = model.conversations[conversation]?.lines,
              let index = lines.firstIndex(where: { $0.messageID == messageID }) else { return false }
        ui.scrollLog(conversation.logID, toKey: lines[max(0, index - context)].key)
        return true
    }

    /// The search panel, in place of the log while open: a field (Enter searches every kept
    /// conversation, off the frame) and the results, newest first; Escape closes it.
    func searchPanel(in area: Rect) {
        let t = ui.theme
        var r = area
        var bar = r.cutTop(48).inset(x: 10, y: 8)
        if ui.button("Close", in: bar.cutRight(80), idLabel: "search-close") || ui.input.pressed(.escape) {
            searchOpen = false
            ui.focus(ui.id("field:message"))
            return
        }
        _ = bar.cutRight(8)
        let field = ui.textField("search", text: &searchQuery, in: bar, placeholder: "Search messages kept on this device…")
        if focusSearchNextFrame {
            focusSearchNextFrame = false
            ui.focusSelectingAll(ui.id("field:search"))
        }
        let words = searchQuery.trimmingCharacters(in: .whitespaces)
        // From the keyboard: Down and Up go through the results, Enter opens the one chosen
        // (a newcomer's run: none could be reached without the mouse). Typing chooses none.
        if field.changed { searchChosen = nil }
        if field.historyStep != 0, let count = searchResults?.found.count, count > 0 {
            searchChosen = max(0, min(count - 1, (searchChosen ?? -1) + field.historyStep))
        }
        if field.submitted, let chosen = searchChosen, let found = searchResults?.found, found.indices.contains(chosen) {
            return jump(to: found[chosen])
        }
        if field.submitted, words.contains(where: { $0.isLetter || $0.isNumber }) {
            askHistory(model.current) { store in .panel(words: words, try store.search(words, limit: Self.searchResults)) }
        }
        ui.fill(r, t.panel)
        guard let results = searchResults else {
            ui.label("Type words and press Enter: every conversation kept on this device is searched.", in: r.cutTop(40).inset(x: 14, y: 0),
                     color: t.mutedText, style: .small)
            return
        }
        let shownWords = TerminalText.escaped(results.words)
        ui.label(results.found.isEmpty ? "No kept message contains \(shownWords)."
                                       : "\(Self.foundCount(results.found.count)) containing \(shownWords), newest first — click one to go to it (or Down, then Enter):",
                 in: r.cutTop(32).inset(x: 14, y: 0), color: t.mutedText, style: .small)
        // About how many characters a result's line shows (it ends in "…" past them).
        let fits = max(Self.resultLead * 2, (r.w - 20) / max(1, ui.metrics.width("abcdefghij", style: .regular) / 10))
        // Made once per answer and width, not in every frame.
        if searchItems?.fits != fits {
            searchItems = (fits, results.found.map { m -> UIContext.ListItem in
                let place = m.conversation == .room ? "# room" : "@ \(m.conversation.recipient)"
                let (text, highlights) = Self.resultLine(m.text, matches: m.matches, fits: fits)
                // The message first, where the eye goes; who, where and when under it (the bold
                // coloured header line drew the eye away from what was found).
                return UIContext.ListItem(title: text, detail: "\(TerminalText.escaped(m.from)) · \(TerminalText.escaped(place)) · \(ChatModel.dateAndClock.string(from: m.time))",
                                          titleStyle: .regular, titleHighlights: highlights)
            })
        }
        let items = searchItems?.items ?? []
        if let picked = ui.list("search-results", items: items, selected: searchChosen, in: r, rowHeight: 44, revealing: searchChosen) {
            jump(to: results.found[picked])
        }
    }
}
