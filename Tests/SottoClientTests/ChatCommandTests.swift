@testable import SottoClient
import SottoCore
import Testing

/// The one parser behind the window's composer and sotto-cli's input.
@Suite struct ChatCommandTests {
    @Test func textIsTextAndADoubleSlashSendsALiteralSlash() {
        #expect(ChatInput(parsing: "hello") == .text("hello"))
        #expect(ChatInput(parsing: "  ") == .nothing)
        #expect(ChatInput(parsing: "") == .nothing)
        #expect(ChatInput(parsing: "//etc/hosts is where") == .text("/etc/hosts is where"))
        #expect(ChatInput(parsing: "a /msg bob inside") == .text("a /msg bob inside"))
    }

    @Test func directMessagesNameOneMemberAndKeepTheTextAsTyped() {
        #expect(ChatInput(parsing: "/msg bob this was meant to be private") == .command(.directMessage(to: "bob", text: "this was meant to be private")))
        #expect(ChatInput(parsing: "/MSG bob  two  spaces") == .command(.directMessage(to: "bob", text: " two  spaces")))
        #expect(ChatInput(parsing: "/m bob line one\nline two") == .command(.directMessage(to: "bob", text: "line one\nline two")))
        #expect(ChatInput(parsing: "/msg bob\nnext line") == .command(.directMessage(to: "bob", text: "next line")))
        #expect(ChatInput(parsing: "/msg \"ana maria\" hola") == .command(.directMessage(to: "ana maria", text: "hola")))
        // Without a text, or a closing quote, nothing goes anywhere.
        // A name alone opens the conversation (a newcomer's run: the keyboard had no other way to one).
        #expect(ChatInput(parsing: "/msg bob") == .command(.open("bob")))
        #expect(ChatInput(parsing: "/msg bob    ") == .command(.open("bob")))
        #expect(ChatInput(parsing: "/msg") == .invalid(.usage(.msg)))
        #expect(ChatInput(parsing: "/msg \"ana maria hola") == .invalid(.usage(.msg)))
        #expect(ChatInput(parsing: "/msg \"\" hola") == .invalid(.usage(.msg)))
    }

    @Test func everyOtherCommandOfTheCLIIsUnderstood() {
        #expect(ChatInput(parsing: "/users") == .command(.users))
        #expect(ChatInput(parsing: "/fingerprint") == .command(.fingerprint(of: nil)))
        #expect(ChatInput(parsing: "/fingerprint carol") == .command(.fingerprint(of: "carol")))
        #expect(ChatInput(parsing: "/fingerprint ana maria ") == .command(.fingerprint(of: "ana maria")))
        #expect(ChatInput(parsing: "/verify \"ana maria\"") == .command(.verify("ana maria")))
        #expect(ChatInput(parsing: "/verify") == .invalid(.usage(.verify)))
        #expect(ChatInput(parsing: "/help") == .command(.help))
        #expect(ChatInput(parsing: "/quit") == .command(.quit))
        // Leaving names yourself to confirm; without a name the core says how.
        #expect(ChatInput(parsing: "/leave") == .command(.leave(confirming: nil)))
        #expect(ChatInput(parsing: "/leave ana maria") == .command(.leave(confirming: "ana maria")))
        #expect(ChatInput(parsing: "/leave alice\nand more") == .invalid(.extraLines(.leave)))
        // Waiting out a 30 s backoff is not the only way back.
        #expect(ChatInput(parsing: "/reconnect") == .command(.reconnect))
        #expect(ChatInput(parsing: "/retry") == .command(.reconnect))
    }

    /// `/reconnect` connects at once only when waiting (or failed: after a leave the server
    /// did not confirm too, as that failure's sentence says); never after a confirmed `/leave`
    /// (disconnected: a new membership is chosen with "Join again"), never a second connection.
    @Test func reconnectConnectsOnlyWhenWaiting() {
        #expect(ChatCommand.reconnectDecision(in: .reconnecting(attempt: 5, delay: 16)) == .connectNow)
        #expect(ChatCommand.reconnectDecision(in: .failed(.connectionLost)) == .connectNow)
        #expect(ChatCommand.reconnectDecision(in: .online) == .alreadyOnline)
        #expect(ChatCommand.reconnectDecision(in: .connecting) == .alreadyConnecting)
        #expect(ChatCommand.reconnectDecision(in: .loggingIn) == .alreadyConnecting)
        #expect(ChatCommand.reconnectDecision(in: .disconnected) == .notConnected)
    }

    @Test func unknownCommandsAreAnsweredAndNeverSent() {
        #expect(ChatInput(parsing: "/mgs bob hi") == .invalid(.unknown("/mgs")))
        #expect(ChatInput(parsing: "/") == .invalid(.unknown("/")))
        #expect(ChatInput(parsing: "/usr/bin is a path") == .invalid(.unknown("/usr/bin")))
        let sentence = CommandProblem.unknown("/mgs").description
        #expect(sentence.contains("/mgs") && sentence.contains("nothing was sent") && sentence.contains("/msg") && sentence.contains("//"))
        #expect(ChatCommand.helpLines.count == ChatCommand.Name.allCases.count + 1)
    }

