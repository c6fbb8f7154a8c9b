import SottoClient
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
        #expect(ChatInput(parsing: "/msg bob") == .invalid(.usage(.msg)))
        #expect(ChatInput(parsing: "/msg bob    ") == .invalid(.usage(.msg)))
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
    }

    @Test func unknownCommandsAreAnsweredAndNeverSent() {
        #expect(ChatInput(parsing: "/mgs bob hi") == .invalid(.unknown("/mgs")))
        #expect(ChatInput(parsing: "/") == .invalid(.unknown("/")))
        #expect(ChatInput(parsing: "/usr/bin is a path") == .invalid(.unknown("/usr/bin")))
        let sentence = CommandProblem.unknown("/mgs").description
        #expect(sentence.contains("/mgs") && sentence.contains("nothing was sent") && sentence.contains("/msg") && sentence.contains("//"))
        #expect(ChatCommand.helpLines.count == ChatCommand.Name.allCases.count + 1)
    }

    @Test func aTypedNameMeansTheMemberItReadsAs() {
        let members = [Member(name: "alice", fingerprint: "a", isMe: true), Member(name: "Bob", fingerprint: "b"),
                       Member(name: "ana maria", fingerprint: "c")]
        #expect(Member.named("Bob", in: members)?.fingerprint == "b")
        #expect(Member.named("bob", in: members)?.fingerprint == "b")
        #expect(Member.named("BOB", in: members)?.fingerprint == "b")
        #expect(Member.named("Ana Maria", in: members)?.fingerprint == "c")
        #expect(Member.named("carol", in: members) == nil)
        #expect(Member.named("\u{1B}[2K", in: members) == nil)
    }
}
