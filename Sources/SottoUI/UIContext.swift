/// The immediate-mode UI: each frame the app describes the interface from its state
/// (`if ui.button("Connect", in: r) { … }`) and gets back a list of draw commands. What
/// persists between frames is only what must: focus, the hot/active widget, scroll
/// offsets, text-edit states.
public final class UIContext {
    public typealias ID = UInt64

    public var theme = Theme()
    public let metrics: TextMeasuring
    public var input = InputState()
    /// Platform clipboard (SDL in the app, a string in tests).
    public var getClipboard: () -> String = { "" }
    public var setClipboard: (String) -> Void = { _ in }

    public private(set) var width = 0
    public private(set) var height = 0
    public private(set) var time: Double = 0

    // Persistent state.
    public private(set) var focused: ID?
    public private(set) var hot: ID?
    public private(set) var active: ID?
    private var scrollOffsets: [ID: Int] = [:]
    private var edits: [ID: TextEditState] = [:]
    private var lastFocusOrder: [ID] = []
    private var logState: [ID: LogState] = [:]
    /// Where each interactive widget was last drawn (tests click through these).
    public private(set) var widgetRects: [ID: Rect] = [:]

    // Per frame.
    private var commands: [DrawCommand] = []
    private var overlay: [DrawCommand] = []
    private var inOverlay = false
    /// Where an overlay widget will be drawn this frame: widgets beneath ignore the mouse
    /// there, so a click on a floating button never reaches the row under it.
    private var overlayRects: [Rect] = []
    private var focusOrder: [ID] = []
    private var idStack: [ID] = [14_695_981_039_346_656_037]
    private var clipStack: [Rect] = []
    private var nextHot: ID?
    private var tabRequest: Int = 0
    private var pendingFocus: ID?
    /// False while a modal dialog owns the input (widgets behind it are inert).
    public var inputEnabled = true
    /// Set by widgets when something will change without new input (caret blink).
    public private(set) var wantsTimer = false
    /// The frame changed state it did not show yet (focus moved): draw one more.
    public private(set) var needsAnotherFrame = false

    public init(metrics: TextMeasuring) { self.metrics = metrics }

    // MARK: Frame

    public func beginFrame(width: Int, height: Int, time: Double) {
        self.width = width
        self.height = height
        self.time = time
        commands = []
        overlay = []
        overlayRects = []
        focusOrder = []
        clipStack = []
        nextHot = nil
        wantsTimer = false
        inputEnabled = true
        tabRequest = 0
        if input.pressed(.tab) { tabRequest = 1 }
        if input.pressed(.tab, .shift) { tabRequest = -1 }
        commands.append(.rect(Rect(x: 0, y: 0, w: width, h: height), theme.background))
    }

    /// Finishes the frame: resolves Tab focus moves, returns what to draw.
    public func endFrame() -> [DrawCommand] {
        let focusBefore = focused
        if tabRequest != 0, !focusOrder.isEmpty {
            let current = focused.flatMap { focusOrder.firstIndex(of: $0) }
            let next: Int
            if let current {
                next = (current + tabRequest + focusOrder.count) % focusOrder.count
            } else {
                next = tabRequest > 0 ? 0 : focusOrder.count - 1
            }
            focused = focusOrder[next]
            if let id = focused, var e = edits[id] { e.selectAll(); edits[id] = e }
        }
        if let pendingFocus { focused = pendingFocus; self.pendingFocus = nil }
        // A focused widget that was not drawn this frame loses focus.
        if let f = focused, !focusOrder.contains(f) { focused = nil }
        lastFocusOrder = focusOrder
        // Input can change state after the widget that shows it was drawn (a history step,
        // a dialog closed by Escape): the frame after any input draws it. Idle frames stay free.
        let hadInput = input.mousePressed || input.mouseReleased || input.wheel != 0 || !input.keys.isEmpty || !input.text.isEmpty
        needsAnotherFrame = focused != focusBefore || hot != nextHot || hadInput
        hot = nextHot
        if input.mouseReleased { active = nil }
        input.nextFrame()
        return commands + overlay
    }