    @Test func aMistypedNameSuggestsTheNearestMemberWithinTwoEdits() {
        let members = [Member(name: "Bob", fingerprint: "b"), Member(name: "carol", fingerprint: "c"), Member(name: "carl", fingerprint: "d")]
        #expect(Member.closest(to: "bobb", in: members) == "Bob")
        #expect(Member.closest(to: "carok", in: members) == "carol")
        #expect(Member.closest(to: "carlx", in: members) == "carl")
        #expect(Member.closest(to: "zed", in: members) == nil)
        // A newcomer's run: "/msg Zoë hi" to "Zoë 🦊" suggested bob ("zoë" is two edits from
        // "bob"): the first word of a name with spaces is that name; short names allow one edit.
        let more = members + [Member(name: "bob", fingerprint: "e"), Member(name: "Zoë 🦊", fingerprint: "f")]
        #expect(Member.closest(to: "Zoë", in: more) == "Zoë 🦊")
        #expect(Member.closest(to: "zoe", in: [Member(name: "bob", fingerprint: "e")]) == nil)
        #expect(Member.closest(to: "bobb", in: more) == "Bob")
        #expect(Member.typed("Zoë 🦊") == "\"Zoë 🦊\"" && Member.typed("bob") == "bob")
        #expect(Member.closest(to: "", in: members) == nil)
        #expect(Member.closest(to: String(repeating: "x", count: 10_000), in: members) == nil)
        #expect(Member.editDistance(Array("kitten"), Array("sitting"), atMost: 5) == 3)
        #expect(Member.editDistance(Array(""), Array("ab"), atMost: 5) == 2)
    }

    @Test func aTypedNameMeansTheListedMemberInAnyCaseButNeverALookAlike() {
        let members = [Member(name: "alice", fingerprint: "a", isMe: true), Member(name: "Bob", fingerprint: "b"),
                       Member(name: "ana maria", fingerprint: "c"), Member(name: "\u{0430}\u{0441}\u{0435}", fingerprint: "d")]  // Cyrillic асе
        #expect(Member.match("Bob", in: members) == .member(members[1]))
        #expect(Member.match("bob", in: members) == .member(members[1]))
        #expect(Member.match("BOB", in: members) == .member(members[1]))
        #expect(Member.match("Ana Maria", in: members) == .member(members[2]))
        #expect(Member.match("carol", in: members) == .nobody)
        #expect(Member.match("\u{1B}[2K", in: members) == .nobody)
        // "ace" typed in Latin letters is not the Cyrillic асе: refused, with the reason.
        #expect(Member.match("ace", in: members) == .lookAlike(members[3]))
        guard case .failure(let refusal) = Member.match("ace", in: members).name(typed: "ace") else { Issue.record("taken"); return }
        #expect(refusal.description.hasPrefix("Nobody called ace is online. \u{0430}\u{0441}\u{0435} (U+0430 U+0441 U+0435) is a different name"))
        #expect(Member.match("\u{0430}\u{0441}\u{0435}", in: members) == .member(members[3]))
    }

    @Test func anUnquotedNameWithSpacesIsTakenWholeWhenSomeoneHasIt() {
        let online = ["ana", "ana maria", "bob"]
        #expect(ChatInput(parsing: "/msg ana maria hola", members: online) == .command(.directMessage(to: "ana maria", text: "hola")))
        #expect(ChatInput(parsing: "/msg Ana Maria hola", members: online) == .command(.directMessage(to: "Ana Maria", text: "hola")))
        #expect(ChatInput(parsing: "/msg ana mariana", members: online) == .command(.directMessage(to: "ana", text: "mariana")))
        #expect(ChatInput(parsing: "/msg ana hola", members: online) == .command(.directMessage(to: "ana", text: "hola")))
        #expect(ChatInput(parsing: "/msg ana maria", members: online) == .command(.open("ana maria")))
    }

    @Test func whatCannotBeSeenDoesNotHideACommand() {
        #expect(ChatInput(parsing: "  /msg bob secret") == .command(.directMessage(to: "bob", text: "secret")))
        #expect(ChatInput(parsing: "\t/msg bob secret") == .command(.directMessage(to: "bob", text: "secret")))
        #expect(ChatInput(parsing: "\u{FEFF}/msg bob secret") == .command(.directMessage(to: "bob", text: "secret")))
        #expect(ChatInput(parsing: "\u{200B}/users") == .command(.users))
        // An IME's fullwidth slash, or a division slash, before a command is that command…
        #expect(ChatInput(parsing: "／msg bob secret") == .command(.directMessage(to: "bob", text: "secret")))
        #expect(ChatInput(parsing: "∕msg bob secret") == .command(.directMessage(to: "bob", text: "secret")))
        // …and before anything else it is text.
        #expect(ChatInput(parsing: "／ということ") == .text("／ということ"))
        // A command with lines after it would lose them: refused (a direct message may run on).
        #expect(ChatInput(parsing: "/users\nhello all") == .invalid(.extraLines(.users)))
        #expect(ChatInput(parsing: "/fp bob\nmy password") == .invalid(.extraLines(.fingerprint)))
        #expect(ChatInput(parsing: "/msg bob one\ntwo") == .command(.directMessage(to: "bob", text: "one\ntwo")))
    }
}
