import Foundation
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
}