    // MARK: IDs

    /// FNV-1a of the label, seeded by the enclosing id scope.
    public func id(_ label: String) -> ID {
        var hash = idStack.last!
        for byte in label.utf8 {
            hash ^= UInt64(byte)
            hash &*= 1_099_511_628_211
        }
        return hash
    }

    public func withID<T>(_ label: String, _ body: () -> T) -> T {
        idStack.append(id(label))
        defer { idStack.removeLast() }
        return body()
    }

    public func focus(_ id: ID) { pendingFocus = id }

    /// Focuses a text field with its whole text selected (to be retyped).
    public func focusSelectingAll(_ id: ID) {
        pendingFocus = id
        if var e = edits[id] { e.selectAll(); edits[id] = e }
    }
    public func isFocused(_ id: ID) -> Bool { focused == id }

    // MARK: Drawing

    public func draw(_ command: DrawCommand) {
        if inOverlay { overlay.append(command) } else { commands.append(command) }
    }

    public func fill(_ r: Rect, _ c: Color) { draw(.rect(r, c)) }
    public func stroke(_ r: Rect, _ c: Color) { draw(.border(r, c)) }

    public func drawText(_ s: String, x: Int, y: Int, color: Color? = nil, style: FontStyle = .regular) {
        guard !s.isEmpty else { return }
        draw(.text(s, x: x, y: y, color ?? theme.text, style))
    }

    public enum Alignment { case leading, center, trailing }

    /// Draws one line of text vertically centred in `r`, clipped to it.
    public func label(_ text: String, in r: Rect, color: Color? = nil, style: FontStyle = .regular, align: Alignment = .leading) {
        // What does not fit (the rect, or what is visible of it) ends in an ellipsis rather
        // than being cut mid-character.
        let visible = (clipStack.last ?? Rect(x: 0, y: 0, w: width, h: height)).intersection(r)
        let s = fitted(text, width: max(0, visible.w), style: style)
        let w = metrics.width(s, style: style)
        let x: Int
        switch align {
        case .leading: x = r.x
        case .center: x = r.x + (r.w - w) / 2
        case .trailing: x = r.maxX - w
        }
        pushClip(r)
        drawText(s, x: x, y: r.y + (r.h - metrics.lineHeight(style)) / 2, color: color, style: style)
        popClip()
    }

    /// The text, or as much of it as fits with "…" after it (by whole characters).
    public func fitted(_ text: String, width available: Int, style: FontStyle) -> String {
        guard metrics.width(text, style: style) > available else { return text }
        let characters = Array(text)
        var low = 0, high = characters.count
        while low < high {
            let mid = (low + high + 1) / 2
            if metrics.width(String(characters[..<mid]) + "…", style: style) <= available { low = mid } else { high = mid - 1 }
        }
        return low == 0 ? "" : String(characters[..<low]).trimmingTrailingSpaces + "…"
    }

    public func pushClip(_ r: Rect) {
        let clipped = clipStack.last.map { $0.intersection(r) } ?? r
        clipStack.append(clipped)
        draw(.clip(clipped))
    }

    public func popClip() {
        clipStack.removeLast()
        draw(.clip(clipStack.last))
    }

    /// Everything drawn inside goes on top of the rest of the frame (dialogs, popups).
    public func overlayLayer(_ body: () -> Void) {
        let was = inOverlay
        inOverlay = true
        defer { inOverlay = was }
        body()
    }

    // MARK: Interaction

    private func mouseOver(_ r: Rect) -> Bool {
        guard inputEnabled, r.contains(input.mouseX, input.mouseY), clipStack.last?.contains(input.mouseX, input.mouseY) ?? true else { return false }
        return inOverlay || !overlayRects.contains { $0.contains(input.mouseX, input.mouseY) }
    }

    /// Declares, before what lies beneath is drawn, where an overlay widget will be.
    public func reserveOverlay(_ r: Rect) { overlayRects.append(r) }

    /// Whether a log shows its newest entry (follows what arrives).
    public func isLogFollowing(_ idLabel: String) -> Bool { logState[id("log:" + idLabel)]?.following ?? true }

