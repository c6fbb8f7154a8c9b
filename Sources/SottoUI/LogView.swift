/// The chat log: a scrollable, word-wrapped list that follows new entries only when already
/// at the bottom. It is virtual: the view is anchored at an entry (by key) and a pixel offset
/// into it, and only the entries on screen are asked for, wrapped and measured, so a frame
/// costs the visible lines whether the log holds ten entries or a million.
extension UIContext {
    struct LogState {
        var following = true
        /// The entry at the top of the view and how many pixels of it are above the view's
        /// top. Keys survive entries coming and going, and a resize re-wraps only what is
        /// shown: the same entry stays at the top.
        var topKey: Int?
        var topDelta = 0
        /// How many entries the last frame showed (the scrollbar's proportions).
        var visibleCount = 0
        /// The last entry the last frame showed, even in part: what has been seen ends there.
        var bottomKey: Int?
        var fits = true
        /// A drag of the scrollbar's thumb in progress: where it started.
        var drag: (mouseY: Int, index: Int)?
        /// The newest entry's key at the last frame: entries after it are new (entries put
        /// before the first, older history, are not).
        var lastSeenKey: Int?
        var newBelow = 0
        /// A selection by characters, from where the press was to where the mouse went
        /// (or a Shift-click); empty when the two are the same point.
        var selectionAnchor: LogPoint?
        var selectionFocus: LogPoint?
        /// The selected text for the current selection, made when the selection changes.
        var selectionText: (anchor: LogPoint, focus: LogPoint, text: String)?
        /// The button is held after a press in the log: moving extends the selection.
        var selecting = false
        /// A link the last press landed on: opened if the button comes up without a drag.
        var pressedLink: String?
        /// An entry that acts (`LogEntry.acts`), pressed: reported if released there without a drag.
        var pressedEntry: Int?
    }

    public struct LogEntry {
        public var key: Int
        public var prefix: String
        public var prefixColor: Color
        public var text: String
        public var textColor: Color?
        public var badge: String
        public var centered: Bool
        /// Drawn on a band with a bar at its left edge: the entry a search went to.
        public var marked: Bool
        /// Words a search matched, as ranges of characters in `text`: drawn on `theme.match`.
        public var highlights: [Range<Int>]
        /// Links, as ranges of characters in `text`: underlined; a click (no drag) on one
        /// reports it (`LogResult.clickedLink`).
        public var links: [Range<Int>]
        /// A click (no drag) anywhere on it, not on a link, reports its key (`LogResult.clickedEntry`).
        public var acts: Bool
        /// Drawn on a `theme.mention` band with an `accent` bar at its left edge: it calls the
        /// reader by name (under `marked`, which says more just then).
        public var mentionsReader: Bool
        public init(key: Int, prefix: String = "", prefixColor: Color = Color(140, 147, 163), text: String,
                    textColor: Color? = nil, badge: String = "", centered: Bool = false, marked: Bool = false,
                    highlights: [Range<Int>] = [], links: [Range<Int>] = [], acts: Bool = false, mentionsReader: Bool = false) {
            self.key = key; self.prefix = prefix; self.prefixColor = prefixColor; self.text = text
            self.textColor = textColor; self.badge = badge; self.centered = centered; self.marked = marked
            self.highlights = highlights; self.links = links; self.acts = acts; self.mentionsReader = mentionsReader
        }

        /// What is drawn, wrapped, selected and copied: the prefix, a space, the text.
        public var fullText: String { prefix.isEmpty ? text : prefix + " " + text }
    }

    /// What a log shows, asked for by index. Keys increase with the index (so an entry is
    /// found by key in O(log n)); only the entries drawn are made.
    public struct LogSource {
        public let count: Int
        public let entry: (Int) -> LogEntry
        public let key: (Int) -> Int
        /// Whether an entry added below the view counts as new (a message, not a notice that
        /// someone came online); nil: every one does.
        public let countsAsNew: ((Int) -> Bool)?

        public init(count: Int, entry: @escaping (Int) -> LogEntry, key: @escaping (Int) -> Int, countsAsNew: ((Int) -> Bool)? = nil) {
            self.count = count; self.entry = entry; self.key = key; self.countsAsNew = countsAsNew
        }

        public init(_ entries: [LogEntry]) {
            self.init(count: entries.count, entry: { entries[$0] }, key: { entries[$0].key })
        }

