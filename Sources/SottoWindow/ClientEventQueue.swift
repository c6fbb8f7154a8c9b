import CSDL2
import Foundation
import SottoClient

/// Network thread → render loop: events are appended under a lock and an SDL user event
/// wakes the loop from SDL_WaitEventTimeout. The network thread never touches anything else of SDL.
final class ClientEventQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ClientEvent] = []
    let wakeType: UInt32

    init() { wakeType = SDL_RegisterEvents(1) }

    func post(_ event: ClientEvent) {
        let wasEmpty: Bool = lock.withLock {
            events.append(event)
            return events.count == 1
        }
        if wasEmpty {
            var wake = SDL_Event()
            wake.type = wakeType
            SDL_PushEvent(&wake)
        }
    }

    func drain() -> [ClientEvent] {
        lock.withLock {
            defer { events = [] }
            return events
        }
    }
}
