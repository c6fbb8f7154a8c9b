import NIOCore
import NIOPosix

/// Where calls that block (the database) run: on a thread pool, never on an event loop;
/// their results come back on the caller's loop. Embedded loops (in-memory servers,
/// fuzzing) run them inline instead, as they have no other thread to come back from.
final class BlockingWork: Sendable {
    private let pool: NIOThreadPool?

    /// A pool of `threads` threads; none: inline.
    init(threads: Int?) {
        if let threads {
            let pool = NIOThreadPool(numberOfThreads: threads)
            pool.start()
            self.pool = pool
        } else {
            pool = nil
        }
    }

    /// Runs work inline, on the caller's thread (embedded loops).
    var isInline: Bool { pool == nil }

    func run<T: Sendable>(on loop: EventLoop, _ work: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        guard let pool else { return loop.makeCompletedFuture(Result { try work() }) }
        return pool.runIfActive(eventLoop: loop, work)
    }

    /// For work nobody waits for (noting when a member was last seen).
    func detach(_ work: @escaping @Sendable () -> Void) {
        guard let pool else { return work() }
        pool.submit { state in if case .active = state { work() } }
    }

    func shutdown() async {
        try? await pool?.shutdownGracefully()
    }
}