    /// Hot/active bookkeeping; returns true when the widget was clicked (pressed and released over it).
    private func interact(_ id: ID, _ r: Rect) -> (hovered: Bool, pressed: Bool, clicked: Bool) {
        widgetRects[id] = r
        let over = mouseOver(r)
        if over { nextHot = id }
        var pressed = false
        if over, input.mousePressed {
            active = id
            pressed = true
        }
        let clicked = over && input.mouseReleased && active == id
        return (over, pressed, clicked)
    }

    private func registerFocusable(_ id: ID) { if inputEnabled { focusOrder.append(id) } }

    /// A clicked button or checkbox takes the focus only from another button: typing
    /// belongs in the text field, so a click never leaves keystrokes with nowhere to go
    /// (Tab still reaches buttons for the keyboard).
    private func takeFocusOnClick(_ id: ID) {
        if let f = focused, edits[f] != nil, focusOrder.contains(f) || lastFocusOrder.contains(f) { return }
        focused = id
    }

    // MARK: Widgets

    public enum ButtonStyle { case normal, primary, danger, link }

    /// A button; true on click, or on Enter/Space while focused.
    @discardableResult
    public func button(_ title: String, in r: Rect, style: ButtonStyle = .normal, enabled: Bool = true, idLabel: String? = nil) -> Bool {
        let id = self.id(idLabel ?? "button:" + title)
        registerFocusable(id)
        let (over, pressed, clicked) = enabled ? interact(id, r) : (false, false, false)
        if pressed { takeFocusOnClick(id) }
        let keyed = enabled && inputEnabled && focused == id && (input.pressed(.enter) || input.text == " ")
        var bg: Color, fg: Color
        switch style {
        case .primary: bg = theme.accent; fg = theme.accentText
        case .danger: bg = theme.danger; fg = theme.accentText
        case .normal: bg = over ? theme.hover : theme.panelAlt; fg = theme.text
        case .link: bg = over ? theme.hover : theme.panel; fg = theme.accent
        }
        if !enabled { bg = theme.panelAlt; fg = theme.mutedText }
        if style != .link || over { fill(r, bg) }
        if focused == id { stroke(r, theme.focus) } else if style == .normal { stroke(r, theme.border) }
        label(title, in: r, color: fg, style: style == .primary ? .bold : .regular, align: .center)
        return clicked || keyed
    }

    @discardableResult
    public func checkbox(_ title: String, value: inout Bool, in r: Rect) -> Bool {
        let id = self.id("checkbox:" + title)
        registerFocusable(id)
        let (_, pressed, clicked) = interact(id, r)
        if pressed { takeFocusOnClick(id) }
        let toggled = clicked || (inputEnabled && focused == id && input.text == " ")
        if toggled { value.toggle() }
        let box = Rect(x: r.x, y: r.y + (r.h - 16) / 2, w: 16, h: 16)
        fill(box, value ? theme.accent : theme.fieldBackground)
        stroke(box, focused == id ? theme.focus : theme.border)
        if value { label("✓", in: box, color: theme.accentText, style: .small, align: .center) }
        label(title, in: Rect(x: box.maxX + 8, y: r.y, w: r.w - 24, h: r.h), color: theme.text)
        return toggled
    }

    public struct FieldResult: Equatable {
        public var changed = false
        public var submitted = false
        /// Up/Down while the field is focused (the chat input uses them for history).
        public var historyStep = 0
    }

