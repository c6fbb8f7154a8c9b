import Foundation
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

    /// An attacker's review: sotto-cli --json passed C1 controls, bidi overrides and U+2028
    /// through as raw bytes (JSON encoders escape only what is below U+0020). They are
    /// `\u` escapes now: the same JSON to a parser, inert in a terminal.
    @Test func jsonCarriesWhatATerminalCouldObeyAsEscapes() throws {
        let text = "pay \u{9B}31m\u{202E}gpj.exe\u{2028}line\u{7F} ünïcödé 👋"
        let data = try JSONSerialization.data(withJSONObject: ["text": text], options: [.sortedKeys])
        let json = TerminalText.jsonEscaped(String(decoding: data, as: UTF8.self))
        #expect(!json.unicodeScalars.contains { TerminalText.needsEscape($0) })
        #expect(json.contains("\\u009b") && json.contains("\\u202e") && json.contains("\\u2028") && json.contains("ünïcödé 👋"))
        let back = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(back?["text"] == text, "the same JSON to a parser")
        #expect(TerminalText.escaped("a\u{2028}b") == "a<U+2028>b")
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

@Suite struct LookAlikeTests {
    /// What the review registered next to the real users, each the same skeleton as its model.
    @Test func lookAlikesShareASkeleton() {
        let pairs: [(String, String)] = [
            ("alice", "\u{430}lice"),        // Cyrillic а
            ("alice", "aIice"),              // capital I for l
            ("alice", "AIice"),              // and a capital A (an attacker's review)
            ("alice", "ａｌｉｃｅ"),          // fullwidth
            ("alice", "𝐚𝐥𝐢𝐜𝐞"),          // mathematical bold
            ("bob", "b\u{3BF}b"),            // Greek ο
            ("straße", "STRASSE"),
            ("beater", "b\u{435}ater"),      // Cyrillic е
        ]
        for (model, copy) in pairs {
            #expect(LookAlike.skeleton(model) == LookAlike.skeleton(copy) || LookAlike.displaySkeleton(model) == LookAlike.displaySkeleton(copy),
                    "\(copy) vs \(model)")
        }
        #expect(LookAlike.displaySkeleton("aIice") == LookAlike.displaySkeleton("alice"))
        #expect(LookAlike.displaySkeleton("AIice") == LookAlike.displaySkeleton("alice"))
        #expect(LookAlike.skeleton("ALICE") == LookAlike.skeleton("alice"))
        #expect(LookAlike.skeleton("alice") != LookAlike.skeleton("alicia"))
        #expect(LookAlike.skeleton("bob") != LookAlike.skeleton("rob"))
    }

    @Test func mixedScriptsAreFoundAndOrdinaryNamesAreNot() {
        for mixed in ["b\u{435}ater", "\u{430}lice", "b\u{3BF}b", "a1\u{661}"] {
            #expect(LookAlike.isMixed(mixed), "\(mixed)")
        }
        for fine in ["alice", "zoë", "Ann Marie", "O'Brien", "bob_2", "日本語", "にほん語", "Борис", "Ελένη", "ünïcödé", "dave 🙂"] {
            #expect(!LookAlike.isMixed(fine), "\(fine)")
        }
    }
}

@Suite struct UsernameLookAlikeTests {
    @Test func namesThatReadAsAnotherShareItsKeyOrAreRefused() throws {
        // One key: the server holds only one of each group at a time.
        for (model, copy) in [("alice", "aIice"), ("alice", "ＡＬＩＣＥ"), ("alice", "𝐚𝐥𝐢𝐜𝐞"), ("straße", "STRASSE"), ("ace", "\u{430}\u{441}\u{435}")] {
            let a = try Username(model), b = try Username(copy)
            #expect(a.key == b.key || a.displayKey == b.displayKey, "\(copy)")
        }
        // Mixed scripts: refused outright.
        for mixed in ["\u{430}lice", "b\u{3BF}b", "b\u{435}ater"] {
            #expect(throws: Username.Problem.mixedScripts, "\(mixed)") { try Username(mixed) }
        }
        // Marks: none to start with, at most four on a character.
        #expect(throws: Username.Problem.stackedMarks) { try Username("\u{301}\u{301}") }
        #expect(throws: Username.Problem.stackedMarks) { try Username("x" + String(repeating: "\u{300}", count: 250)) }
        #expect(throws: Username.Problem.stackedMarks) { try Username("x\u{300}\u{301}\u{302}\u{303}\u{304}") }
        #expect(try Username("x\u{300}\u{301}\u{302}\u{303}").display == "x\u{300}\u{301}\u{302}\u{303}")
        // Ordinary names in any one script still work.
        for fine in ["zoë", "Ann Marie", "日本語", "Борис", "Ελένη", "Nguyễn"] { #expect((try? Username(fine)) != nil, "\(fine)") }
    }
}