        /// The first index whose key is at least `key` (binary search).
        func lowerBound(_ key: Int) -> Int {
            var low = 0, high = count
            while low < high {
                let mid = low + (high - low) / 2
                if self.key(mid) < key { low = mid + 1 } else { high = mid }
            }
            return low
        }

        func index(ofKey key: Int) -> Int? {
            let i = lowerBound(key)
            return i < count && self.key(i) == key ? i : nil
        }
    }

    public struct LogResult {
        public var atBottom: Bool
        /// The first entry is shown from its start (older ones may be loaded above it: the
        /// view keeps its place, anchored by key).
        public var atTop: Bool
        /// Entries that arrived while scrolled up (the "N new messages" count).
        public var newBelow: Int
        public var selectedText: String
        /// The link clicked this frame (pressed and let go on it, without dragging).
        public var clickedLink: String?
        /// The key of an entry that acts, clicked.
        public var clickedEntry: Int?
    }

    public func log(_ idLabel: String, entries: [LogEntry], in r: Rect, wrapCache: LogWrapCache) -> LogResult {
        log(idLabel, source: LogSource(entries), in: r, wrapCache: wrapCache)
    }

    /// Drag selects characters across entries, a double click a word, Shift-click extends;
    /// Ctrl-C copies the selection. The scrollbar's thumb is proportional to the entries shown.
    public func log(_ idLabel: String, source: LogSource, in r: Rect, wrapCache: LogWrapCache) -> LogResult {
        let id = self.id("log:" + idLabel)
        var state = logState[id] ?? LogState()
        let lineHeight = metrics.lineHeight(.regular) + 4
        let textWidth = r.w - 20
        let count = source.count
        // This frame's entries and their wrapped lines, made once each.
        var made: [Int: (entry: LogEntry, lines: [String])] = [:]
        func item(_ i: Int) -> (entry: LogEntry, lines: [String]) {
            if let hit = made[i] { return hit }
            let entry = source.entry(i)
            let value = (entry, wrapCache.lines(for: entry, width: textWidth, indent: hangingIndent(entry, width: textWidth), metrics: metrics))
            made[i] = value
            return value
        }
        func height(_ i: Int) -> Int { item(i).lines.count * lineHeight + 2 }
        /// The anchor that shows the newest entry at the bottom (or everything from the top).
        func bottomAnchor() -> (index: Int, delta: Int) {
            var filled = 0
            var i = count - 1
            while i >= 0 {
                filled += height(i)
                if filled >= r.h { return (i, filled - r.h) }
                i -= 1
            }
            return (0, 0)
        }

        // Where the view is: at the bottom, or at the entry it was anchored to.
        var top = 0, delta = 0
        if count > 0 {
            if !state.following, let key = state.topKey {
                let i = source.lowerBound(key)
                if i < count, source.key(i) == key { (top, delta) = (i, state.topDelta) } else { (top, delta) = (min(i, count - 1), 0) }
            } else {
                (top, delta) = bottomAnchor()
            }
        }

        // The scrollbar's thumb: its size and place by entries (the log's pixel height is never
        // worked out: that would wrap every entry). Dragging it picks the entry at the top.
        let track = Rect(x: r.maxX - 8, y: r.y, w: 6, h: r.h)
        let shown = max(1, min(state.visibleCount, count))
        let span = max(1, count - shown)
        let thumbHeight = state.fits || count == 0 ? 0 : max(24, r.h * shown / count)
        let thumbY = { (index: Int) in track.y + (track.h - thumbHeight) * min(index, span) / span }
        if thumbHeight > 0 {
            let thumbID = self.id("log-thumb:" + idLabel)
            let (_, pressed, _) = interact(thumbID, Rect(x: track.x - 4, y: thumbY(top), w: track.w + 8, h: thumbHeight))
            if pressed { state.drag = (input.mouseY, top) }
        }
        if let drag = state.drag {
            if input.mouseDown || input.mousePressed {
                let travel = max(1, track.h - thumbHeight)
                top = max(0, min(count - 1, drag.index + (input.mouseY - drag.mouseY) * span / travel))
                delta = 0
                state.following = false
            } else {
                state.drag = nil
            }
        }

        // Scrolling by pixels: the wheel, and page keys wherever the focus is (text fields do
        // not use them).
        var scroll = 0
        if mouseOver(r), input.wheel != 0 { scroll -= input.wheel * lineHeight * 3 }
        if inputEnabled {
            if input.pressed(.pageUp) { scroll -= r.h - lineHeight }
            if input.pressed(.pageDown) { scroll += r.h - lineHeight }
        }
        if scroll != 0, count > 0 {
            state.following = false
            delta += scroll
        }
        // The anchor is the entry the view's top falls in: walk up or down to it.
        if count > 0 {
            while delta < 0 {
                if top == 0 { delta = 0; break }
                top -= 1
                delta += height(top)
            }
            while top < count - 1, delta >= height(top) {
                delta -= height(top)
                top += 1
            }
        }

        // Lay out from the anchor down, only as far as the view reaches.
        func layout() -> (rows: [(index: Int, y: Int, height: Int)], end: Int) {
            var rows: [(index: Int, y: Int, height: Int)] = []
            var y = r.y - delta
            var i = top
            while i < count, y < r.maxY {
                let h = height(i)
                rows.append((i, y, h))
                y += h
                i += 1
            }
            return (rows, i == count ? y : Int.max)
        }
        var (rows, end) = layout()
        if end <= r.maxY {
            // The newest entry is in view: following again. Scrolled past it, the view is
            // put back so the newest entry sits at the bottom.
            if end < r.maxY, top > 0 || delta > 0 {
                (top, delta) = bottomAnchor()
                (rows, end) = layout()
            }
            state.following = true
        }
        state.fits = top == 0 && delta == 0 && end <= r.maxY
        state.visibleCount = rows.count
        state.topKey = count > 0 ? source.key(top) : nil
        state.topDelta = delta
        state.bottomKey = rows.last.map { source.key($0.index) }

        // A log seen for the first time has nothing new in it (it may open scrolled up, at a
        // search result).
        let firstAdded = state.lastSeenKey.map { source.lowerBound($0 &+ 1) } ?? count
        let added = source.countsAsNew.map { counts in (firstAdded..<count).reduce(0) { $0 + (counts($1) ? 1 : 0) } } ?? count - firstAdded
        state.lastSeenKey = count > 0 ? source.key(count - 1) : state.lastSeenKey
        if state.following { state.newBelow = 0 } else if added > 0 { state.newBelow += added }
        // New only while below the view: those shown already are not counted (a newcomer's run:
        // "60 new messages ↓" with 21 of them on screen). Counted from the end, as far as needed.
        if state.newBelow > 0, let last = rows.last?.index {
            var below = 0, i = count - 1
            while i > last, below < state.newBelow {
                if source.countsAsNew?(i) ?? true { below += 1 }
                i -= 1
            }
            state.newBelow = below
        }

        fill(r, theme.panel)
        pushClip(r)
        if state.selecting, !input.mouseDown, !input.mousePressed { state.selecting = false }
        // The selection as (entry index, offset) bounds, for highlighting.
        var bounds: (lo: (Int, Int), hi: (Int, Int))?
        if let a = state.selectionAnchor, let b = state.selectionFocus, a != b,
           let ia = source.index(ofKey: a.key), let ib = source.index(ofKey: b.key) {
            bounds = (ia, a.offset) <= (ib, b.offset) ? ((ia, a.offset), (ib, b.offset)) : ((ib, b.offset), (ia, a.offset))
        }
        /// Fills behind characters `lo..<hi` of line `n` of an entry (a match, the selection).
        func band(_ lo: Int, _ hi: Int, inLine n: Int, layout: LogEntryLayout, y: Int, _ color: Color) {
            let x0 = layout.x(ofCharacter: lo, inLine: n, metrics: metrics)
            let x1 = layout.x(ofCharacter: hi, inLine: n, metrics: metrics)
            fill(Rect(x: r.x + 10 + x0, y: y, w: max(2, x1 - x0), h: lineHeight), color)
        }
        for row in rows {
            let i = row.index, y = row.y, h = row.height
            let (entry, lines) = item(i)
            let rowRect = Rect(x: r.x, y: y, w: r.w, h: h)
            let rowID = withID(idLabel) { self.id("entry:\(entry.key)") }
            // Not under the scrollbar: a press there drags the thumb, it selects nothing.
            let (_, pressed, _) = interact(rowID, Rect(x: rowRect.x, y: rowRect.y, w: rowRect.w - 10, h: rowRect.h).intersection(r))
            // Character positions are worked out only where a selection is made or drawn:
            // a frame that only shows the log measures nothing more.
            let inSelection = bounds.map { i >= $0.lo.0 && i <= $0.hi.0 } ?? false
            let indent = hangingIndent(entry, width: textWidth)
            let layout = pressed || state.selecting || inSelection || !entry.highlights.isEmpty || !entry.links.isEmpty
                ? LogEntryLayout(entry, lines: lines, indent: indent) : nil
            // Ranges in `text` are these offsets in what is laid out (the prefix and a space first).
            let shift = entry.prefix.isEmpty ? 0 : entry.prefix.count + 1
            // Where the mouse is in this entry, if on it: the line under it, the character nearest.
            let mouseLine = min(max(0, (input.mouseY - y - 2) / lineHeight), lines.count - 1)
            let onRow = input.mouseY >= y && input.mouseY < y + h
            func mousePoint() -> LogPoint {
                guard let layout else { return LogPoint(key: entry.key, offset: 0) }
                return LogPoint(key: entry.key, offset: entry.centered ? 0 : layout.offset(atX: input.mouseX - r.x - 10, inLine: mouseLine, metrics: metrics))
            }
            if pressed {
                let point = mousePoint()
                if input.modifiers.contains(.shift), state.selectionAnchor != nil {
                    state.selectionFocus = point
                } else if input.clickCount >= 3, let layout {
                    // A triple click: the message's whole text.
                    state.selectionAnchor = LogPoint(key: entry.key, offset: layout.textRange.lowerBound)
                    state.selectionFocus = LogPoint(key: entry.key, offset: layout.textRange.upperBound)
                } else if input.clickCount >= 2 {
                    let word = layout?.word(at: point.offset) ?? 0..<0
                    state.selectionAnchor = LogPoint(key: entry.key, offset: word.lowerBound)
                    state.selectionFocus = LogPoint(key: entry.key, offset: word.upperBound)
                } else {
                    state.selectionAnchor = point
                    state.selectionFocus = point
                    state.pressedLink = entry.links.first { $0.contains(point.offset - shift) }.map { link in
                        String(Array(entry.text)[link])
                    }
                    state.pressedEntry = entry.acts ? entry.key : nil
                }
                state.selecting = input.clickCount < 2
            } else if state.selecting, onRow, input.mouseDown {
                state.selectionFocus = mousePoint()
            }
            if entry.marked {
                fill(Rect(x: r.x + 2, y: y, w: r.w - 4, h: h), theme.marked)
                fill(Rect(x: r.x + 2, y: y, w: 3, h: h), theme.warning)
            } else if entry.mentionsReader {
                fill(Rect(x: r.x + 2, y: y, w: r.w - 4, h: h), theme.mention)
                fill(Rect(x: r.x + 2, y: y, w: 3, h: h), theme.accent)
            }
            for (n, line) in lines.enumerated() {
                let ly = y + 2 + n * lineHeight
                guard ly + lineHeight > r.y, ly < r.maxY else { continue }
                // The words a search matched, behind their text (a word may run across lines).
                if !entry.highlights.isEmpty, let layout, !entry.centered {
                    let lineStart = layout.starts[n], lineEnd = layout.starts[n] + line.count
                    for match in entry.highlights {
                        let lo = max(match.lowerBound + shift, lineStart), hi = min(match.upperBound + shift, lineEnd)
                        guard lo < hi else { continue }
                        band(lo - lineStart, hi - lineStart, inLine: n, layout: layout, y: ly, theme.match)
                    }
                }
                // Links underlined, where a click opens them.
                if !entry.links.isEmpty, let layout, !entry.centered {
                    let lineStart = layout.starts[n], lineEnd = layout.starts[n] + line.count
                    for link in entry.links {
                        let lo = max(link.lowerBound + shift, lineStart), hi = min(link.upperBound + shift, lineEnd)
                        guard lo < hi else { continue }
                        let x0 = layout.x(ofCharacter: lo - lineStart, inLine: n, metrics: metrics)
                        let x1 = layout.x(ofCharacter: hi - lineStart, inLine: n, metrics: metrics)
                        fill(Rect(x: r.x + 10 + x0, y: ly + lineHeight - 2, w: max(1, x1 - x0), h: 1), theme.link)
                    }
                }
                // The selected part of this line, highlighted behind its text.
                if let bounds, let layout, !entry.centered {
                    let lineStart = layout.starts[n], lineEnd = layout.starts[n] + line.count
                    let lo = (i, lineStart) < bounds.lo ? (i == bounds.lo.0 ? bounds.lo.1 : Int.max) : lineStart
                    let hi = (i, lineEnd) > bounds.hi ? (i == bounds.hi.0 ? bounds.hi.1 : Int.min) : lineEnd
                    if (i, lineEnd) >= bounds.lo, (i, lineStart) <= bounds.hi, lo < hi {
                        band(lo - lineStart, hi - lineStart, inLine: n, layout: layout, y: ly, theme.selection)
                    }
                }
                if entry.centered {
                    // Inside a selection it is copied with it: shown so (a newcomer's run: a
                    // copy held a system line drawn as not selected).
                    if let bounds, (i, 0) >= bounds.lo, i < bounds.hi.0 {
                        let w = metrics.width(line, style: .small)
                        fill(Rect(x: r.x + (r.w - w) / 2 - 2, y: ly, w: w + 4, h: lineHeight), theme.selection)
                    }
                    label(line, in: Rect(x: r.x, y: ly, w: r.w, h: lineHeight), color: entry.textColor ?? theme.mutedText, style: .small, align: .center)
                    continue
                }
                if n == 0, !entry.prefix.isEmpty {
                    drawText(entry.prefix, x: r.x + 10, y: ly, color: entry.prefixColor, style: .bold)
                    let px = metrics.width(entry.prefix, style: .bold) + metrics.width(" ", style: .regular)
                    drawText(String(line.dropFirst(entry.prefix.count + 1)), x: r.x + 10 + px, y: ly, color: entry.textColor)
                } else {
                    drawText(line, x: r.x + 10 + (n == 0 ? 0 : indent), y: ly, color: entry.textColor)
                }
                if n == 0, !entry.badge.isEmpty {
                    label(entry.badge, in: Rect(x: r.maxX - 38, y: ly, w: 28, h: lineHeight), color: theme.success, style: .small, align: .center)
                }
            }
        }
        // Dragged above or below the log: the selection runs to the first or last line shown.
        if state.selecting, input.mouseDown, let first = rows.first, let last = rows.last {
            if input.mouseY < r.y { state.selectionFocus = LogPoint(key: source.key(first.index), offset: 0) }
            if input.mouseY >= r.maxY { state.selectionFocus = LogPoint(key: source.key(last.index), offset: item(last.index).entry.fullText.count) }
        }
        popClip()
        if !state.fits {
            let shownNow = max(1, rows.count)
            let thumbNow = max(24, r.h * shownNow / max(1, count))
            let spanNow = max(1, count - shownNow)
            fill(track, theme.panelAlt)
            fill(Rect(x: track.x, y: track.y + (track.h - thumbNow) * min(top, spanNow) / spanNow, w: track.w, h: thumbNow),
                 state.drag == nil ? theme.border : theme.mutedText)
        }
        if input.pressed(.escape) { state.selectionAnchor = nil; state.selectionFocus = nil }
        // A press on the log below its last entry (or beside the scrollbar's track) deselects,
        // as in any text view (a newcomer's run: only Escape or a click on text did).
        if inputEnabled, input.mousePressed, mouseOver(r), !track.contains(input.mouseX, input.mouseY),
           !rows.contains(where: { input.mouseY >= $0.y && input.mouseY < $0.y + $0.height }) {
            state.selectionAnchor = nil
            state.selectionFocus = nil
        }
        var selectedText = ""
        if let a = state.selectionAnchor, let b = state.selectionFocus, a != b {
            // Made when the selection changes, not every frame: it may span many entries.
            if let cached = state.selectionText, cached.anchor == a, cached.focus == b {
                selectedText = cached.text
            } else {
                selectedText = Self.text(from: a, to: b, in: source)
                state.selectionText = (a, b, selectedText)
            }
            // Whenever the log has a selection, Ctrl-C copies it, wherever the focus is (the
            // composer's own copy, drawn before, is overridden).
            if inputEnabled, input.pressed(.c, .control), !selectedText.isEmpty { setClipboard(selectedText) }
        } else {
            state.selectionText = nil
        }
        // A link (or an entry that acts) pressed is opened when the button comes up over the
        // log without a drag (the press and the release may be in one frame); any release
        // forgets it (kept in the state, it fired again at a later release over the log).
        var clickedLink: String?, clickedEntry: Int?
        if input.mouseReleased {
            let click = state.selectionAnchor == state.selectionFocus && r.contains(input.mouseX, input.mouseY)
            if click { clickedLink = state.pressedLink }
            if click, clickedLink == nil { clickedEntry = state.pressedEntry }
            state.pressedLink = nil
            state.pressedEntry = nil
        }
        logState[id] = state
        return LogResult(atBottom: state.following, atTop: count > 0 && top == 0 && delta == 0, newBelow: state.newBelow, selectedText: selectedText,
                         clickedLink: clickedLink, clickedEntry: clickedEntry)
    }

