import Foundation
import SottoClient
import SottoCore
import SottoUI
import Testing
@testable import SottoWindow

/// Issue 13.10: alice and dave were the same green with five people in the room.
@Suite struct ChatModelTests {
    /// WCAG relative luminance and contrast ratio.
    static func luminance(_ c: Color) -> Double {
        func channel(_ v: UInt8) -> Double {
            let x = Double(v) / 255
            return x <= 0.03928 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)
    }

    static func contrast(_ a: Color, _ b: Color) -> Double {
        let (la, lb) = (luminance(a), luminance(b))
        return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
    }

    @Test func everySenderColourReadsOnTheLogAndTheyDiffer() {
        #expect(ChatModel.palette.count >= 12)
        #expect(Set(ChatModel.palette).count == ChatModel.palette.count)
        for colour in ChatModel.palette {
            #expect(Self.contrast(colour, Theme().panel) >= 4.5, "\(colour)")
        }
    }

    @Test func peopleInTheSameRoomGetDifferentColoursAndKeepThem() {
        let model = ChatModel()
        let five = ["alice", "bob", "carol", "dave", "erin"]
        model.assignColors(present: five)
        #expect(Set(five.map(model.color(for:))).count == 5)
        let aliceBefore = model.color(for: "alice")
        // Twelve people, twelve colours; those already here keep theirs.
        let twelve = five + ["frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
        model.assignColors(present: twelve)
        #expect(Set(twelve.map(model.color(for:))).count == 12)
        #expect(model.color(for: "alice") == aliceBefore)
        // The same name gets the same colour in another window, when it is free there.
        let other = ChatModel()
        other.assignColors(present: ["alice"])
        #expect(other.color(for: "alice") == ChatModel.palette[ChatModel.preferredColor(of: "alice")])
    }

    /// Issue 15: "new since you were here" stayed for the whole session. It goes once the
    /// conversation was seen and left, or answered.
    @Test func theNewSinceLineGoesOnceTheConversationWasSeenOrAnswered() {
        let model = ChatModel()
        model.myName = "alice"
        func message(_ text: String, to: String = "") -> ReceivedMessage {
            ReceivedMessage(sequence: 1, time: Date(), from: "bob", to: to, text: text, isOwn: false, clientMessageID: 1, trust: .unverified)
        }
        func marked(_ c: Conversation) -> Bool { model.conversations[c]?.lines.contains { $0.kind == .newSince } == true }
        model.beginCatchUp()
        model.received(message("while you were away"))
        model.received(message("for you alone", to: "alice"))
        model.endCatchUp()
        #expect(marked(.room) && marked(.direct("bob")))
        // The room was on screen; opening bob's conversation leaves it seen.
        model.open(.direct("bob"))
        #expect(!marked(.room))
        #expect(marked(.direct("bob")), "not seen until it is left or answered")
        model.queued(id: 7, to: "bob", text: "thanks")
        #expect(!marked(.direct("bob")))
        // Opening the conversation already shown changes nothing.
        model.beginCatchUp()
        model.received(message("again", to: "alice"))
        model.endCatchUp()
        model.open(.direct("bob"))
        #expect(marked(.direct("bob")))
    }
}
