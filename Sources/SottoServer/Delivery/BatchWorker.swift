import Foundation
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// A serial queue on a thread of its own for throughput work (the delivery log's group
/// commits). On Linux the thread runs as SCHED_BATCH: waking it never preempts an event loop
/// relaying on the same core; it runs when the loop waits or its time slice ends, with a
/// larger group waiting by then. (As an ordinary thread, a fan-out pinned to one core spent
/// ~9,000 preemptions a second and 17 % of its CPU switching between the loop and the writer.)
/// The thread ends after a second with nothing to do and starts again with the next job, so
/// a hub nobody shuts down leaves no thread behind.
final class BatchWorker: @unchecked Sendable {
    private let name: String
    /// Value 1: jobs are waiting.
    private let condition = ConditionLock(value: 0)
    private var jobs: [() -> Void] = []
    private var threadRunning = false
    static let idleSeconds = 1.0

    init(name: String) { self.name = name }

    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        let start = !threadRunning
        threadRunning = true
        condition.unlock(withValue: 1)
        if start {
            Thread { self.run() }.start()
        }
    }

    private func run() {
        #if os(Linux)
        // Named for `top -H` and perf (a new thread has its spawning loop's name; Foundation's
        // Thread.name does not reach the kernel, and Glibc hides pthread_setname_np).
        try? Data(name.utf8.prefix(15)).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
        #endif
        Self.yieldToOtherThreads()
        while true {
            if !condition.lock(whenValue: 1, timeoutSeconds: Self.idleSeconds) {
                condition.lock()
                if jobs.isEmpty {
                    threadRunning = false
                    condition.unlock()
                    return
                }
            }
            let next = jobs
            jobs = []
            condition.unlock(withValue: 0)
            for job in next { job() }
        }
    }

    /// This thread as SCHED_BATCH (Linux): it is not favoured when it wakes.
    private static func yieldToOtherThreads() {
        #if os(Linux)
        let schedBatch: Int32 = 3  // SCHED_BATCH, <linux/sched.h>; Glibc exports it only with _GNU_SOURCE
        var parameters = sched_param()
        _ = sched_setscheduler(0, schedBatch, &parameters)
        #endif
    }
}