    /// Shows the entry with this key at the top of a log (a search result jumped to).
    public func scrollLog(_ idLabel: String, toKey key: Int) {
        let id = self.id("log:" + idLabel)
        var state = logState[id, default: LogState()]
        state.following = false
        state.topKey = key
        state.topDelta = 0
        logState[id] = state
    }

    /// Where an entry's wrapped lines start, after its first: under its text, past the
    /// time and sender, as chat clients align them; at most a third of the line, so a long
    /// prefix in a narrow window leaves room for the text.
    func hangingIndent(_ entry: LogEntry, width: Int) -> Int {
        guard !entry.prefix.isEmpty, !entry.centered else { return 0 }
        return min(metrics.width(entry.prefix, style: .bold) + metrics.width(" ", style: .regular), max(0, width / 3))
    }

    /// Forgets a log's selection (the log is taken somewhere else: a search result).
    public func clearLogSelection(_ idLabel: String) {
        let id = self.id("log:" + idLabel)
        logState[id]?.selectionAnchor = nil
        logState[id]?.selectionFocus = nil
    }

    /// Entries up to this key are gone for good (a long log let its oldest go): a selection
    /// reaching into them is forgotten, not copied in part.
    public func forgetLogEntries(_ idLabel: String, through key: Int) {
        let id = self.id("log:" + idLabel)
        guard let state = logState[id] else { return }
        if let anchor = state.selectionAnchor, let focus = state.selectionFocus, min(anchor.key, focus.key) <= key {
            clearLogSelection(idLabel)
        }
    }

