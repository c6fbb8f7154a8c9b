import Foundation
@testable import SottoClient
import SottoCore
import Testing
@testable import SottoWindow

/// SECURITY.md said "the window's log is not bounded": a member sending 20 messages a
/// second (or a hostile server's notices) grew each open window's memory without end.
@Suite struct LogTrimmingTests {
    static func flooded(_ count: Int, text: (Int) -> String = { "flood \($0)" }) -> ChatModel {
        let model = ChatModel()
        model.myName = "alice"
        for i in 0..<count {
            model.received(ReceivedMessage(sequence: UInt64(i + 1), time: Date(timeIntervalSince1970: 1_790_000_000), from: "mallory", to: "",
                                           text: text(i), isOwn: false, clientMessageID: UInt64(i + 1), trust: .unverified))
        }
        return model
    }

    static func messages(_ model: ChatModel) -> [String] {
        model.conversations[.room]!.lines.filter { $0.kind == .message && !$0.isOwn }.map(\.text)
    }

    @Test func aLogPastItsBoundLetsItsOldestGoAndLoadsThemAgainFromWhereItNowStarts() throws {
        let model = Self.flooded(ChatModel.linesKept + 10)
        model.queued(id: 99, to: "", text: "mine, still being sent")
        // Pending lines are not let go: a late acknowledgement or refusal finds its line.
        model.conversations[.room]!.lines.insert(model.conversations[.room]!.lines.removeLast(), at: 3)
        #expect(model.isPastBound(.room))
        let gone = model.trimmed(.room, viewTop: nil, historyKept: true)
        let log = try #require(model.conversations[.room])
        #expect(log.lines.count <= ChatModel.trimmedTo.lines + 1)
        #expect(!gone.isEmpty && gone.allSatisfy { key in !log.lines.contains { $0.key == key } })
        #expect(log.lines.contains { $0.pendingID == 99 }, "a line still being sent was let go")
        #expect(!model.isPastBound(.room))
        // The newest stay, in order; older pages come from before the first message left.
        let shown = Self.messages(model)
        #expect(shown.last == "flood \(ChatModel.linesKept + 9)")
        let first = try #require(shown.first.flatMap { Int($0.dropFirst("flood ".count)) })
        #expect(shown == (first..<ChatModel.linesKept + 10).map { "flood \($0)" })
        #expect(log.olderBefore?.sender == "mallory" && log.olderBefore?.clientMessageID == UInt64(first + 1))
        #expect(log.olderBefore?.inclusive == false && log.oldestKept == nil && !log.olderExhausted)
        #expect(model.wantsOlder(.room))
        // The page that comes back is put above, and the next one is asked for before it.
        model.prependKept([StoredMessage(id: 7, conversation: .room, from: "mallory", to: "", text: "flood \(first - 1)", time: Date(timeIntervalSince1970: 1_790_000_000),
                                         isOwn: false, sequence: 1, clientMessageID: UInt64(first), trust: .unverified, senderFingerprint: "")], requested: 1, in: .room)
        #expect(Self.messages(model).first == "flood \(first - 1)")
        #expect(model.conversations[.room]!.oldestKept == 7 && model.conversations[.room]!.olderBefore == nil)
    }

    @Test func scrolledUpNothingGoesUntilWhatArrivesTakesTheLogFarPastItsBound() throws {
        let model = Self.flooded(ChatModel.linesKept + 10)
        // The view is up at the tenth message, reading on towards the top: nothing goes.
        let viewTop = model.conversations[.room]!.lines.filter { $0.kind == .message }[9].key
        #expect(model.trimmed(.room, viewTop: viewTop, historyKept: true).isEmpty)
        #expect(Self.messages(model).first == "flood 0")
        // Far past the bound, it goes all the same: memory is bounded wherever the person looks.
        let far = Self.flooded(ChatModel.boundBeyondView * ChatModel.linesKept + 1)
        let top = far.conversations[.room]!.lines.filter { $0.kind == .message }[9].key
        far.trimmed(.room, viewTop: top, historyKept: true)
        #expect(far.conversations[.room]!.lines.count <= ChatModel.trimmedTo.lines + 1)
    }

    @Test func aFewLongMessagesAreBoundedByTheirText() throws {
        let model = Self.flooded(600) { String(repeating: "x", count: 8_000) + " \($0)" }
        #expect(model.isPastBound(.room))
        model.trimmed(.room, viewTop: nil, historyKept: true)
        #expect(model.conversations[.room]!.lines.reduce(0) { $0 + $1.text.utf8.count } <= ChatModel.trimmedTo.textBytes)
    }

    @Test func withHistoryOffTheLogSaysWhatWentAndAsksForNothing() throws {
        let model = Self.flooded(ChatModel.linesKept + 10)
        model.trimmed(.room, viewTop: nil, historyKept: false)
        let log = try #require(model.conversations[.room])
        #expect(log.lines.first?.text == ChatModel.olderLetGoText)
        #expect(!model.wantsOlder(.room))
        // Said once, however often it trims.
        for i in 0..<2_000 { model.system("notice \(i)") }
        model.trimmed(.room, viewTop: nil, historyKept: false)
        #expect(model.conversations[.room]!.lines.count { $0.text == ChatModel.olderLetGoText } == 1)
    }

    @Test func noticesAloneAreBoundedAndOlderMessagesLoadWithTheNewestLetGo() throws {
        let model = Self.flooded(3)
        for i in 0..<(ChatModel.linesKept + 10) { model.system("notice \(i)") }
        model.trimmed(.room, viewTop: nil, historyKept: true)
        let log = try #require(model.conversations[.room])
        #expect(log.lines.count <= ChatModel.trimmedTo.lines + 1)
        #expect(Self.messages(model).isEmpty)
        // The three messages went: the page before where the log starts includes the newest.
        #expect(log.olderBefore?.clientMessageID == 3 && log.olderBefore?.inclusive == true)
    }

    /// Paging far back (or a search result far back, which loads everything between it and
    /// the log) is the person's own doing: while they look, what they brought in stays, even
    /// past the hard bound; back at the newest, the log is trimmed as any other.
    @Test func whatThePersonBroughtInStaysWhileTheyLook() throws {
        let model = Self.flooded(10)
        let older = (0..<(ChatModel.boundBeyondView * ChatModel.linesKept + 500)).map { i in
            StoredMessage(id: Int64(i + 1), conversation: .room, from: "bob", to: "", text: "older \(i)", time: Date(timeIntervalSince1970: 1_780_000_000),
                          isOwn: false, sequence: 1, clientMessageID: UInt64(i + 1), trust: .unverified, senderFingerprint: "")
        }
        model.prependKept(older, requested: 0, in: .room)
        let target = try #require(model.conversations[.room]!.lines.first { $0.text == "older 20" })
        for i in 0..<100 { model.system("notice \(i)") }
        model.trimmed(.room, viewTop: target.key, historyKept: true)
        #expect(model.conversations[.room]!.lines.contains { $0.key == target.key }, "the line looked at was let go")
        model.trimmed(.room, viewTop: nil, historyKept: true)
        #expect(model.conversations[.room]!.lines.count <= ChatModel.trimmedTo.lines + 1)
        #expect(model.conversations[.room]!.askedFor.lines == 0)
    }
}
