import Testing
@testable import SottoCore

/// A newcomer's run: "Arabic مرحبا" came out reversed and unjoined ("ابحرم"). Each line is
/// drawn in visual order, Arabic letters in their joined forms.
@Suite struct BidiTextTests {
    @Test func leftToRightTextIsLeftAlone() {
        let line = "15:19 bob see you at 5 — ünïcödé, 日本語 👋"
        #expect(BidiText.visual(line) == line)
    }

    @Test func hebrewIsDrawnAsItIsRead() {
        #expect(BidiText.visual("שלום") == "םולש")
        // In a left-to-right line, the Hebrew run alone turns.
        #expect(BidiText.visual("bob: שלום!") == "bob: םולש!")
    }

    @Test func arabicIsJoinedThenTurned() {
        let visual = Array(BidiText.visual("bob مرحبا").unicodeScalars.map(\.value))
        #expect(Array(visual.prefix(4)) == Array("bob ".unicodeScalars.map(\.value)))
        // مرحبا (meem reh hah beh alef), read right to left: alef's final form is drawn first
        // from the left, meem's initial form last.
        #expect(visual.count == 9)
        #expect(visual[4] == 0xFE8E, "alef, final form")
        #expect(visual.last == 0xFEE3, "meem, initial form")
        #expect(!visual.contains(where: { (0x0600...0x06FF).contains($0) }), "letters left unjoined")
    }
}
