import CSDL2
import Foundation
import SottoClient
import SottoUI
import Testing
@testable import SottoWindow

extension SDLTests {
    /// What the window costs when nothing but time passes.
    @Suite struct Costs {
        /// The window's pixels as presented.
        static func pixels(_ app: ChatApp) -> (pixels: [UInt32], width: Int32) {
            var w: Int32 = 0, h: Int32 = 0
            SDL_GetRendererOutputSize(app.renderer, &w, &h)
            var pixels = [UInt32](repeating: 0, count: Int(w * h))
            SDL_RenderReadPixels(app.renderer, nil, SDL_PIXELFORMAT_ARGB8888.rawValue, &pixels, w * 4)
            return (pixels, w)
        }

        /// Issue 13 (costs): each blink laid out and drew the whole window (1.6 % of a core
        /// idle). A blink now presents the cached frame with the caret over it: no frame is
        /// made, and the pixels that change are the caret's alone.
        @Test func aBlinkPresentsTheCachedFrameAndOnlyTheCaretChanges() throws {
            let driver = try AppDriver(server: "127.0.0.1", port: 1, user: "")
            let app = driver.app
            var time = 1_000.0
            app.clock = { time }
            driver.type("alice")  // typing restarts the blink: the caret is on
            while app.dirty { app.turn() }  // the frame after input is drawn, then it settles
            #expect(driver.focusedLabel(["field:username"]) == "field:username")
            let caret = try #require(app.ui.caret)
            let typedAt = app.ui.lastInputTime
            #expect(app.ui.caretVisible(at: time))
            let framesBefore = app.framesDrawn
            let on = Self.pixels(app)

            // Half a period later the caret is off: one present from the cache, no frame.
            time = typedAt + 0.6
            app.turn()
            #expect(app.framesDrawn == framesBefore, "a blink laid out and drew a whole frame")
            #expect(app.caretFramesPresented == 1)
            let off = Self.pixels(app)
            var changed: [(x: Int, y: Int)] = []
            for (i, (a, b)) in zip(on.pixels, off.pixels).enumerated() where a != b {
                changed.append((i % Int(on.width), i / Int(on.width)))
            }
            #expect(!changed.isEmpty, "the caret did not go off")
            // Pixels, in points × density: the caret's column and no other.
            let scale = Double(on.width) / Double(app.ui.width)
            let inCaret = changed.allSatisfy { p in
                Double(p.x) >= Double(caret.rect.x) * scale - 1 && Double(p.x) <= Double(caret.rect.maxX) * scale + 1
                    && Double(p.y) >= Double(caret.rect.y) * scale - 1 && Double(p.y) <= Double(caret.rect.maxY) * scale + 1
            }
            #expect(inCaret, "pixels outside the caret changed: \(changed.prefix(5))")

            // Nothing changed: nothing is presented.
            app.turn()
            #expect(app.caretFramesPresented == 1)
            // On again, as it was.
            time = typedAt + 1.1
            app.turn()
            #expect(app.caretFramesPresented == 2 && app.framesDrawn == framesBefore)
            #expect(Self.pixels(app).pixels == on.pixels)
            // After ten seconds the caret is solid and the loop has nothing to wake for.
            time = typedAt + 10.2
            app.turn()
            #expect(app.ui.secondsToNextCaretChange(after: time) == nil)
            // A key is a new frame again.
            driver.type("x")
            #expect(app.framesDrawn > framesBefore)
        }

        /// Issue 13 (RSS): 1,500 textures of long lines held ~45 MB after a stream; the text
        /// cache is bounded by bytes too.
        @Test func textTexturesAreBoundedByBytes() throws {
            let driver = try AppDriver(server: "127.0.0.1", port: 1, user: "")
            let painter = driver.app.painter
            let line = String(repeating: "the quick brown fox jumps over a lazy dog ", count: 3)
            for i in 0..<1_200 {
                painter.render([.text("\(i) \(line)", x: 0, y: 0, Color(200, 200, 200), .regular)])
            }
            #expect(painter.textureBytes > 0 && painter.textureBytes <= painter.textureBytesBound,
                    "\(painter.textureBytes) bytes of text textures, bound \(painter.textureBytesBound)")
            // Review finding: one texture larger than the budget (a pasted line of thousands of
            // characters) evicted everything, itself included, and was then drawn freed.
            let huge = String(repeating: "pasted text that goes on and on ", count: 620)
            painter.render([.text(huge, x: 0, y: 0, Color(200, 200, 200), .regular)])
            let misses = painter.textureMisses
            #expect(painter.textureBytes > 4 << 20, "the texture just made was evicted")
            painter.render([.text(huge, x: 0, y: 0, Color(200, 200, 200), .regular)])
            #expect(painter.textureMisses == misses, "drawn again from scratch: it had been evicted")
        }

        /// Issue 13 (costs): every arriving message drew a frame at once, and the hover that
        /// changed as lines moved under a still mouse one more: 92 frames a second for 50
        /// messages a second. What arrives is now drawn at most every `updateInterval`, never
        /// later; what the person does is still drawn at once.
        @Test func aStreamOfMessagesIsDrawnAtMostEveryUpdateInterval() throws {
            let driver = try AppDriver(server: "127.0.0.1", port: 1, user: "")
            let app = driver.app
            var time = 1_000.0
            app.clock = { time }
            app.post(.welcome(name: "me", serverFingerprint: "SHA256:x"))
            app.turn()
            #expect(app.screen == .chat)
            while app.dirty { app.turn() }
            let before = app.framesDrawn
            for i in 0..<50 {  // one second at 50 a second
                time += 0.02
                app.post(.message(ReceivedMessage(sequence: UInt64(i + 1), time: Date(), from: "bob", to: "", text: "line \(i)",
                                                  isOwn: false, clientMessageID: UInt64(i + 1), trust: .unverified)))
                app.turn()
            }
            time += ChatApp.updateInterval
            app.turn()
            let frames = app.framesDrawn - before
            #expect((20...26).contains(frames), "\(frames) frames for 50 messages in a second")
            #expect(app.lastCommandsForTesting.contains { if case .text(let s, _, _, _, _) = $0 { s.contains("line 49") } else { false } },
                    "the last message was not drawn within the interval")
            // History the person asked for (a page up, the chat opening) is drawn at once too,
            // however recently a frame was drawn.
            while app.dirty || app.pendingUpdate { app.turn() }
            app.step()  // a frame drawn just now
            let asked = app.framesDrawn
            app.queue.post(.history(HistoryAnswer(conversation: .room, kind: .problem("shown at once"))))
            app.turn()
            #expect(app.framesDrawn == asked + 1, "a history answer waited for the pace of arriving messages")
            // Typing is drawn at once, whatever the interval.
            let typed = app.framesDrawn
            var event = SDL_Event()
            event.type = SDL_TEXTINPUT.rawValue
            withUnsafeMutableBytes(of: &event.text.text) { $0[0] = UInt8(ascii: "a"); $0[1] = 0 }
            SDL_PushEvent(&event)
            app.turn()
            #expect(app.framesDrawn == typed + 1 && app.draft == "a")
        }
    }
}
