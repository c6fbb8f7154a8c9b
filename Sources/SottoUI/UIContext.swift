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
    /// The last wrap of a multi-line field (its height is asked for, then it is drawn: once).
    private var wrapCache: (text: [Character], width: Int, segments: [Range<Int>])?
    /// How far a multi-line field is scrolled down (its caret's line kept in view).
    private var fieldScrollY: [ID: Int] = [:]
    private var lastFocusOrder: [ID] = []
    var logState: [ID: LogState] = [:]
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
    /// The focused field's caret: drawn apart from the frame's commands, so a blink repaints
    /// only the caret over the frame as it was (nothing is laid out again for a blink).
    public struct Caret: Equatable, Sendable {
        public var rect: Rect
        public var clip: Rect
        public var color: Color
    }
    public private(set) var caret: Caret?
    /// When the person last typed or clicked: the caret is solid then and blinks from there,
    /// and stops blinking (solid) after `caretBlinkTimeout`, as GTK's does.
    public private(set) var lastInputTime: Double = 0
    private var focusAtLastFrame: ID?
    private var windowFocusAtLastFrame = true
    /// Fields drawn this frame that take several lines (`textField(multiline:)`).
    private var multilineFields: Set<ID> = []
    public static let caretBlinkPeriod = 1.0
    public static let caretBlinkTimeout = 10.0
    /// The frame changed state it did not show yet (focus moved): draw one more.
    public private(set) var needsAnotherFrame = false
    /// The widget under the mouse changed during the frame: the next one shows it.
    public private(set) var hoverChanged = false

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
        multilineFields = []
        clipStack = []
        nextHot = nil
        wantsTimer = false
        caret = nil
        // Typing, clicking or a focus move shows the caret solid and restarts its blinking.
        // The window coming back to the front does too.
        if input.mousePressed || !input.keys.isEmpty || !input.text.isEmpty || focused != focusAtLastFrame
            || input.windowFocused != windowFocusAtLastFrame { lastInputTime = time }
        focusAtLastFrame = focused
        windowFocusAtLastFrame = input.windowFocused
        inputEnabled = true
        tabRequest = 0
        if input.pressed(.tab) { tabRequest = 1 }
        if input.pressed(.tab, .shift) { tabRequest = -1 }
        commands.append(.rect(Rect(x: 0, y: 0, w: width, h: height), theme.background))
    }

    /// Whether the caret is drawn at `time`: solid after input, then half a period off and
    /// half on, solid again once it has blinked for `caretBlinkTimeout`.
    public func caretVisible(at time: Double) -> Bool {
        // Typing goes elsewhere while the window is behind others: no caret says it would
        // land here (a newcomer's run), and nothing wakes the window to blink one.
        guard input.windowFocused else { return false }
        let since = time - lastInputTime
        guard since < Self.caretBlinkTimeout else { return true }
        return since.truncatingRemainder(dividingBy: Self.caretBlinkPeriod) < Self.caretBlinkPeriod / 2
    }

    /// Seconds from `time` until the caret next changes (nil: it will not, by itself).
    public func secondsToNextCaretChange(after time: Double) -> Double? {
        guard caret != nil, wantsTimer, input.windowFocused else { return nil }
        let since = time - lastInputTime
        guard since < Self.caretBlinkTimeout else { return nil }
        let half = Self.caretBlinkPeriod / 2
        return half - since.truncatingRemainder(dividingBy: half)
    }

    /// The caret's draw commands at `time` (empty while it blinks off or with none).
    public func caretCommands(at time: Double) -> [DrawCommand] {
        guard let caret, caretVisible(at: time) else { return [] }
        return [.clip(caret.clip), .rect(caret.rect, caret.color), .clip(nil)]
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
            // A single-line field reached by Tab is selected whole, to be typed over (as forms
            // do); a text being written is not, nor a field Tab came back round to (a
            // newcomer's run: Shift+Tab in the message box selected the draft, the next key
            // typed over it, and nothing undid that).
            if let id = focused, id != focusBefore, !multilineFields.contains(id), var e = edits[id] { e.selectAll(); edits[id] = e }
        }
        if let pendingFocus { focused = pendingFocus; self.pendingFocus = nil }
        // A focused widget that was not drawn this frame loses focus.
        if let f = focused, !focusOrder.contains(f) { focused = nil }
        lastFocusOrder = focusOrder
        // Input can change state after the widget that shows it was drawn (a history step,
        // a dialog closed by Escape): the frame after any input draws it. Idle frames stay free.
        let hadInput = input.mousePressed || input.mouseReleased || input.wheel != 0 || !input.keys.isEmpty || !input.text.isEmpty
        needsAnotherFrame = focused != focusBefore || hadInput
        hoverChanged = hot != nextHot
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

    /// Focuses at once, before the widget is drawn this frame: it takes this frame's input
    /// (`focus` waits for the frame's end, for a widget already drawn).
    public func focusNow(_ id: ID) {
        focused = id
        pendingFocus = nil
    }

    /// Focuses a text field with its whole text selected (to be retyped).
    public func focusSelectingAll(_ id: ID) {
        pendingFocus = id
        if var e = edits[id] { e.selectAll(); edits[id] = e }
    }
    public func isFocused(_ id: ID) -> Bool { focused == id }

    /// A field's text grown from outside (typed before it had the focus): the caret goes
    /// after it, where the next typed character belongs.
    public func placeCaretAtEnd(_ idLabel: String, text: String) {
        let id = self.id("field:" + idLabel)
        var state = edits[id] ?? TextEditState(text)
        state.setText(text)
        state.placeCaret(state.characters.count, selecting: false)
        edits[id] = state
    }

    /// A field's text set from outside, the caret at `caret` (a name completed).
    public func setText(_ idLabel: String, text: String, caret: Int) {
        let id = self.id("field:" + idLabel)
        var state = edits[id] ?? TextEditState(text)
        state.setText(text)
        state.placeCaret(max(0, min(caret, state.characters.count)), selecting: false)
        edits[id] = state
    }

    /// Takes this frame's Tab (without Shift) for the caller: the focus stays where it is.
    /// False if none was pressed.
    public func takeTab() -> Bool {
        guard input.pressed(.tab) else { return false }
        input.keys.removeAll { $0.0 == .tab && $0.1 == [] }
        if tabRequest == 1 { tabRequest = 0 }
        return true
    }

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

    /// Fills behind these character ranges of a line `label` draws in `r` (leading), as far
    /// as it shows them: what its ellipsis cuts off is not marked.
    func highlight(_ ranges: [Range<Int>], of text: String, in r: Rect, style: FontStyle) {
        guard !ranges.isEmpty else { return }
        let visible = (clipStack.last ?? Rect(x: 0, y: 0, w: width, h: height)).intersection(r)
        let shown = fitted(text, width: max(0, visible.w), style: style)
        let characters = Array(text)
        // The characters shown before the ellipsis, if one was added.
        let shownCount = shown.count == characters.count ? shown.count : max(0, shown.count - 1)
        let y = r.y + (r.h - metrics.lineHeight(style)) / 2
        for match in ranges {
            let lo = min(match.lowerBound, shownCount), hi = min(match.upperBound, shownCount)
            guard lo < hi else { continue }
            let x0 = metrics.width(String(characters[..<lo]), style: style)
            let x1 = metrics.width(String(characters[..<hi]), style: style)
            fill(Rect(x: r.x + x0, y: y, w: x1 - x0, h: metrics.lineHeight(style)).intersection(visible), theme.match)
        }
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

    func mouseOver(_ r: Rect) -> Bool {
        guard inputEnabled, r.contains(input.mouseX, input.mouseY), clipStack.last?.contains(input.mouseX, input.mouseY) ?? true else { return false }
        return inOverlay || !overlayRects.contains { $0.contains(input.mouseX, input.mouseY) }
    }

    /// Declares, before what lies beneath is drawn, where an overlay widget will be.
    public func reserveOverlay(_ r: Rect) { overlayRects.append(r) }

    /// Whether a log shows its newest entry (follows what arrives).
    public func isLogFollowing(_ idLabel: String) -> Bool { logState[id("log:" + idLabel)]?.following ?? true }
    /// The entry a log's view is anchored at the top of, unless it follows the newest.
    public func logTopKey(_ idLabel: String) -> Int? {
        guard let state = logState[id("log:" + idLabel)], !state.following else { return nil }
        return state.topKey
    }

    /// The last entry a log showed, even in part (nil before it was drawn): read up to there.
    public func logBottomKey(_ idLabel: String) -> Int? { logState[id("log:" + idLabel)]?.bottomKey }

    /// Hot/active bookkeeping; returns true when the widget was clicked (pressed and released over it).
    func interact(_ id: ID, _ r: Rect) -> (hovered: Bool, pressed: Bool, clicked: Bool) {
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

    /// A button; true on click, or on Enter/Space while focused. `focusable` false: Tab
    /// passes it by (a Send button beside a field whose Enter sends: focused by Tab, a Space
    /// meant for the text sent a half-written message).
    @discardableResult
    public func button(_ title: String, in r: Rect, style: ButtonStyle = .normal, enabled: Bool = true, idLabel: String? = nil,
                       focusable: Bool = true) -> Bool {
        let id = self.id(idLabel ?? "button:" + title)
        if focusable { registerFocusable(id) }
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
        if style == .normal { stroke(r, theme.border) }
        if focused == id { focusRing(r) }
        label(title, in: r, color: fg, style: style == .primary ? .bold : .regular, align: .center)
        return clicked || keyed
    }

    /// Where the keyboard is, around a button: two pixels outside it, so it shows on any fill
    /// (inside, on the primary button's own blue, it could not be seen: a newcomer's run).
    func focusRing(_ r: Rect) {
        stroke(r.inset(-2), theme.focusRing)
        stroke(r.inset(-3), theme.focusRing)
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
        if multiline { multilineFields.insert(id) }
        var state = edits[id] ?? TextEditState(text)
        state.setText(text)
        var result = FieldResult()
        let (_, pressed, _) = interact(id, r)
        let inner = r.inset(x: 8, y: 4)
        func display(_ s: String) -> String { secure ? String(repeating: "•", count: s.count) : s }
        let lineHeight = metrics.lineHeight(.regular)
        // The lines shown, as ranges of the text's characters: wrapped in a multi-line field.
        func segments(_ shown: [Character]) -> [Range<Int>] { multiline ? wrappedSegments(shown, fieldWidth: r.w) : [0..<shown.count] }
        // The caret's line (the last that holds its index: at a wrap, the start of the next)
        // and how far into it the caret stands.
        func caretPlace(_ shown: [Character], _ lines: [Range<Int>]) -> (line: Int, x: Int) {
            let line = lines.lastIndex { $0.lowerBound <= state.caret && state.caret <= $0.upperBound } ?? 0
            let range = lines[line]
            return (line, metrics.width(String(shown[range.lowerBound..<max(range.lowerBound, min(state.caret, range.upperBound))]), style: .regular))
        }
        // The index nearest `x` points into a line. Past its end: its end, or before the space
        // a wrapped line breaks after (its end is the next line's start, where the caret would
        // be drawn).
        func index(atX x: Int, in line: Range<Int>, of shown: [Character]) -> Int {
            var index = line.upperBound
            if line.upperBound < shown.count, shown[line.upperBound] != "\n", !line.isEmpty { index -= 1 }
            for i in line where metrics.width(String(shown[line.lowerBound...i]), style: .regular) - metrics.width(String(shown[i]), style: .regular) / 2 > x {
                index = i
                break
            }
            return index
        }
        // The character under the mouse: the line under it, then the column.
        func indexUnderMouse() -> Int {
            let shown = Array(display(state.text))
            let lines = segments(shown)
            let top = multiline ? inner.y - (fieldScrollY[id] ?? 0) : inner.y
            let line = lines[max(0, min(lines.count - 1, (input.mouseY - top) / max(1, lineHeight)))]
            let dx = multiline ? 0 : (scrollOffsets[id] ?? 0)
            return index(atX: input.mouseX - inner.x + dx, in: line, of: shown)
        }
        // Up or Down in a multi-line field: the same place on the line above or below, if
        // there is one (at the first or last line, the key is the field's history step).
        func verticalTarget(_ step: Int) -> Int? {
            guard multiline else { return nil }
            let shown = Array(display(state.text))
            let lines = segments(shown)
            let (current, x) = caretPlace(shown, lines)
            guard lines.indices.contains(current + step) else { return nil }
            return index(atX: x, in: lines[current + step], of: shown)
        }
        if pressed {
            focused = id
            // Shift held (pressed in an earlier frame too) extends the selection.
            state.placeCaret(indexUnderMouse(), selecting: input.modifiers.contains(.shift) || input.keys.contains { $0.1.contains(.shift) })
        } else if active == id, input.mouseDown, focused == id {
            // Dragged with the button down: the selection follows the mouse.
            state.placeCaret(indexUnderMouse(), selecting: true)
        }
        if focused == id && inputEnabled {
            wantsTimer = time - lastInputTime < Self.caretBlinkTimeout
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
                case .up:
                    if let index = verticalTarget(-1) { state.placeCaret(index, selecting: select) } else { result.historyStep = -1 }
                case .down:
                    if let index = verticalTarget(1) { state.placeCaret(index, selecting: select) } else { result.historyStep = 1 }
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
        if state.text.isEmpty && (focused != id || input.composition.isEmpty) {
            drawText(fitted(placeholder, width: inner.w, style: .regular), x: inner.x, y: multiline ? inner.y : inner.y + (inner.h - lineHeight) / 2, color: theme.mutedText)
        }
        let shown = Array(display(state.text))
        let lines = segments(shown)
        let top = multiline ? inner.y : inner.y + (inner.h - lineHeight) / 2
        let (caretLine, caretX) = caretPlace(shown, lines)
        // Keep the caret visible: scroll horizontally (single line) or vertically (multi).
        var dx = multiline ? 0 : scrollOffsets[id] ?? 0
        if caretX - dx > inner.w - 2 { dx = caretX - inner.w + 2 }
        if caretX - dx < 0 { dx = caretX }
        if !multiline {
            // Never scrolled past what the text needs: a long text replaced by a short one (an
            // invite link pasted, then read into its host) showed an empty-looking field.
            dx = max(0, min(dx, metrics.width(String(shown), style: .regular) - inner.w + 2))
            scrollOffsets[id] = dx
        }
        // Scrolled only as far as the caret's line needs: a click on a line in view moves no text.
        var dy = multiline ? fieldScrollY[id] ?? 0 : 0
        let caretTop = caretLine * lineHeight
        if caretTop + lineHeight - dy > inner.h { dy = caretTop + lineHeight - inner.h }
        if caretTop < dy { dy = caretTop }
        dy = max(0, min(dy, lines.count * lineHeight - inner.h))
        if multiline { fieldScrollY[id] = dy }
        // Only the lines in view are drawn (a pasted 100 KB draft has thousands).
        let firstShown = max(0, dy / max(1, lineHeight)), lastShown = min(lines.count, (dy + inner.h) / max(1, lineHeight) + 1)
        let inView = firstShown < lastShown ? firstShown..<lastShown : 0..<0
        if let sel = state.selection, focused == id {
            for i in inView {
                let line = lines[i]
                let lo = max(sel.lowerBound, line.lowerBound), hi = min(sel.upperBound, line.upperBound)
                if lo < hi {
                    let x0 = metrics.width(String(shown[line.lowerBound..<lo]), style: .regular)
                    let x1 = metrics.width(String(shown[line.lowerBound..<hi]), style: .regular)
                    fill(Rect(x: inner.x + x0 - dx, y: top + i * lineHeight - dy, w: x1 - x0, h: lineHeight), theme.selection)
                }
            }
        }
        for i in inView { drawText(String(shown[lines[i]]), x: inner.x - dx, y: top + i * lineHeight - dy) }
        if focused == id && inputEnabled {
            let cx = inner.x + caretX - dx
            if !input.composition.isEmpty {
                let w = metrics.width(input.composition, style: .regular)
                drawText(input.composition, x: cx, y: top + caretLine * lineHeight - dy, color: theme.accent)
                fill(Rect(x: cx, y: top + (caretLine + 1) * lineHeight - dy - 1, w: w, h: 1), theme.accent)
            } else {
                caret = Caret(rect: Rect(x: cx, y: top + caretLine * lineHeight - dy, w: 1, h: lineHeight),
                              clip: clipStack.last ?? inner, color: theme.text)
            }
        }
        popClip()
        return result
    }

    /// The lines of a multi-line field `fieldWidth` wide (its inner padding taken off), wrapped.
    func wrappedSegments(_ characters: [Character], fieldWidth: Int) -> [Range<Int>] {
        let width = fieldWidth - 16
        if let cache = wrapCache, cache.width == width, cache.text == characters { return cache.segments }
        let segments = TextWrap.segments(characters, width: width, metrics: metrics)
        wrapCache = (characters, width, segments)
        return segments
    }

    /// How many lines a multi-line field `fieldWidth` wide shows `text` on (to size it).
    public func wrappedLineCount(_ text: String, fieldWidth: Int) -> Int { wrappedSegments(Array(text), fieldWidth: fieldWidth).count }

    /// A field's current edit state (tests read caret and selection through it).
    public func editState(_ idLabel: String) -> TextEditState? { edits[id("field:" + idLabel)] }

    // MARK: Lists

    public struct ListItem {
        public var title: String
        public var detail: String
        public var color: Color?
        public var badge: String
        /// The title's style above a detail (a name: bold; a found message's text: regular).
        public var titleStyle: FontStyle
        /// Words a search matched, as ranges of characters in `title`: drawn on `theme.match`.
        public var titleHighlights: [Range<Int>]
        public init(title: String, detail: String = "", color: Color? = nil, badge: String = "", titleStyle: FontStyle = .bold,
                    titleHighlights: [Range<Int>] = []) {
            self.title = title; self.detail = detail; self.color = color; self.badge = badge; self.titleStyle = titleStyle
            self.titleHighlights = titleHighlights
        }
    }

    /// A scrollable list of rows; returns the index clicked (or activated with Enter).
    /// `revealing`: a row scrolled into view (the selection moved by the keyboard).
    public func list(_ idLabel: String, items: [ListItem], selected: Int?, in r: Rect, rowHeight: Int = 40, revealing: Int? = nil) -> Int? {
        let id = self.id("list:" + idLabel)
        let contentHeight = items.count * rowHeight
        var offset = scrollOffsets[id] ?? 0
        if mouseOver(r), input.wheel != 0 { offset -= input.wheel * rowHeight }
        if let revealing, items.indices.contains(revealing) {
            offset = min(offset, revealing * rowHeight)
            offset = max(offset, (revealing + 1) * rowHeight - r.h)
        }
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
                highlight(item.titleHighlights, of: item.title, in: content, style: .regular)
                label(item.title, in: content, color: item.color)
            } else {
                let titleRect = content.cutTop(content.h / 2 + 2)
                highlight(item.titleHighlights, of: item.title, in: titleRect, style: item.titleStyle)
                label(item.title, in: titleRect, color: item.color, style: item.titleStyle)
                label(item.detail, in: content, color: theme.mutedText, style: .small)
            }
        }
        popClip()
        return clicked
    }

    /// The rows a list showed whole at its last frame, for `count` rows of `rowHeight` in `height`.
    public func listRowsShown(_ idLabel: String, count: Int, rowHeight: Int, height: Int) -> Range<Int> {
        let offset = scrollOffsets[id("list:" + idLabel)] ?? 0
        let first = min(count, (offset + rowHeight - 1) / max(1, rowHeight))
        let end = min(count, (offset + height) / max(1, rowHeight))
        return first..<max(first, end)
    }

    /// Scrolls a list to show a row (a click on "N unread below").
    public func scrollList(_ idLabel: String, toShow row: Int, rowHeight: Int, height: Int) {
        let id = self.id("list:" + idLabel)
        let offset = scrollOffsets[id] ?? 0
        scrollOffsets[id] = max(min(offset, row * rowHeight), (row + 1) * rowHeight - height)
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
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
