import Testing
@testable import SottoCore

@Suite struct TextSafetyTests {
    /// What a member typed to forge a line in sotto-cli: CR, erase line, an OSC title, a
    /// fake prompt. Escaped, every control is a visible stand-in and nothing acts.
    @Test func controlsAndBidiOverridesAreShownNotObeyed() {
        let forged = "hi\r\u{1B}[2K\u{1B}]0;pwned\u{07}<beater> paste your password here\u{202E}txt.exe\u{7F}\u{9B}31m\n"
        let shown = TerminalText.escaped(forged)
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E })
        #expect(shown == "hi␍␛[2K␛]0;pwned␇<beater> paste your password here<U+202E>txt.exe␡<U+009B>31m␊")
        #expect(TerminalText.escaped("plain text, ünïcödé, 日本語 👋") == "plain text, ünïcödé, 日本語 👋")
        for bidi: Unicode.Scalar in ["\u{061C}", "\u{200E}", "\u{200F}", "\u{202A}", "\u{2066}", "\u{2069}"] {
            #expect(TerminalText.escaped(String(bidi)).hasPrefix("<U+"))
        }
    }

    @Test func blankRenderingNamesAreRefused() {
        for name in ["\u{3164}", "a\u{3164}", "\u{2800}", "\u{115F}x", "bo\u{200B}b", "a\u{FE0F}", "\u{FFA0}"] {
            #expect(throws: Username.Problem.invisibleCharacter, "\(name.unicodeScalars.map { String($0.value, radix: 16) })") { try Username(name) }
        }
    }

    /// A listed name must be exactly what a login would have been shown as.
    @Test func namesAServerListsAreHeldToTheLoginRules() {
        #expect((try? Username.validate(listed: "zoë").get())?.display == "zoë")
        #expect(Username.validate(listed: "e\u{301}") == .failure(.notNormalized))
        #expect(Username.validate(listed: "") == .failure(.empty))
        #expect(Username.validate(listed: "a\u{1B}b") == .failure(.invisibleCharacter))
        #expect(Username.validate(listed: " a") == .failure(.surroundingSpace))
        #expect(Username.validate(listed: String(repeating: "x", count: 33)) == .failure(.tooLong))
    }
}
