import Synchronization
import Testing

/// End-to-end tests take turns: at most `width` run at once, each for its whole length.
///
/// Each starts servers and clients (event loops, writer threads, real processes, hundreds of
/// logins). All 82 started at once on a two-core CI machine starved one another past the very
/// timeouts they test (a login not answered within the server's 10 s), and on one core
/// (`taskset -c 0 swift test`) four failed that way. The unit suites of the other targets
/// still run beside them.
struct MachineShare: SuiteTrait, TestTrait, TestScoping {
    static let width = 4
    static let slots = Slots(width)

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // A suite, or a test function around its cases: the cases themselves take the turns.
        guard testCase != nil else { return try await function() }
        await Self.slots.acquire()
        defer { Self.slots.release() }
        try await function()
    }
}

extension Trait where Self == MachineShare {
    /// This suite's tests take turns with the other end-to-end tests (see `MachineShare`).
    static var takesTurns: MachineShare { MachineShare() }
}

/// A counting semaphore for async tasks: waiters are let in first come, first served.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: count)) }

    func acquire() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { state -> Bool in
                guard state.free > 0 else { state.waiting.append(waiter); return false }
                state.free -= 1
                return true
            }
            if enter { waiter.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else { state.free += 1; return nil }
            return state.waiting.removeFirst()  // the slot passes to it
        }
        next?.resume()
    }
}
