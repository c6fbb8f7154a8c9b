#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore

/// Gives freed heap back to the system after bursts. glibc keeps what a burst of joins
/// freed (presence records for everyone, user lists, transport buffers) in its arenas, so
/// without this a server's resident memory is its high-water mark: measured at ~64 KiB per
/// idle member after 300 joins, of which ~12 KiB is live. `malloc_trim` after membership
/// changes settle brings it back to what is in use.
final class MemoryTrimmer {
    #if canImport(Glibc)
    // malloc.h is not in the Glibc module; look the function up instead (nil handle = RTLD_DEFAULT).
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    private static let mallocTrim: MallocTrim? = dlsym(nil, "malloc_trim").map { unsafeBitCast($0, to: MallocTrim.self) }

    private typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    private static let mallopt: Mallopt? = dlsym(nil, "mallopt").map { unsafeBitCast($0, to: Mallopt.self) }
    #endif

    /// Heap kept above what is in use when glibc grows or trims the heap top (its `M_TOP_PAD`).
    static let heapTopPad: Int32 = 1 << 20

    /// glibc gives the heap top back whenever 128 KiB of it is free and grows it by the same
    /// margin, so a busy relay, whose socket buffers and sealed batches come and go by the
    /// hundred kilobytes on every drain, faulted fresh zeroed pages in ~1,500 times a second
    /// (~3 % of its time). A 1 MiB margin ends that at a fixed cost: it is one margin, not
    /// one per member, and `malloc_trim` below still returns everything once the room is
    /// quiet. (Raising the trim threshold instead kept a join storm's memory: see BENCHMARKS.md.)
    static func padHeapTop() {
        #if canImport(Glibc)
        _ = mallopt?(-2, heapTopPad)  // M_TOP_PAD
        #endif
    }

    private var task: RepeatedTask?
    private var lastChurn: UInt64 = 0

    /// Checks every `period` on `loop`; trims once churn has stopped for a whole period.
    init(loop: EventLoop, period: TimeAmount = .seconds(2), logger: Logger, churn: @escaping () -> UInt64) {
        #if canImport(Glibc)
        var settledAt: UInt64 = 0
        task = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { [weak self] _ in
            guard let self else { return }
            let now = churn()
            if now != self.lastChurn {
                self.lastChurn = now  // still changing: wait for a quiet period
            } else if settledAt != now {
                settledAt = now
                let start = NIODeadline.now()
                _ = Self.mallocTrim?(0)
                let ms = Double((NIODeadline.now() - start).nanoseconds) / 1e6
                logger.debug("returned freed heap to the system", metadata: ["ms": "\(ms)"])
            }
        }
        #endif
    }

    func cancel() { task?.cancel() }
}
