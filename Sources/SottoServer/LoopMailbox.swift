import NIOConcurrencyHelpers
import NIOCore

/// Records bound for the sessions of one event loop. Posting from any thread appends under a
/// lock and wakes the loop at most once; the loop then writes everything that piled up and
/// flushes each touched session once, so a busy server seals one transport message per
/// recipient per drain instead of one per chat message.
final class LoopMailbox {
    let loop: EventLoop
    private let lock = NIOLock()
    private var entries: [(record: [UInt8], targets: [ServerSessionHandler])] = []
    private var spare: [(record: [UInt8], targets: [ServerSessionHandler])] = []
    private var scheduled = false
    private var touched: [ServerSessionHandler] = []  // loop only; kept to reuse its storage

    init(loop: EventLoop) { self.loop = loop }

    func post(_ record: [UInt8], to targets: [ServerSessionHandler]) {
        let wake: Bool = lock.withLock {
            entries.append((record, targets))
            defer { scheduled = true }
            return !scheduled
        }
        if wake { loop.execute { self.drain() } }
    }

    private func drain() {
        var batch = spare
        lock.withLock {
            swap(&batch, &entries)
            scheduled = false
        }
        for entry in batch {
            for session in entry.targets where session.enqueue(entry.record) {
                touched.append(session)
            }
        }
        for session in touched { session.flushQueued() }
        touched.removeAll(keepingCapacity: true)
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }
}