    /// Jumps a log to its newest entry (the "N new messages ↓" button).
    public func scrollLogToBottom(_ idLabel: String) {
        let id = self.id("log:" + idLabel)
        logState[id, default: LogState()].following = true
    }
}

/// Wrapped lines per log entry and width, so an entry is wrapped once, not per frame. Only
/// entries that were shown are ever wrapped.
public final class LogWrapCache {
    private var cache: [Int: (width: Int, full: String, badged: Bool, lines: [String])] = [:]
    public init() {}

    /// Keyed by entry and width, and checked against the text: a line whose text changes
    /// under the same key (a message marked "(not sent)") is wrapped again.
    func lines(for entry: UIContext.LogEntry, width: Int, indent: Int, metrics: TextMeasuring) -> [String] {
        let full = entry.fullText
        let badged = !entry.badge.isEmpty
        if let hit = cache[entry.key], hit.width == width, hit.badged == badged, hit.full == full { return hit.lines }
        // The prefix is drawn bold, wider than measured here as part of the text; the badge
        // needs its column and a gap ("…across the whole" ran into "e2e"); lines after the
        // first start at the indent.
        let boldExtra = entry.prefix.isEmpty ? 0 : max(0, metrics.width(entry.prefix, style: .bold) - metrics.width(entry.prefix, style: .regular))
        let available = width - (badged ? 36 : 0)
        var lines = TextWrap.lines(full, width: available - boldExtra, continuationWidth: available - indent, metrics: metrics)
        if lines.count > 1, lines[0] == entry.prefix, !entry.prefix.isEmpty {
            // A first word longer than what the name leaves of the line (a link, most often)
            // starts beside the name, broken there, not under it with the name alone above (a
            // newcomer's run).
            let beside = available - boldExtra - metrics.width(entry.prefix + " ", style: .regular)
            let text = TextWrap.lines(entry.text, width: beside, continuationWidth: available - indent, metrics: metrics)
            lines = [entry.prefix + " " + text[0]] + text.dropFirst()
        }
        cache[entry.key] = (width, full, badged, lines)
        return lines
    }

    public func invalidate() { cache = [:] }

    /// Entries that are gone: their wrapped lines go too.
    public func forget(_ keys: some Sequence<Int>) {
        for key in keys { cache[key] = nil }
    }

    /// Entries wrapped and kept (tests: the cache holds no more than the logs do).
    public var count: Int { cache.count }
}
