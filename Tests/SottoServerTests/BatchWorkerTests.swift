import Foundation
import NIOConcurrencyHelpers
@testable import SottoServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The delivery log's writer: one job at a time, in the order submitted, on a thread that
/// yields to the event loops, and that comes back after it ended for want of work.
@Suite struct BatchWorkerTests {
    @Test func jobsRunOneAtATimeInOrderOnABatchThreadThatComesBackAfterIdling() async throws {
        let worker = BatchWorker(name: "test-writer")
        let seen = NIOLockedValueBox<(order: [Int], running: Int, overlapped: Bool, policies: Set<Int32>)>(([], 0, false, []))
        func submit(_ i: Int) {
            worker.submit {
                seen.withLockedValue { state in
                    state.running += 1
                    state.overlapped = state.overlapped || state.running > 1
                    #if os(Linux)
                    state.policies.insert(sched_getscheduler(0))
                    #endif
                }
                usleep(i % 50 == 0 ? 1_000 : 0)
                seen.withLockedValue { state in
                    state.order.append(i)
                    state.running -= 1
                }
            }
        }
        for i in 0..<500 { submit(i) }
        try await Self.wait { seen.withLockedValue { $0.order.count } == 500 }
        // Longer than the thread waits for work: it ends, and the next job starts it again.
        try await Task.sleep(for: .seconds(BatchWorker.idleSeconds + 0.5))
        submit(500)
        try await Self.wait { seen.withLockedValue { $0.order.count } == 501 }
        let state = seen.withLockedValue { $0 }
        #expect(state.order == Array(0...500))
        #expect(!state.overlapped)
        #if os(Linux)
        #expect(state.policies == [3], "SCHED_BATCH (3): waking the writer must not preempt a loop")
        #endif
    }

    static func wait(_ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(30)
        while !condition() {
            guard Date() < deadline else { Issue.record("timed out"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
