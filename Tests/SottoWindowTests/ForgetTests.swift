import Foundation
@testable import SottoClient
import SottoCore
import Testing
@testable import SottoWindow

extension SDLTests.WindowFlows {
    /// A page of kept messages read before /forget and answered after it (the read and the
    /// delete run apart) shows nothing: the forgotten messages came back on screen (a window
    /// test that scrolled to the top and then typed /forget saw them, now and then).
    @Test func aPageReadBeforeForgetIsNotShownAfterIt() throws {
        let driver = try AppDriver()
        let app = driver.app
        func kept(_ text: String, id: Int64) -> StoredMessage {
            StoredMessage(id: id, conversation: .room, from: "bob", to: "", text: text, time: Date(), isOwn: false, sequence: UInt64(id),
                          clientMessageID: UInt64(id), trust: .unverified, senderFingerprint: "")
        }
        let asked = app.model.conversations[.room]!.generation
        app.model.forget(.room)
        app.apply(HistoryAnswer(conversation: .room, kind: .kept([kept("forgotten", id: 1)], requested: 100), generation: asked))
        app.apply(HistoryAnswer(conversation: .room, kind: .upTo(target: "bob:1", [kept("forgotten too", id: 2)]), generation: asked))
        #expect(app.model.conversations[.room]!.lines.isEmpty)
        // Asked after it: shown.
        app.apply(HistoryAnswer(conversation: .room, kind: .kept([kept("kept since", id: 3)], requested: 100),
                                generation: app.model.conversations[.room]!.generation))
        #expect(app.model.conversations[.room]!.lines.map(\.text).contains("kept since"))
    }
}
