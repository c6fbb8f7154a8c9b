import Testing
import Foundation
@testable import SottoUI

/// The toolkit without SDL: injected metrics, synthetic input, assertions on state and draw lists.
@Suite struct ToolkitTests {
    func frame(_ ui: UIContext, _ body: () -> Void) -> [DrawCommand] {
        ui.beginFrame(width: 400, height: 300, time: 0)
        body()
        return ui.endFrame()
    }

    @Test func idsAreStableAndScoped() {
        let ui = UIContext(metrics: MonospaceMetrics())
        #expect(ui.id("a") == ui.id("a"))
        #expect(ui.id("a") != ui.id("b"))
        #expect(ui.withID("row") { ui.id("a") } != ui.id("a"))
    }

    @Test func aButtonClicksOnReleaseOverItAndOnEnterWhenFocused() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let r = Rect(x: 10, y: 10, w: 100, h: 30)
        ui.input.mouseX = 20; ui.input.mouseY = 20
        ui.input.mousePressed = true; ui.input.mouseDown = true
        var clicked = false
        _ = frame(ui) { clicked = ui.button("OK", in: r) }
        #expect(!clicked)
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        _ = frame(ui) { clicked = ui.button("OK", in: r) }
        #expect(clicked)
        // Pressed outside, released over it: no click.
        ui.input.mouseX = 300; ui.input.mousePressed = true
        _ = frame(ui) { clicked = ui.button("OK", in: r) }
        ui.input.mouseX = 20; ui.input.mouseReleased = true
        _ = frame(ui) { clicked = ui.button("OK", in: r) }
        #expect(!clicked)
        // Focused (it was pressed): Enter activates it.
        ui.input.keys = [(.enter, [])]
        _ = frame(ui) { clicked = ui.button("OK", in: r) }
        #expect(clicked)
    }

    @Test func tabMovesFocusThroughTheFieldsInOrderAndBack() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var a = "", b = "", c = ""
        func draw() {
            ui.textField("a", text: &a, in: Rect(x: 0, y: 0, w: 200, h: 30))
            ui.textField("b", text: &b, in: Rect(x: 0, y: 40, w: 200, h: 30))
            ui.textField("c", text: &c, in: Rect(x: 0, y: 80, w: 200, h: 30))
        }
        _ = frame(ui, draw)
        for expected in ["a", "b", "c", "a"] {
            ui.input.keys = [(.tab, [])]
            _ = frame(ui, draw)
            #expect(ui.isFocused(ui.id("field:" + expected)))
        }
        ui.input.keys = [(.tab, .shift)]
        _ = frame(ui, draw)
        #expect(ui.isFocused(ui.id("field:c")))
        ui.input.text = "hé"
        _ = frame(ui, draw)
        #expect(c == "hé" && a.isEmpty)
    }

    @Test func textEditingMovesBySelectsAndDeletesCharactersAndWords() {
        var s = TextEditState("hello brave new world")
        s.move(.wordLeft, selecting: false)
        s.move(.wordLeft, selecting: true)
        #expect(s.selectedText == "new ")
        s.insert("old ")
        #expect(s.text == "hello brave old world")
        s.backspace(word: true)
        #expect(s.text == "hello brave world")
        s.move(.home, selecting: false)
        s.deleteForward(word: true)
        #expect(s.text == " brave world")
        s.selectAll()
        s.insert("👩‍👩‍👧 ok")
        s.move(.home, selecting: false)
        s.move(.right, selecting: true)
        #expect(s.selectedText == "👩‍👩‍👧")
    }

    @Test func clipboardCutCopyPasteAndPasswordFieldsRefuseToCopy() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var clipboard = ""
        ui.getClipboard = { clipboard }
        ui.setClipboard = { clipboard = $0 }
        var text = "secret", plain = "copy me"
        let r = Rect(x: 0, y: 0, w: 200, h: 30), r2 = Rect(x: 0, y: 40, w: 200, h: 30)
        func draw() {
            ui.textField("pw", text: &text, in: r, secure: true)
            ui.textField("plain", text: &plain, in: r2)
        }
        ui.focus(ui.id("field:pw"))
        _ = frame(ui, draw)
        ui.input.keys = [(.a, .control), (.c, .control)]
        let commands = frame(ui, draw)
        #expect(clipboard == "")
        #expect(!commands.contains { if case .text("secret", _, _, _, _) = $0 { true } else { false } })
        #expect(commands.contains { if case .text("••••••", _, _, _, _) = $0 { true } else { false } })
        ui.focus(ui.id("field:plain"))
        _ = frame(ui, draw)
        ui.input.keys = [(.a, .control), (.x, .control)]
        _ = frame(ui, draw)
        #expect(clipboard == "copy me" && plain.isEmpty)
        clipboard = "line\nbreaks"
        ui.input.keys = [(.v, .control)]
        _ = frame(ui, draw)
        #expect(plain == "line breaks")
    }

    @Test func multiLineFieldsTakeShiftEnterAndSubmitOnEnter() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var text = "one"
        var result = UIContext.FieldResult()
        let r = Rect(x: 0, y: 0, w: 200, h: 60)
        ui.focus(ui.id("field:m"))
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.input.keys = [(.enter, .shift)]
        ui.input.text = "two"
        _ = frame(ui) { result = ui.textField("m", text: &text, in: r, multiline: true) }
        #expect(text == "one\ntwo" && !result.submitted)
        ui.input.keys = [(.enter, [])]
        _ = frame(ui) { result = ui.textField("m", text: &text, in: r, multiline: true) }
        #expect(result.submitted)
    }

    @Test func wrapBreaksAtSpacesAndInsideLongWords() {
        let m = MonospaceMetrics(advance: 10)
        #expect(TextWrap.lines("the quick brown fox", width: 100, metrics: m) == ["the quick", "brown fox"])
        #expect(TextWrap.lines("abcdefghijklmnop", width: 50, metrics: m) == ["abcde", "fghij", "klmno", "p"])
        #expect(TextWrap.lines("a\nb", width: 100, metrics: m) == ["a", "b"])
    }

    /// A link or a path longer than a line breaks after a "/", "?" or the like, not at
    /// whichever character reached the edge; lines after the first may be narrower.
    @Test func aLongLinkBreaksAfterItsSeparators() {
        let m = MonospaceMetrics(advance: 10)
        let link = "https://wiki.example.lan/projects/sotto/release-notes?tab=history"
        let lines = TextWrap.lines("see \(link)", width: 200, metrics: m)
        #expect(lines == ["see", "https://wiki.", "example.lan/", "projects/sotto/", "release-notes?tab=", "history"], "\(lines)")
        #expect(lines.dropFirst().joined() == link)
        // Nothing to break after in the second half of the line: by characters, as before.
        #expect(TextWrap.lines("abc/defghijklmnopqrstuvwxyz", width: 100, metrics: m) == ["abc/defghi", "jklmnopqrs", "tuvwxyz"])
        // A hanging indent: lines after the first are narrower.
        #expect(TextWrap.lines("one two three four five", width: 100, continuationWidth: 60, metrics: m) == ["one two", "three", "four", "five"])
    }

    /// A newcomer's run: a message whose first word is longer than what the name leaves of the
    /// line (a link) started under the name, the name alone on its line. It starts beside it.
    @Test func aLongFirstWordStartsBesideTheName() {
        let m = MonospaceMetrics(advance: 10)
        let entry = UIContext.LogEntry(key: 1, prefix: "bob", text: "abcdefghijklmnopqrstuvwxyz0123456789 end")
        let lines = LogWrapCache().lines(for: entry, width: 200, indent: 40, metrics: m)
        #expect(lines.first?.hasPrefix("bob abc") == true, "\(lines)")
        #expect(lines.joined().replacingOccurrences(of: " ", with: "") == entry.fullText.replacingOccurrences(of: " ", with: ""))
        // A first word that fits is left as it was.
        #expect(LogWrapCache().lines(for: UIContext.LogEntry(key: 2, prefix: "bob", text: "hi there"), width: 200, indent: 40, metrics: m) == ["bob hi there"])
    }

    /// Review finding: a word of 20,000 zero-width characters (then a few letters) was
    /// measured as ever longer strings, 20,000 times, on the window's thread. Each character
    /// is measured about once.
    @Test func wrappingAWordOfInvisibleCharactersMeasuresEachAboutOnce() {
        final class Counting: TextMeasuring {
            var measured = 0
            func width(_ text: String, style: FontStyle) -> Int {
                measured += text.count
                return text.reduce(0) { $0 + ($1 == "\u{200B}" ? 0 : 8) }
            }
            func lineHeight(_ style: FontStyle) -> Int { 16 }
        }
        let metrics = Counting()
        let word = String(repeating: "\u{200B}", count: 20_000) + String(repeating: "x", count: 300)
        let lines = TextWrap.lines("see " + word, width: 400, metrics: metrics)
        #expect(lines.joined().count == ("see" + word).count)
        #expect(lines.allSatisfy { $0.count <= 400 })
        #expect(metrics.measured < 5 * word.count, "measured \(metrics.measured) characters for \(word.count)")
    }

    /// A newcomer's run: a double click on "afternoon," took the comma with it, and a triple
    /// click did nothing more. A word is selected without the punctuation around it (a link
    /// keeps its inner dots); three clicks select the message's text.
    @Test func aDoubleClickSelectsTheWordAndATripleClickTheMessage() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let advance = MonospaceMetrics().width("x", style: .regular), lineHeight = MonospaceMetrics().lineHeight(.regular) + 4
        let r = Rect(x: 0, y: 0, w: 600, h: 200)  // one line
        let cache = LogWrapCache()
        let entries = [UIContext.LogEntry(key: 1, prefix: "12:00 bob", text: "free all afternoon, see (wiki.lan/x.y).")]
        var result: UIContext.LogResult!
        func click(column: Int, times: Int) {
            ui.input.mouseX = 10 + column * advance + advance / 4; ui.input.mouseY = 2 + lineHeight / 2
            ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = times
            _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
            ui.input.mousePressed = false; ui.input.mouseReleased = true; ui.input.mouseDown = false
            _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
            ui.input.mouseReleased = false
        }
        let full = "12:00 bob free all afternoon, see (wiki.lan/x.y)."
        func column(of word: String) -> Int { full.distance(from: full.startIndex, to: full.range(of: word)!.lowerBound) + 2 }
        click(column: column(of: "afternoon"), times: 2)
        #expect(result.selectedText == "afternoon")
        click(column: column(of: "wiki"), times: 2)
        #expect(result.selectedText == "wiki.lan/x.y")
        click(column: column(of: "all"), times: 3)
        #expect(result.selectedText == "free all afternoon, see (wiki.lan/x.y).")
    }

    /// A message's wrapped lines start under its text, past the time and sender, as chat
    /// clients align them (at most a third of the line); selecting on such a line picks the
    /// character under the mouse.
    @Test func aWrappedMessageHangsUnderItsTextAndSelectsWhereDrawn() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let advance = MonospaceMetrics().width("x", style: .regular), lineHeight = MonospaceMetrics().lineHeight(.regular) + 4
        let r = Rect(x: 0, y: 0, w: 400, h: 200)
        let cache = LogWrapCache()
        let entries = [UIContext.LogEntry(key: 1, prefix: "12:00 bob", text: "the projector in room two is free after three, so bring your own adapter and cables")]
        var result: UIContext.LogResult!
        var commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        let texts = commands.compactMap { if case .text(let t, let x, let y, _, _) = $0 { (t, x, y) } else { nil } }
        let indent = "12:00 bob ".count * advance
        let continuation = texts.filter { $0.2 > texts[0].2 }
        #expect(!continuation.isEmpty && continuation.allSatisfy { $0.1 == 10 + indent }, "\(texts)")
        // Every line inside the log, its width as drawn.
        #expect(texts.allSatisfy { $0.1 + $0.0.count * advance <= r.w - 10 }, "\(texts)")
        // Double-click the second line's first word: that word is selected.
        let second = continuation[0]
        let firstWord = String(second.0.prefix { $0 != " " })
        ui.input.mouseX = second.1 + advance; ui.input.mouseY = second.2 + lineHeight / 2
        ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = 2
        _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        ui.input.mousePressed = false; ui.input.mouseReleased = true; ui.input.mouseDown = false
        commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(result.selectedText == firstWord, "\(result.selectedText) vs \(firstWord)")
        // The selection is drawn behind that word where it is drawn.
        let selection = commands.compactMap { if case .rect(let rr, let c) = $0, c == ui.theme.selection { rr } else { nil } }
        #expect(selection.map(\.x) == [10 + indent], "\(selection)")
        // A long prefix (a search result's place and time) hangs at most a third of the line.
        let long = UIContext.LogEntry(key: 2, prefix: "2026-12-04 18:45 · # room · bob", text: String(repeating: "word ", count: 40))
        let drawn = frame(ui) { _ = ui.log("other", entries: [long], in: r, wrapCache: LogWrapCache()) }
            .compactMap { if case .text(_, let x, let y, _, _) = $0 { (x, y) } else { nil } }
        #expect(drawn.filter { $0.1 > drawn[0].1 }.allSatisfy { $0.0 == 10 + (r.w - 20) / 3 })
    }

    /// An edited text's lines cover every character once (newlines aside), break after the
    /// spaces between words, split a word only when it is wider than a line.
    @Test func segmentsOfAnEditedTextCoverEveryCharacterOnce() {
        let m = MonospaceMetrics(advance: 10)
        func shown(_ text: String, _ width: Int) -> [String] {
            let characters = Array(text)
            return TextWrap.segments(characters, width: width, metrics: m).map { String(characters[$0]) }
        }
        #expect(shown("the quick brown fox", 100) == ["the quick ", "brown fox"])
        #expect(shown("abcdefghijklmnop", 50) == ["abcde", "fghij", "klmno", "p"])
        #expect(shown("a\nb\n", 100) == ["a", "b", ""])
        #expect(shown("", 100) == [""])
        #expect(shown("hi   there", 40) == ["hi   ", "ther", "e"])
        for text in ["the quick brown fox jumps", "a\n\nb c", "   leading", "x" + String(repeating: " ", count: 30) + "y"] {
            let characters = Array(text)
            let covered = TextWrap.segments(characters, width: 50, metrics: m).flatMap { Array($0) }
            #expect(covered == characters.indices.filter { characters[$0] != "\n" }, "\(text)")
        }
    }

    /// A long draft in a multi-line field wraps at its width: every line is drawn inside it,
    /// the caret at the end is on the last line, and a click on a lower line puts it there.
    @Test func aMultiLineFieldWrapsLongTextAndPlacesTheCaretOnItsLines() throws {
        let ui = UIContext(metrics: MonospaceMetrics(advance: 8, height: 16))
        var text = "the quick brown fox jumps over the lazy dog and runs far away"
        let r = Rect(x: 0, y: 0, w: 216, h: 100)  // 200 inside: 25 characters a line
        ui.focus(ui.id("field:m"))
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.placeCaretAtEnd("m", text: text)
        let commands = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        let lines = commands.compactMap { if case .text(let t, let x, let y, _, _) = $0 { (t, x, y) } else { nil } }
        #expect(lines.map(\.0) == ["the quick brown fox jumps ", "over the lazy dog and ", "runs far away"])
        #expect(lines.allSatisfy { $0.1 >= 8 && $0.1 + $0.0.count * 8 <= 8 + 200 + 8 })
        #expect(ui.wrappedLineCount(text, fieldWidth: r.w) == 3)
        try #require(lines.count == 3)
        let caret = try #require(ui.caret)
        #expect(caret.rect.y == lines[2].2 && caret.rect.x == 8 + 13 * 8)
        // A click on the second line, after "over": the caret goes there.
        ui.input.mouseX = 8 + 4 * 8 + 2
        ui.input.mouseY = lines[1].2 + 4
        ui.input.mousePressed = true
        ui.input.mouseDown = true
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        #expect(ui.editState("m")?.caret == 26 + 4)
    }

    /// Review finding: a pasted word of 100 KB was measured whole again for every line it
    /// made (quadratic: seconds per keystroke). Each character is measured about once.
    @Test func wrappingAVeryLongWordMeasuresEachCharacterAboutOnce() {
        final class Counting: TextMeasuring {
            var measured = 0
            func width(_ text: String, style: FontStyle) -> Int { measured += text.count; return text.count * 8 }
            func lineHeight(_ style: FontStyle) -> Int { 16 }
        }
        let metrics = Counting()
        let word = Array(String(repeating: "x", count: 20_000))
        let lines = TextWrap.segments(word, width: 200, metrics: metrics)
        #expect(lines.count == 800 && lines.allSatisfy { $0.count == 25 })
        #expect(metrics.measured < 3 * word.count, "\(metrics.measured) characters measured for \(word.count)")
    }

    /// A long draft draws the lines in view, not all of them; a click past the end of a
    /// wrapped line puts the caret on that line (its end is the next line's start).
    @Test func aMultiLineFieldDrawsOnlyTheLinesInViewAndClicksPastALineStayOnIt() throws {
        let ui = UIContext(metrics: MonospaceMetrics(advance: 8, height: 16))
        var text = (0..<200).map { "line \($0) of a very long draft" }.joined(separator: " ")
        let r = Rect(x: 0, y: 0, w: 216, h: 100)
        ui.focus(ui.id("field:m"))
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        let commands = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        let drawn = commands.filter { if case .text = $0 { true } else { false } }
        #expect(ui.wrappedLineCount(text, fieldWidth: r.w) > 100)
        #expect(drawn.count <= 8, "\(drawn.count) lines drawn for a field of 100 pt")
        // Short text: a click far right of the first, wrapped, line.
        text = "hello world this is a wrapping test"  // "hello world this is a " then "wrapping test"
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.input.mouseX = 210
        ui.input.mouseY = 6
        ui.input.mousePressed = true
        ui.input.mouseDown = true
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.input.mousePressed = false
        ui.input.mouseDown = false
        #expect(ui.editState("m")?.caret == 21)  // before the space after "a"
        let caret = try #require(ui.caret)
        #expect(caret.rect.y == 4, "the caret went to the next line")
    }

    /// From a newcomer's run: a click on a line of a scrolled composer moved all its text
    /// (the scroll followed the caret's line up); a drag selected nothing; Shift held from an
    /// earlier frame did not extend the selection on a click.
    @Test func aMultiLineFieldKeepsItsScrollOnAClickAndSelectsByDragAndShiftClick() throws {
        let ui = UIContext(metrics: MonospaceMetrics(advance: 8, height: 16))
        var text = (1...10).map { "line \($0)" }.joined(separator: "\n")  // 10 lines, 3 in view
        let r = Rect(x: 0, y: 0, w: 216, h: 56)  // 48 inside
        ui.focus(ui.id("field:m"))
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.placeCaretAtEnd("m", text: text)
        var commands = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        func topLine(_ commands: [DrawCommand]) -> String? {
            commands.compactMap { if case .text(let t, _, let y, _, _) = $0, y >= 4 - 8 { (t, y) } else { nil } }.min { $0.1 < $1.1 }?.0
        }
        #expect(topLine(commands) == "line 8")
        // A click on the middle line in view ("line 9"): nothing moves.
        func press(x: Int, y: Int, shift: Bool = false) {
            ui.input.mouseX = x
            ui.input.mouseY = y
            ui.input.mousePressed = true
            ui.input.mouseDown = true
            ui.input.modifiers = shift ? .shift : []
            commands = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
            ui.input.mousePressed = false
        }
        press(x: 8 + 2 * 8 + 2, y: 4 + 16 + 4)
        #expect(ui.editState("m")?.caret == Array(text).firstIndex(of: "9")! - 3)
        #expect(topLine(commands) == "line 8", "the text moved under the click")
        // Dragged to the end of "line 10": selected from "ne 9" on.
        ui.input.mouseX = 8 + 7 * 8 + 2
        ui.input.mouseY = 4 + 32 + 4
        commands = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.input.mouseDown = false
        ui.input.mouseReleased = true
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.input.mouseReleased = false
        #expect(ui.editState("m")?.selectedText == "ne 9\nline 10")
        // A click with Shift held since an earlier frame extends from where it was.
        press(x: 8, y: 4 + 4)
        ui.input.mouseDown = false
        press(x: 8 + 4 * 8 + 2, y: 4 + 16 + 4, shift: true)
        ui.input.mouseDown = false
        #expect(ui.editState("m")?.selectedText == "line 8\nline")
    }

    /// From a newcomer's run: Up and Down did nothing in a draft of several lines. They move
    /// the caret to the line above or below; past the first or last, they step the history.
    @Test func upAndDownMoveBetweenTheLinesOfAMultiLineField() {
        let ui = UIContext(metrics: MonospaceMetrics(advance: 8, height: 16))
        var text = "first line\nsecond\nthe third line"
        let r = Rect(x: 0, y: 0, w: 216, h: 80)
        var result = UIContext.FieldResult()
        ui.focus(ui.id("field:m"))
        _ = frame(ui) { ui.textField("m", text: &text, in: r, multiline: true) }
        ui.placeCaretAtEnd("m", text: text)
        func press(_ key: Key, _ mods: Modifiers = []) {
            ui.input.keys = [(key, mods)]
            _ = frame(ui) { result = ui.textField("m", text: &text, in: r, multiline: true) }
            ui.input.keys = []
        }
        press(.up)
        #expect(ui.editState("m")?.caret == 17 && result.historyStep == 0)  // the end of "second"
        press(.up)
        #expect(ui.editState("m")?.caret == 6 && result.historyStep == 0)  // "first " and on
        press(.up)
        #expect(ui.editState("m")?.caret == 6 && result.historyStep == -1)
        press(.down, .shift)
        #expect(ui.editState("m")?.selectedText == "line\nsecond" && result.historyStep == 0)
        press(.down)
        press(.down)
        #expect(result.historyStep == 1)
    }

    /// From a newcomer's run: a message's first line ran into its "e2e" badge (the name is
    /// drawn bold, wider than it was measured for wrapping).
    @Test func aMessageNeverRunsIntoItsBadge() {
        final class BoldIsWider: TextMeasuring {
            func width(_ text: String, style: FontStyle) -> Int { text.count * (style == .bold ? 10 : 8) }
            func lineHeight(_ style: FontStyle) -> Int { 16 }
        }
        let metrics = BoldIsWider()
        let ui = UIContext(metrics: metrics)
        let r = Rect(x: 0, y: 0, w: 400, h: 200)
        let entry = UIContext.LogEntry(key: 1, prefix: "12:00 alexandra-the-great", text: "the projector in room two is free after three across the whole afternoon", badge: "e2e")
        let commands = frame(ui) { _ = ui.log("chat", entries: [entry], in: r, wrapCache: LogWrapCache()) }
        let texts = commands.compactMap { if case .text(let t, let x, let y, _, let style) = $0 { (t, x, y, style) } else { nil } }
        guard let badge = texts.first(where: { $0.0 == "e2e" }) else { Issue.record("no badge"); return }
        let sameRow = texts.filter { $0.0 != "e2e" && abs($0.2 - badge.2) < 16 }
        #expect(sameRow.count == 2, "the name and the first words: \(sameRow.map(\.0))")
        for line in sameRow {
            #expect(line.1 + metrics.width(line.0, style: line.3) + 4 <= badge.1, "\(line.0) runs into the badge")
        }
    }

    @Test func theLogFollowsOnlyWhenAtTheBottomAndDrawsOnlyVisibleLines() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let r = Rect(x: 0, y: 0, w: 300, h: 100)  // 20 pt lines: 5 visible
        var entries = (0..<1_000).map { UIContext.LogEntry(key: $0, text: "line \($0)") }
        var result: UIContext.LogResult!
        var commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(result.atBottom)
        let texts = commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
        #expect(texts.count <= 8 && texts.contains("line 999") && !texts.contains("line 0"))
        // Scroll up: new lines do not move the view, they are counted.
        ui.input.mouseX = 10; ui.input.mouseY = 10; ui.input.wheel = 5
        _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(!result.atBottom)
        entries += (1_000..<1_003).map { UIContext.LogEntry(key: $0, text: "line \($0)") }
        commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(result.newBelow == 3)
        #expect(!commands.contains { if case .text("line 1002", _, _, _, _) = $0 { true } else { false } })
        // PageDown scrolls even while a text field has the focus.
        ui.focus(ui.id("field:any"))
        ui.input.mouseX = -1
        var any = ""
        for _ in 0..<5 {
            ui.input.keys = [(.pageDown, [])]
            _ = frame(ui) {
                ui.textField("any", text: &any, in: Rect(x: 0, y: 200, w: 100, h: 30))
                result = ui.log("chat", entries: entries, in: r, wrapCache: cache)
            }
        }
        #expect(result.atBottom)
        ui.input.keys = [(.pageUp, [])]
        _ = frame(ui) {
            ui.textField("any", text: &any, in: Rect(x: 0, y: 200, w: 100, h: 30))
            result = ui.log("chat", entries: entries, in: r, wrapCache: cache)
        }
        #expect(!result.atBottom && any.isEmpty)
        // The "new messages" button jumps back and following resumes.
        ui.scrollLogToBottom("chat")
        commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(result.atBottom && result.newBelow == 0)
        #expect(commands.contains { if case .text("line 1002", _, _, _, _) = $0 { true } else { false } })
    }

    /// From a newcomer's run: scrolled up, "1 new message" became "2 new messages" when the
    /// line added was "carol is online". Only what the source counts as new is counted.
    @Test func onlyWhatCountsAsNewIsCountedBelowTheView() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let r = Rect(x: 0, y: 0, w: 300, h: 100)
        var entries = (0..<100).map { UIContext.LogEntry(key: $0, text: "line \($0)") }
        func source() -> UIContext.LogSource {
            let shown = entries
            return UIContext.LogSource(count: shown.count, entry: { shown[$0] }, key: { shown[$0].key },
                                       countsAsNew: { !shown[$0].text.hasSuffix("is online") })
        }
        var result: UIContext.LogResult!
        _ = frame(ui) { result = ui.log("chat", source: source(), in: r, wrapCache: cache) }
        ui.input.mouseX = 10; ui.input.mouseY = 10; ui.input.wheel = 5
        _ = frame(ui) { result = ui.log("chat", source: source(), in: r, wrapCache: cache) }
        #expect(!result.atBottom)
        entries.append(UIContext.LogEntry(key: 100, text: "a message"))
        _ = frame(ui) { result = ui.log("chat", source: source(), in: r, wrapCache: cache) }
        #expect(result.newBelow == 1)
        entries.append(UIContext.LogEntry(key: 101, text: "carol is online"))
        _ = frame(ui) { result = ui.log("chat", source: source(), in: r, wrapCache: cache) }
        #expect(result.newBelow == 1)
        entries += [UIContext.LogEntry(key: 102, text: "dave is online"), UIContext.LogEntry(key: 103, text: "another")]
        _ = frame(ui) { result = ui.log("chat", source: source(), in: r, wrapCache: cache) }
        #expect(result.newBelow == 2)
    }

    /// Issue 13.7: the wrap cache was keyed by entry and width only, so a line whose text
    /// changed under the same key (a message marked "(not sent)") was drawn with its old text.
    @Test func aLineWhoseTextChangesIsWrappedAgain() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let r = Rect(x: 0, y: 0, w: 300, h: 100)
        _ = frame(ui) { _ = ui.log("chat", entries: [UIContext.LogEntry(key: 7, text: "see you at noon")], in: r, wrapCache: cache) }
        let commands = frame(ui) { _ = ui.log("chat", entries: [UIContext.LogEntry(key: 7, text: "(not sent) see you at noon")], in: r, wrapCache: cache) }
        let texts = commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
        #expect(texts.contains("(not sent) see you at noon"), "\(texts)")
    }

    /// Issue 13.6: a click on the floating "new messages" button also selected the log row
    /// beneath it. A reserved overlay rect takes the mouse from what is drawn under it.
    @Test func aFloatingButtonTakesTheClickFromTheRowBeneath() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let r = Rect(x: 0, y: 0, w: 300, h: 100)
        let entries = (0..<20).map { UIContext.LogEntry(key: $0, text: "line \($0)") }
        let button = Rect(x: 150, y: 60, w: 140, h: 30)
        var result: UIContext.LogResult!
        var clicked = false
        func draw() {
            _ = frame(ui) {
                ui.reserveOverlay(button)
                result = ui.log("chat", entries: entries, in: r, wrapCache: cache)
                ui.overlayLayer { clicked = ui.button("3 new messages ↓", in: button, idLabel: "jump") }
            }
        }
        ui.input.mouseX = 200; ui.input.mouseY = 75
        ui.input.mousePressed = true; ui.input.mouseDown = true
        draw()
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        draw()
        #expect(clicked)
        #expect(result.selectedText.isEmpty, "the row under the button was selected: \(result.selectedText)")
        // Beside the button, the same (double) click selects a word of the row.
        ui.input.mouseX = 10
        ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = 2
        draw()
        #expect(!result.selectedText.isEmpty)
    }

    /// Issue 13.9: fingerprints were cut mid-character; every clipped text gets an ellipsis.
    @Test func aLabelThatDoesNotFitEndsInAnEllipsis() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let advance = MonospaceMetrics().width("x", style: .regular)
        let fingerprint = "not verified · SHA256:FYvfiWwuXmQ0k3…"
        var commands = frame(ui) { ui.label(fingerprint, in: Rect(x: 0, y: 0, w: advance * 20, h: 20)) }
        var texts = commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
        #expect(texts == ["not verified · SHA2…"], "\(texts)")
        // Clipped by what encloses it, too (a sidebar narrower than the row).
        commands = frame(ui) {
            ui.pushClip(Rect(x: 0, y: 0, w: advance * 10, h: 100))
            ui.label(fingerprint, in: Rect(x: 0, y: 0, w: advance * 40, h: 20))
            ui.popClip()
        }
        texts = commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
        #expect(texts == ["not verif…"], "\(texts)")
        // A placeholder too.
        var empty = ""
        commands = frame(ui) { ui.textField("f", text: &empty, in: Rect(x: 0, y: 0, w: advance * 14, h: 30), placeholder: "Message everyone (Enter sends)") }
        texts = commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
        #expect(texts.contains { $0.hasSuffix("…") && $0.count < 14 }, "\(texts)")
        commands = frame(ui) { ui.label("fits", in: Rect(x: 0, y: 0, w: advance * 20, h: 20)) }
        #expect(commands.contains { if case .text("fits", _, _, _, _) = $0 { true } else { false } })
    }

    func visibleTexts(_ commands: [DrawCommand]) -> [String] {
        commands.compactMap { if case .text(let s, _, _, _, _) = $0 { s } else { nil } }
    }

    /// Issue 13.14: a resize re-wrapped everything and the view jumped; the entry at the top
    /// stays at the top.
    @Test func resizingKeepsTheEntryAtTheTopAtTheTop() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let entries = (0..<300).map { UIContext.LogEntry(key: $0, text: "entry \($0) " + String(repeating: "word ", count: $0 % 7 * 4)) }
        var r = Rect(x: 0, y: 0, w: 300, h: 200)
        _ = frame(ui) { _ = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        for _ in 0..<10 {
            ui.input.keys = [(.pageUp, [])]
            _ = frame(ui) { _ = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        }
        var commands = frame(ui) { _ = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        let topBefore = visibleTexts(commands).first { $0.hasPrefix("entry ") }
        #expect(topBefore != nil && topBefore != "entry 0 ")
        for width in [380, 240, 300] {
            r.w = width
            commands = frame(ui) { _ = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
            let top = visibleTexts(commands).first { $0.hasPrefix("entry ") }
            #expect(top?.split(separator: " ").prefix(2) == topBefore?.split(separator: " ").prefix(2), "at \(width): \(top ?? "-") vs \(topBefore ?? "-")")
        }
    }

    /// Issue 13.14: the log has a scrollbar you can drag.
    @Test func theScrollbarsThumbDragsTheLog() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let entries = (0..<500).map { UIContext.LogEntry(key: $0, text: "line \($0)") }
        let r = Rect(x: 0, y: 0, w: 300, h: 200)
        var result: UIContext.LogResult!
        var commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(result.atBottom)
        // The thumb sits at the bottom of the track; press it and drag to the top.
        ui.input.mouseX = r.maxX - 5; ui.input.mouseY = r.maxY - 5
        ui.input.mousePressed = true; ui.input.mouseDown = true
        _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        ui.input.mouseY = -500
        commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(!result.atBottom)
        #expect(visibleTexts(commands).contains("line 0"), "\(visibleTexts(commands).prefix(3))")
        #expect(result.selectedText.isEmpty, "a press on the scrollbar selects no row")
        // Released: the log stays where it was dragged.
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        _ = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        ui.input.mouseY = 100
        commands = frame(ui) { result = ui.log("chat", entries: entries, in: r, wrapCache: cache) }
        #expect(visibleTexts(commands).contains("line 0"))
    }

    /// Issue 13.2: selection was by whole messages only, Shift-click worked only when Shift
    /// went down in the same frame, and Ctrl+C copied nothing while the composer had focus.
    @Test func dragSelectsCharactersAcrossLinesAndCtrlCCopiesItWhereverTheFocusIs() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var clipboard = ""
        ui.setClipboard = { clipboard = $0 }
        let cache = LogWrapCache()
        let advance = MonospaceMetrics().width("x", style: .regular)
        let lineHeight = MonospaceMetrics().lineHeight(.regular) + 4
        let r = Rect(x: 0, y: 0, w: 400, h: 200)
        let entries = [UIContext.LogEntry(key: 1, text: "first line here"),
                       UIContext.LogEntry(key: 2, text: "second line here"),
                       UIContext.LogEntry(key: 3, text: "third line here")]
        var result: UIContext.LogResult!
        var draft = "typing"
        func draw() {
            _ = frame(ui) {
                ui.textField("message", text: &draft, in: Rect(x: 0, y: 250, w: 200, h: 30))
                result = ui.log("chat", entries: entries, in: r, wrapCache: cache)
            }
        }
        ui.focus(ui.id("field:message"))
        draw()
        func at(_ column: Int, row: Int) -> (Int, Int) { (10 + column * advance + advance / 4, row * (lineHeight + 2) + 2 + lineHeight / 2) }
        // Press on "line" of the first entry (column 6), drag to after "second" (column 6 of row 1).
        (ui.input.mouseX, ui.input.mouseY) = at(6, row: 0)
        ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = 1
        draw()
        #expect(result.selectedText.isEmpty, "a click alone selects nothing")
        (ui.input.mouseX, ui.input.mouseY) = at(6, row: 1)
        draw()
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        draw()
        #expect(result.selectedText == "line here\nsecond")
        #expect(ui.isFocused(ui.id("field:message")), "the composer keeps the focus")
        ui.input.keys = [(.c, .control)]
        draw()
        #expect(clipboard == "line here\nsecond")
        // Shift held since an earlier frame: a click extends the selection.
        ui.input.modifiers = [.shift]
        draw()
        (ui.input.mouseX, ui.input.mouseY) = at(5, row: 2)
        ui.input.mousePressed = true; ui.input.mouseDown = true
        draw()
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        draw()
        #expect(result.selectedText == "line here\nsecond line here\nthird")
        ui.input.modifiers = []
        func click(_ point: (Int, Int), times: Int) {
            (ui.input.mouseX, ui.input.mouseY) = point
            ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = times
            draw()
            ui.input.mouseReleased = true; ui.input.mouseDown = false
            draw()
        }
        // A double click selects a word.
        click(at(8, row: 1), times: 2)
        #expect(result.selectedText == "line")
        // A press on the log below its entries deselects (a newcomer's run: only Escape or a
        // click on text did); one on an entry's text starts a new selection as before.
        click((100, 180), times: 1)
        #expect(result.selectedText.isEmpty)
        click(at(8, row: 1), times: 2)
        #expect(result.selectedText == "line")
        // Escape clears it; then Ctrl+C is the composer's again.
        ui.input.keys = [(.escape, [])]
        draw()
        #expect(result.selectedText.isEmpty)
    }

    /// A newcomer's run: a selection across a centred system line copied it, but drew it as
    /// not selected. What is copied is what is shown selected.
    @Test func aCentredLineInsideASelectionIsShownSelectedAsItIsCopied() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let advance = MonospaceMetrics().width("x", style: .regular)
        let lineHeight = MonospaceMetrics().lineHeight(.regular) + 4
        let entries = [UIContext.LogEntry(key: 1, text: "first line here"),
                       UIContext.LogEntry(key: 2, text: "bob is online", centered: true),
                       UIContext.LogEntry(key: 3, text: "third line here")]
        var result: UIContext.LogResult!
        var commands: [DrawCommand] = []
        func draw() { commands = frame(ui) { result = ui.log("chat", entries: entries, in: Rect(x: 0, y: 0, w: 400, h: 200), wrapCache: cache) } }
        draw()
        func at(_ column: Int, row: Int) -> (Int, Int) { (10 + column * advance + advance / 4, row * (lineHeight + 2) + 2 + lineHeight / 2) }
        (ui.input.mouseX, ui.input.mouseY) = at(6, row: 0)
        ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = 1
        draw()
        (ui.input.mouseX, ui.input.mouseY) = at(5, row: 2)
        draw()
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        draw()
        #expect(result.selectedText.contains("bob is online"))
        let centredRow = lineHeight + 2 + 2
        let selected = commands.compactMap { if case .rect(let rr, let c) = $0, c == ui.theme.selection { rr } else { nil } }
        #expect(selected.contains { $0.y == centredRow }, "the centred line is copied but not shown selected: \(selected)")
    }

    /// A click on a link (pressed and let go on it, in one frame or two) reports it; a drag
    /// from it selects instead, and a release off the log opens nothing. Links are underlined.
    @Test func aClickOnALinkReportsItAndADragSelects() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let advance = MonospaceMetrics().width("x", style: .regular)
        let lineHeight = MonospaceMetrics().lineHeight(.regular) + 4
        let text = "see http://a.lan/x now"
        let entries = [UIContext.LogEntry(key: 1, prefix: "bob", text: text, links: [4..<18])]
        var result: UIContext.LogResult!
        var commands: [DrawCommand] = []
        func draw() { commands = frame(ui) { result = ui.log("chat", entries: entries, in: Rect(x: 0, y: 0, w: 400, h: 200), wrapCache: cache) } }
        draw()
        #expect(commands.contains { if case .rect(let rr, let c) = $0 { c == ui.theme.link && rr.h == 1 } else { false } }, "not underlined")
        // "bob " then the text: the link starts at column 8.
        func at(_ column: Int) -> (Int, Int) { (10 + column * advance + advance / 4, 2 + lineHeight / 2) }
        func press(_ p: (Int, Int), release: Bool) {
            (ui.input.mouseX, ui.input.mouseY) = p
            ui.input.mousePressed = true; ui.input.mouseDown = true; ui.input.clickCount = 1
            if release { ui.input.mouseReleased = true; ui.input.mouseDown = false }
            draw()
        }
        func release(_ p: (Int, Int)) {
            (ui.input.mouseX, ui.input.mouseY) = p
            ui.input.mouseReleased = true; ui.input.mouseDown = false
            draw()
        }
        press(at(10), release: true)
        #expect(result.clickedLink == "http://a.lan/x", "pressed and let go in one frame")
        draw()
        #expect(result.clickedLink == nil, "reported once")
        press(at(10), release: false)
        #expect(result.clickedLink == nil)
        release(at(10))
        #expect(result.clickedLink == "http://a.lan/x", "let go a frame later")
        // Beside the link: nothing.
        press(at(4), release: true)
        #expect(result.clickedLink == nil)
        // A drag from the link selects.
        press(at(10), release: false)
        (ui.input.mouseX, ui.input.mouseY) = at(20)
        draw()
        release(at(20))
        #expect(result.clickedLink == nil && !result.selectedText.isEmpty)
        // Let go off the log: nothing opens.
        press(at(10), release: false)
        release((10, 300))
        #expect(result.clickedLink == nil)
        // A stale press never opens later: a release elsewhere after a press and release in one frame.
        press(at(4), release: true)
        release((10, 300))
        #expect(result.clickedLink == nil)
    }

    @Test func aModalDialogTakesTheInputFromWhatIsBehindIt() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var behind = ""
        var dismissed = false
        ui.focus(ui.id("field:behind"))
        _ = frame(ui) { ui.textField("behind", text: &behind, in: Rect(x: 0, y: 0, w: 100, h: 30)) }
        ui.input.text = "x"
        ui.input.keys = [(.escape, [])]
        let commands = frame(ui) {
            ui.dialog { _ = ui.modal(title: "Sure?", width: 200, height: 100, dismissed: &dismissed) }
            ui.textField("behind", text: &behind, in: Rect(x: 0, y: 0, w: 100, h: 30))
        }
        #expect(behind.isEmpty)
        #expect(dismissed)
        // The dialog is drawn last, on top.
        #expect(commands.last { if case .text = $0 { true } else { false } } == .text("Sure?", x: 116, y: 122, Color(225, 228, 235), .bold))
    }

    /// Issue 13 (costs): the log was handed every entry, each made and measured every frame,
    /// so a frame cost the whole log. It asks only for the entries it shows (and those it
    /// scrolls across), whether the log holds a hundred entries or a million.
    @Test func theLogAsksOnlyForTheEntriesItShows() {
        let ui = UIContext(metrics: MonospaceMetrics())
        let cache = LogWrapCache()
        let r = Rect(x: 0, y: 0, w: 300, h: 200)  // 20 pt lines: 10 visible
        var asked = 0
        var count = 1_000_000
        func source() -> UIContext.LogSource {
            UIContext.LogSource(count: count, entry: { i in
                asked += 1
                return UIContext.LogEntry(key: i, text: "message \(i) " + String(repeating: "word ", count: i % 9))
            }, key: { $0 })
        }
        var result: UIContext.LogResult!
        func draw() -> (asked: Int, texts: [String]) {
            asked = 0
            let commands = frame(ui) { result = ui.log("big", source: source(), in: r, wrapCache: cache) }
            return (asked, visibleTexts(commands))
        }
        var shown = draw()
        #expect(result.atBottom && shown.texts.contains { $0.hasPrefix("message 999999") })
        #expect(shown.asked <= 30, "at the bottom: \(shown.asked) entries asked for")
        // Fifty messages arrive, one frame each: each frame asks for what it shows.
        for _ in 0..<50 {
            count += 1
            shown = draw()
            #expect(shown.asked <= 30, "a new message: \(shown.asked)")
        }
        // Page up, the wheel, a resize, the scrollbar dragged to the middle.
        ui.input.keys = [(.pageUp, [])]
        shown = draw()
        #expect(!result.atBottom && shown.asked <= 40, "page up: \(shown.asked)")
        ui.input.mouseX = 50; ui.input.mouseY = 50; ui.input.wheel = 3
        shown = draw()
        #expect(shown.asked <= 40, "wheel: \(shown.asked)")
        shown = draw()
        let thumb = ui.widgetRects[ui.id("log-thumb:big")]!
        ui.input.mouseX = thumb.x + 2; ui.input.mouseY = thumb.y + 2
        ui.input.mousePressed = true; ui.input.mouseDown = true
        _ = draw()
        ui.input.mouseY = r.h / 2
        shown = draw()
        #expect(shown.asked <= 40, "thumb drag: \(shown.asked)")
        let middle = shown.texts.compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }.first ?? -1
        #expect((300_000...700_000).contains(middle), "the middle of the log is shown: \(middle)")
        ui.input.mouseReleased = true; ui.input.mouseDown = false
        _ = draw()
        asked = 0
        _ = frame(ui) { result = ui.log("big", source: source(), in: Rect(x: 0, y: 0, w: 260, h: 200), wrapCache: cache) }
        #expect(asked <= 40, "resize: \(asked)")
    }

    /// Issue 13 (costs): a blink re-laid-out and redrew the whole window. The caret is kept
    /// apart from the frame: the frame's commands do not change while it blinks, and it stops
    /// blinking (solid) after ten seconds without input, so an idle window sleeps.
    @Test func theCaretBlinksApartFromTheFrameAndStopsAfterTenSeconds() {
        let ui = UIContext(metrics: MonospaceMetrics())
        var text = "hello"
        func draw(at time: Double, typing: String = "") -> [DrawCommand] {
            ui.input.text = typing
            ui.beginFrame(width: 400, height: 300, time: time)
            ui.textField("message", text: &text, in: Rect(x: 0, y: 0, w: 300, h: 30))
            return ui.endFrame()
        }
        ui.focus(ui.id("field:message"))
        _ = draw(at: 99)
        let frame = draw(at: 100)
        #expect(ui.caret != nil)
        // The frame at any later moment is the same: only the caret changes.
        #expect(draw(at: 100.7) == frame)
        _ = draw(at: 100, typing: "!")
        let since = ui.lastInputTime
        #expect(ui.caretVisible(at: since) && ui.caretVisible(at: since + 0.4))
        #expect(!ui.caretVisible(at: since + 0.6))
        #expect(ui.caretVisible(at: since + 1.1))
        #expect(!ui.caretCommands(at: since).isEmpty && ui.caretCommands(at: since + 0.6).isEmpty)
        #expect(abs((ui.secondsToNextCaretChange(after: since + 0.2) ?? 0) - 0.3) < 1e-9)
        // Ten seconds after the last key, solid, and nothing more to wake for.
        #expect(ui.caretVisible(at: since + 10.6))
        #expect(ui.secondsToNextCaretChange(after: since + 10.1) == nil)
        _ = draw(at: since + 11)
        #expect(!ui.wantsTimer)
        // Typing again: solid at once, blinking again.
        _ = draw(at: since + 20, typing: "?")
        #expect(ui.wantsTimer && ui.caretVisible(at: since + 20) && !ui.caretVisible(at: since + 20.6))
        // The window behind others: typing goes elsewhere, so no caret, and nothing to wake for
        // (a newcomer's run: it went on blinking there). Back in front, solid, blinking again.
        ui.input.windowFocused = false
        _ = draw(at: since + 21)
        #expect(!ui.caretVisible(at: since + 21.1) && ui.caretCommands(at: since + 21.1).isEmpty)
        #expect(ui.secondsToNextCaretChange(after: since + 21.1) == nil)
        ui.input.windowFocused = true
        _ = draw(at: since + 40)
        #expect(ui.caretVisible(at: since + 40.1) && ui.secondsToNextCaretChange(after: since + 40.1) != nil)
    }
}
