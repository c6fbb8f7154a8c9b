import NIOConcurrencyHelpers
import NIOCore
import SottoCore

/// Records bound for the sessions of one event loop. Posting from any thread appends under a
/// lock and wakes the loop at most once; the loop then sends everything that piled up, one
/// transport message per recipient per drain instead of one per chat message.
///
/// A drain first notes, per recipient, which records are theirs (indices in a flat list, no
/// copy and no reference count per delivery), then frames each recipient's records in one
/// reused buffer and seals them from there: a record's bytes are copied once per recipient,
/// into memory that stays hot in the cache, instead of into a queue per recipient.
final class LoopMailbox {
    let loop: EventLoop
    private let lock = NIOLock()
    private var entries: [(record: [UInt8], targets: [ServerSessionHandler])] = []

    // Loop only; kept between drains to reuse their storage.
    private var spare: [(record: [UInt8], targets: [ServerSessionHandler])] = []
    private var scheduled = false
    private var scratch = Scratch()

    private struct Scratch {
        var touched: [ServerSessionHandler] = []
        /// Per touched session (by its `mailboxSlot`): first and last of its deliveries in `links`.
        var chains: [(first: Int32, last: Int32)] = []
        /// One per delivery: the entry's index in the batch, and the recipient's next delivery.
        var links: [(entry: Int32, next: Int32)] = []
        var framed: [UInt8] = []
    }

    /// Storage kept after a drain; a larger one (a join storm, a long list) is given back.
    private static let keptLinks = 1 << 16
    private static let keptFramedBytes = 1 << 20

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
        // Taken out of `self` for the drain: every use of a class's stored array would be
        // checked for exclusive access, several times per delivery.
        var scratch = self.scratch
        self.scratch = Scratch()
        for entry in batch.indices {
            for session in batch[entry].targets {
                let link = Int32(scratch.links.count)
                scratch.links.append((Int32(entry), -1))
                let slot = session.mailboxSlot
                if slot < 0 {
                    session.mailboxSlot = scratch.touched.count
                    scratch.touched.append(session)
                    scratch.chains.append((link, link))
                } else {
                    scratch.links[Int(scratch.chains[slot].last)].next = link
                    scratch.chains[slot].last = link
                }
            }
        }
        for slot in scratch.touched.indices {
            let session = scratch.touched[slot]
            session.mailboxSlot = -1
            scratch.framed.removeAll(keepingCapacity: true)
            var link = scratch.chains[slot].first
            while link >= 0 {
                let (entry, next) = scratch.links[Int(link)]
                RecordBatch.append(batch[Int(entry)].record, to: &scratch.framed)
                link = next
            }
            session.deliver(scratch.framed[...])
        }
        scratch.touched.removeAll(keepingCapacity: true)
        scratch.chains.removeAll(keepingCapacity: scratch.chains.capacity <= Self.keptLinks)
        scratch.links.removeAll(keepingCapacity: scratch.links.capacity <= Self.keptLinks)
        scratch.framed.removeAll(keepingCapacity: scratch.framed.capacity <= Self.keptFramedBytes)
        self.scratch = scratch
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }
}