    /// A text field bound to `text`. Single line unless `multiline` (then Shift-Enter adds a
    /// line and Enter submits). `secure` draws bullets, and copy/cut are refused.
    @discardableResult
    public func textField(_ idLabel: String, text: inout String, in r: Rect, placeholder: String = "",
                          secure: Bool = false, multiline: Bool = false, invalid: Bool = false) -> FieldResult {
        let id = self.id("field:" + idLabel)
        registerFocusable(id)
        var state = edits[id] ?? TextEditState(text)
        state.setText(text)
        var result = FieldResult()
        let (_, pressed, _) = interact(id, r)
        let inner = r.inset(x: 8, y: 4)
        func display(_ s: String) -> String { secure ? String(repeating: "•", count: s.count) : s }
        if pressed {
            focused = id
            // Caret to the clicked character (single-line hit test).
            let shown = Array(display(state.text))
            var index = shown.count
            for i in 0..<shown.count where metrics.width(String(shown[0...i]), style: .regular) - metrics.width(String(shown[i]), style: .regular) / 2 > input.mouseX - inner.x {
                index = i
                break
            }
            state.placeCaret(index, selecting: input.keys.contains { $0.1.contains(.shift) })
        }
        if focused == id && inputEnabled {
            wantsTimer = true
            let before = state.text
            for (key, mods) in input.keys {
                let word = mods.contains(.control), select = mods.contains(.shift)
                switch key {
                case .left: state.move(word ? .wordLeft : .left, selecting: select)
                case .right: state.move(word ? .wordRight : .right, selecting: select)
                case .home: state.move(.home, selecting: select)
                case .end: state.move(.end, selecting: select)
                case .backspace: state.backspace(word: word)
                case .delete: state.deleteForward(word: word)
                case .a where mods == .control: state.selectAll()
                case .c where mods == .control: if !secure, !state.selectedText.isEmpty { setClipboard(state.selectedText) }
                case .x where mods == .control:
                    if !secure, !state.selectedText.isEmpty { setClipboard(state.selectedText); state.deleteSelection() }
                case .v where mods == .control:
                    var pasted = getClipboard()
                    if !multiline { pasted = String(pasted.map { $0.isNewline ? " " : $0 }) }
                    state.insert(pasted)
                case .enter where multiline && select: state.insert("\n")
                case .enter: result.submitted = true
                case .up: result.historyStep = -1
                case .down: result.historyStep = 1
                default: break
                }
            }
            if !input.text.isEmpty { state.insert(input.text) }
            if state.text != before {
                result.changed = true
                text = state.text
            }
        }
        edits[id] = state

        fill(r, theme.fieldBackground)
        stroke(r, invalid ? theme.danger : (focused == id ? theme.focus : theme.border))
        pushClip(inner)
        let lineHeight = metrics.lineHeight(.regular)
        if state.text.isEmpty && (focused != id || input.composition.isEmpty) {
            drawText(fitted(placeholder, width: inner.w, style: .regular), x: inner.x, y: multiline ? inner.y : inner.y + (inner.h - lineHeight) / 2, color: theme.mutedText)
        }
        let lines = display(state.text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let top = multiline ? inner.y : inner.y + (inner.h - lineHeight) / 2
        // Caret position (line and column) in display characters.
        var caretLine = 0, caretColumn = state.caret
        for (i, line) in lines.enumerated() {
            if caretColumn <= line.count { caretLine = i; break }
            caretColumn -= line.count + 1
        }
        // Keep the caret visible: scroll horizontally (single line) or vertically (multi).
        let caretX = metrics.width(String(lines[caretLine].prefix(caretColumn)), style: .regular)
        var dx = scrollOffsets[id] ?? 0
        if caretX - dx > inner.w - 2 { dx = caretX - inner.w + 2 }
        if caretX - dx < 0 { dx = caretX }
        scrollOffsets[id] = dx
        let dy = max(0, (caretLine + 1) * lineHeight - inner.h)
        if let sel = state.selection, focused == id {
            var offset = 0
            for (i, line) in lines.enumerated() {
                let lo = max(sel.lowerBound - offset, 0), hi = min(sel.upperBound - offset, line.count)
                if lo < hi {
                    let x0 = metrics.width(String(line.prefix(lo)), style: .regular)
                    let x1 = metrics.width(String(line.prefix(hi)), style: .regular)
                    fill(Rect(x: inner.x + x0 - dx, y: top + i * lineHeight - dy, w: x1 - x0, h: lineHeight), theme.selection)
                }
                offset += line.count + 1
            }
        }
        for (i, line) in lines.enumerated() { drawText(line, x: inner.x - dx, y: top + i * lineHeight - dy) }
        if focused == id && inputEnabled {
            let cx = inner.x + caretX - dx
            if !input.composition.isEmpty {
                let w = metrics.width(input.composition, style: .regular)
                drawText(input.composition, x: cx, y: top + caretLine * lineHeight - dy, color: theme.accent)
                fill(Rect(x: cx, y: top + (caretLine + 1) * lineHeight - dy - 1, w: w, h: 1), theme.accent)
            } else if Int(time * 2) % 2 == 0 {
                fill(Rect(x: cx, y: top + caretLine * lineHeight - dy, w: 1, h: lineHeight), theme.text)
            }
        }
        popClip()
        return result
    }

    /// A field's current edit state (tests read caret and selection through it).
    public func editState(_ idLabel: String) -> TextEditState? { edits[id("field:" + idLabel)] }

    // MARK: Lists

    public struct ListItem {
        public var title: String
        public var detail: String
        public var color: Color?
        public var badge: String
        public init(title: String, detail: String = "", color: Color? = nil, badge: String = "") {
            self.title = title; self.detail = detail; self.color = color; self.badge = badge
        }
    }

    /// A scrollable list of rows; returns the index clicked (or activated with Enter).
    public func list(_ idLabel: String, items: [ListItem], selected: Int?, in r: Rect, rowHeight: Int = 40) -> Int? {
        let id = self.id("list:" + idLabel)
        let contentHeight = items.count * rowHeight
        var offset = scrollOffsets[id] ?? 0
        if mouseOver(r), input.wheel != 0 { offset -= input.wheel * rowHeight }
        offset = max(0, min(offset, max(0, contentHeight - r.h)))
        scrollOffsets[id] = offset
        fill(r, theme.panel)
        pushClip(r)
        var clicked: Int?
        let first = offset / rowHeight
        let last = min(items.count, (offset + r.h) / rowHeight + 1)
        for i in first..<max(first, last) {
            let row = Rect(x: r.x, y: r.y + i * rowHeight - offset, w: r.w, h: rowHeight)
            let rowID = withID(idLabel) { self.id("row:\(i)") }
            let (over, _, click) = interact(rowID, row.intersection(r))
            if click { clicked = i }
            if selected == i { fill(row, theme.selection) } else if over { fill(row, theme.hover) }
            let item = items[i]
            var content = row.inset(x: 10, y: 4)
            if !item.badge.isEmpty {
                let w = metrics.width(item.badge, style: .small) + 12
                let badge = content.cutRight(w).centered(w: w, h: 18)
                fill(badge, theme.accent)
                label(item.badge, in: badge, color: theme.accentText, style: .small, align: .center)
            }
            if item.detail.isEmpty {
                label(item.title, in: content, color: item.color)
            } else {
                label(item.title, in: content.cutTop(content.h / 2 + 2), color: item.color, style: .bold)
                label(item.detail, in: content, color: theme.mutedText, style: .small)
            }
        }
        popClip()
        return clicked
    }

    // MARK: Dialogs and bars

    /// A modal dialog on top of everything; the app disables input behind it by calling
    /// this first in the frame. Returns the dialog's content rect; Escape sets `dismissed`.
    public func modal(title: String, width: Int, height: Int, dismissed: inout Bool) -> Rect {
        if input.pressed(.escape) { dismissed = true }
        var content = Rect.zero
        overlayLayer {
            fill(Rect(x: 0, y: 0, w: self.width, h: self.height), theme.overlay)
            let panel = Rect(x: 0, y: 0, w: self.width, h: self.height).centered(w: width, h: height)
            fill(panel, theme.panel)
            stroke(panel, theme.border)
            var inner = panel.inset(16)
            label(title, in: inner.cutTop(28), style: .bold)
            content = inner
        }
        return content
    }

    /// Runs `body` with input going only to what it draws (the open dialog's widgets).
    public func dialog(_ body: () -> Void) {
        overlayLayer(body)
        inputEnabled = false
    }

    public func statusBar(_ segments: [(String, Color?)], in r: Rect) {
        fill(r, theme.panelAlt)
        var rest = r.inset(x: 10, y: 0)
        for (text, color) in segments {
            let w = metrics.width(text, style: .small)
            label(text, in: rest.cutLeft(w), color: color ?? theme.mutedText, style: .small)
            _ = rest.cutLeft(18)
        }
    }

    // MARK: Log

    struct LogState {
        var offset = 0
        var following = true
        /// The entry at the top of the view and how far above the view's top it starts:
        /// after a resize re-wraps everything, the same entry is put back at the top.
        var topKey: Int?
        var topDelta = 0
        var lastWidth = 0
        /// A drag of the scrollbar's thumb in progress: where it started.
        var drag: (mouseY: Int, offset: Int)?
        var seenCount = 0
        var newBelow = 0
        /// A selection by characters, from where the press was to where the mouse went
        /// (or a Shift-click); empty when the two are the same point.
        var selectionAnchor: LogPoint?
        var selectionFocus: LogPoint?
        /// The button is held after a press in the log: moving extends the selection.
        var selecting = false
    }

    public struct LogEntry {
        public var key: Int
        public var prefix: String
        public var prefixColor: Color
        public var text: String
        public var textColor: Color?
        public var badge: String
        public var centered: Bool
        public init(key: Int, prefix: String = "", prefixColor: Color = Color(140, 147, 163), text: String,
                    textColor: Color? = nil, badge: String = "", centered: Bool = false) {
            self.key = key; self.prefix = prefix; self.prefixColor = prefixColor; self.text = text
            self.textColor = textColor; self.badge = badge; self.centered = centered
        }

        /// What is drawn, wrapped, selected and copied: the prefix, a space, the text.
        public var fullText: String { prefix.isEmpty ? text : prefix + " " + text }
    }

    public struct LogResult {
        public var atBottom: Bool
        /// Entries that arrived while scrolled up (the "N new messages" count).
        public var newBelow: Int
        public var selectedText: String
    }

    /// A scrollable, word-wrapped log that follows new entries only when already at the
    /// bottom. Only the visible lines produce draw commands. Drag selects characters across
    /// entries, a double click a word, Shift-click extends; Ctrl-C copies the selection.
    public func log(_ idLabel: String, entries: [LogEntry], in r: Rect, wrapCache: LogWrapCache) -> LogResult {
        let id = self.id("log:" + idLabel)
        var state = logState[id] ?? LogState()
        let lineHeight = metrics.lineHeight(.regular) + 4
        let textWidth = r.w - 20
        let heights = entries.map { wrapCache.lines(for: $0, width: textWidth, metrics: metrics).count * lineHeight + 2 }
        let total = heights.reduce(0, +)
        let maxOffset = max(0, total - r.h)
        // Resized while reading: the entry that was at the top stays at the top.
        if textWidth != state.lastWidth, state.lastWidth != 0, !state.following, let key = state.topKey,
           let index = entries.firstIndex(where: { $0.key == key }) {
            state.offset = heights[..<index].reduce(0, +) + state.topDelta
        }
        state.lastWidth = textWidth
        // The scrollbar: a thumb proportional to what is visible, dragged to scroll.
        let track = Rect(x: r.maxX - 8, y: r.y, w: 6, h: r.h)
        let thumbHeight = total > r.h ? max(24, r.h * r.h / max(1, total)) : 0
        let thumbY = { (offset: Int) in track.y + (maxOffset == 0 ? 0 : (track.h - thumbHeight) * offset / maxOffset) }
        if thumbHeight > 0 {
            let thumbID = self.id("log-thumb:" + idLabel)
            let (_, pressed, _) = interact(thumbID, Rect(x: track.x - 4, y: thumbY(state.offset), w: track.w + 8, h: thumbHeight))
            if pressed { state.drag = (input.mouseY, state.offset) }
            if let drag = state.drag {
                if input.mouseDown || input.mousePressed {
                    let travel = max(1, track.h - thumbHeight)
                    state.offset = drag.offset + (input.mouseY - drag.mouseY) * maxOffset / travel
                    state.following = false
                } else {
                    state.drag = nil
                }
            }
        }
        if entries.count < state.seenCount { state.seenCount = 0 }
        let added = entries.count - state.seenCount
        state.seenCount = entries.count
        if mouseOver(r), input.wheel != 0 {
            state.offset -= input.wheel * lineHeight * 3
            state.following = false
        }
        // Page keys scroll the log wherever the focus is (text fields do not use them).
        if inputEnabled {
            if input.pressed(.pageUp) { state.offset -= r.h - lineHeight; state.following = false }
            if input.pressed(.pageDown) { state.offset += r.h - lineHeight }
        }
        if state.following {
            state.offset = maxOffset
        } else {
            state.offset = max(0, min(state.offset, maxOffset))
            if state.offset >= maxOffset { state.following = true }
            else if added > 0 { state.newBelow += added }
        }
        if state.following { state.newBelow = 0 }

        // Where the view's top is now, for the next resize.
        var top = 0
        state.topKey = nil
        for (i, h) in heights.enumerated() {
            if top + h > state.offset { state.topKey = entries[i].key; state.topDelta = state.offset - top; break }
            top += h
        }

        fill(r, theme.panel)
        pushClip(r)
        if state.selecting, !input.mouseDown, !input.mousePressed { state.selecting = false }
        // The selection as (entry index, offset) bounds, for highlighting.
        var bounds: (lo: (Int, Int), hi: (Int, Int))?
        if let a = state.selectionAnchor, let b = state.selectionFocus, a != b,
           let ia = entries.firstIndex(where: { $0.key == a.key }), let ib = entries.firstIndex(where: { $0.key == b.key }) {
            bounds = (ia, a.offset) <= (ib, b.offset) ? ((ia, a.offset), (ib, b.offset)) : ((ib, b.offset), (ia, a.offset))
        }
        var firstVisible: (key: Int, count: Int)?, lastVisible: (key: Int, count: Int)?
        var y = r.y - state.offset
        for (i, entry) in entries.enumerated() {
            let h = heights[i]
            defer { y += h }
            guard y + h > r.y, y < r.maxY else { continue }
            let row = Rect(x: r.x, y: y, w: r.w, h: h)
            let rowID = withID(idLabel) { self.id("entry:\(entry.key)") }
            // Not under the scrollbar: a press there drags the thumb, it selects nothing.
            let (_, pressed, _) = interact(rowID, Rect(x: row.x, y: row.y, w: row.w - 10, h: row.h).intersection(r))
            let lines = wrapCache.lines(for: entry, width: textWidth, metrics: metrics)
            // Character positions are worked out only where a selection is made or drawn:
            // a frame that only shows the log measures nothing more.
            let inSelection = bounds.map { i >= $0.lo.0 && i <= $0.hi.0 } ?? false
            let layout = pressed || state.selecting || inSelection ? LogEntryLayout(entry, lines: lines) : nil
            if state.selecting {
                if firstVisible == nil { firstVisible = (entry.key, 0) }
                lastVisible = (entry.key, entry.fullText.count)
            }
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
                } else if input.clickCount >= 2 {
                    let word = layout?.word(at: point.offset) ?? 0..<0
                    state.selectionAnchor = LogPoint(key: entry.key, offset: word.lowerBound)
                    state.selectionFocus = LogPoint(key: entry.key, offset: word.upperBound)
                } else {
                    state.selectionAnchor = point
                    state.selectionFocus = point
                }
                state.selecting = input.clickCount < 2
            } else if state.selecting, onRow, input.mouseDown {
                state.selectionFocus = mousePoint()
            }
            for (n, line) in lines.enumerated() {
                let ly = y + 2 + n * lineHeight
                guard ly + lineHeight > r.y, ly < r.maxY else { continue }
                // The selected part of this line, highlighted behind its text.
                if let bounds, let layout, !entry.centered {
                    let lineStart = layout.starts[n], lineEnd = layout.starts[n] + line.count
                    let lo = (i, lineStart) < bounds.lo ? (i == bounds.lo.0 ? bounds.lo.1 : Int.max) : lineStart
                    let hi = (i, lineEnd) > bounds.hi ? (i == bounds.hi.0 ? bounds.hi.1 : Int.min) : lineEnd
                    if (i, lineEnd) >= bounds.lo, (i, lineStart) <= bounds.hi, lo < hi {
                        let x0 = layout.x(ofCharacter: lo - lineStart, inLine: n, metrics: metrics)
                        let x1 = layout.x(ofCharacter: hi - lineStart, inLine: n, metrics: metrics)
                        fill(Rect(x: r.x + 10 + x0, y: ly, w: max(2, x1 - x0), h: lineHeight), theme.selection)
                    }
                }
                if entry.centered {
                    label(line, in: Rect(x: r.x, y: ly, w: r.w, h: lineHeight), color: entry.textColor ?? theme.mutedText, style: .small, align: .center)
                    continue
                }
                if n == 0, !entry.prefix.isEmpty {
                    drawText(entry.prefix, x: r.x + 10, y: ly, color: entry.prefixColor, style: .bold)
                    let px = metrics.width(entry.prefix, style: .bold) + metrics.width(" ", style: .regular)
                    drawText(String(line.dropFirst(entry.prefix.count + 1)), x: r.x + 10 + px, y: ly, color: entry.textColor)
                } else {
                    drawText(line, x: r.x + 10, y: ly, color: entry.textColor)
                }
                if n == 0, !entry.badge.isEmpty {
                    label(entry.badge, in: Rect(x: r.maxX - 38, y: ly, w: 28, h: lineHeight), color: theme.success, style: .small, align: .center)
                }
            }
        }
        // Dragged above or below the log: the selection runs to the first or last line shown.
        if state.selecting, input.mouseDown {
            if input.mouseY < r.y, let first = firstVisible { state.selectionFocus = LogPoint(key: first.key, offset: 0) }
            if input.mouseY >= r.maxY, let last = lastVisible { state.selectionFocus = LogPoint(key: last.key, offset: last.count) }
        }
        popClip()
        if thumbHeight > 0 {
            fill(track, theme.panelAlt)
            fill(Rect(x: track.x, y: thumbY(state.offset), w: track.w, h: thumbHeight), state.drag == nil ? theme.border : theme.mutedText)
        }
        if input.pressed(.escape) { state.selectionAnchor = nil; state.selectionFocus = nil }
        var selectedText = ""
        if let a = state.selectionAnchor, let b = state.selectionFocus, a != b {
            selectedText = Self.text(from: a, to: b, in: entries)
            // Whenever the log has a selection, Ctrl-C copies it, wherever the focus is (the
            // composer's own copy, drawn before, is overridden).
            if inputEnabled, input.pressed(.c, .control), !selectedText.isEmpty { setClipboard(selectedText) }
        }
        logState[id] = state
        return LogResult(atBottom: state.following, newBelow: state.newBelow, selectedText: selectedText)
    }


    /// Jumps a log to its newest entry (the "N new messages ↓" button).
    public func scrollLogToBottom(_ idLabel: String) {
        let id = self.id("log:" + idLabel)
        logState[id, default: LogState()].following = true
    }
}

/// Wrapped lines per log entry and width, so a long history is wrapped once, not per frame.
public final class LogWrapCache {
    private var cache: [Int: (width: Int, full: String, badged: Bool, lines: [String])] = [:]
    public init() {}

    /// Keyed by entry and width, and checked against the text: a line whose text changes
    /// under the same key (a message marked "(not sent)") is wrapped again.
    func lines(for entry: UIContext.LogEntry, width: Int, metrics: TextMeasuring) -> [String] {
        let full = entry.fullText
        let badged = !entry.badge.isEmpty
        if let hit = cache[entry.key], hit.width == width, hit.badged == badged, hit.full == full { return hit.lines }
        let lines = TextWrap.lines(full, width: width - (badged ? 30 : 0), metrics: metrics)
        cache[entry.key] = (width, full, badged, lines)
        return lines
    }

    public func invalidate() { cache = [:] }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
