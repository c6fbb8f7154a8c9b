import CSDL2
import Foundation
import SottoClient
import SottoCore

/// What reaches the render loop from other threads: the client's events, and the history's
/// answers (read on its own queue, never in a frame).
enum WindowInput: Sendable {
    case client(ClientEvent)
    case history(HistoryAnswer)
}

/// Read from the local history for one conversation.
struct HistoryAnswer: Sendable {
    enum Kind: Sendable {
        /// Kept messages (oldest first), shown above what the conversation shows; a page
        /// shorter than `requested` means nothing older is kept.
        /// `announce`: asked for with /history, so the answer says what it shows.
        case kept([StoredMessage], requested: Int, announce: Bool = false)
        /// Search results, listed where the search was typed.
        case found(words: String, [StoredMessage])
        /// Search results for the search panel.
        case panel(words: String, [StoredMessage])
        /// Everything from a search result up to the oldest line shown, then the log jumps
        /// to the result (`target`: its message id).
        case upTo(target: String, [StoredMessage])
        case forgotten(count: Int)
        /// The unsent drafts kept from last time, per conversation, and the conversation
        /// that was open.
        case drafts([Conversation: String], open: Conversation?)
        /// Messages put back in drafts when the app last closed before the server had them
        /// (`HistoryStore.takeUnsentNotes`), per conversation.
        case unsentBack([Conversation: (count: Int, mayHaveGone: Int)])
        /// How far each conversation was read on this device (`HistoryStore.readMarks`):
        /// answered before the opening's kept pages, which it marks.
        case readMarks([Conversation: Int64], since: Int64)
        /// The palette colour each name was drawn in (`HistoryStore.colors`).
        case colors([String: Int])
        case problem(String)
    }
    var conversation: Conversation
    var kind: Kind
    /// The conversation's `generation` when asked: kept messages read before a /forget
    /// that came meanwhile are not shown (nil: not tied to one).
    var generation: Int? = nil
}

/// Network and history threads → render loop: inputs are appended under a lock and an SDL
/// user event wakes the loop from SDL_WaitEventTimeout. Those threads never touch anything
/// else of SDL.
final class ClientEventQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [WindowInput] = []
    /// A wake is in SDL's queue for what waits here; guarded by `lock`. Not set when the
    /// push failed (SDL's queue full): the next post tries again.
    private var wakeQueued = false
    let wakeType: UInt32

    init() { wakeType = SDL_RegisterEvents(1) }

    func post(_ event: ClientEvent) { post(.client(event)) }

    func post(_ event: WindowInput) {
        let wake: Bool = lock.withLock {
            events.append(event)
            defer { wakeQueued = true }
            return !wakeQueued
        }
        guard wake else { return }
        var wakeEvent = SDL_Event()
        wakeEvent.type = wakeType
        if SDL_PushEvent(&wakeEvent) != 1 { lock.withLock { wakeQueued = false } }
    }

    /// Tests: what waits to be handled, without handling it.
    var waitingForTesting: [WindowInput] { lock.withLock { events } }

    func drain() -> [WindowInput] {
        lock.withLock {
            defer { events = []; wakeQueued = false }
            return events
        }
    }
}
