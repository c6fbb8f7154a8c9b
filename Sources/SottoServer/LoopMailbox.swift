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
        /// Every record of the batch framed once, and where each entry's lies in it.
        var records: [UInt8] = []
        var spans: [(start: Int32, end: Int32)] = []
        /// One recipient's records, framed, at a time.
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
        var records: [UInt8] = []
        for entry in batch.indices {
            let start = scratch.records.count
            RecordBatch.append(batch[entry].record, to: &scratch.records)
            scratch.spans.append((Int32(start), Int32(scratch.records.count)))
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
        swap(&records, &scratch.records)  // read through a pointer while `scratch` changes
        records.withUnsafeBufferPointer { records in
            for slot in scratch.touched.indices {
                let session = scratch.touched[slot]
                session.mailboxSlot = -1
                scratch.framed.removeAll(keepingCapacity: true)
                var link = scratch.chains[slot].first
                while link >= 0 {
                    let (entry, next) = scratch.links[Int(link)]
                    let span = scratch.spans[Int(entry)]
                    scratch.framed.append(contentsOf: UnsafeBufferPointer(rebasing: records[Int(span.start)..<Int(span.end)]))
                    link = next
                }
                session.deliver(scratch.framed[...])
            }
        }
        scratch.touched.removeAll(keepingCapacity: true)
        scratch.chains.removeAll(keepingCapacity: scratch.chains.capacity <= Self.keptLinks)
        scratch.links.removeAll(keepingCapacity: scratch.links.capacity <= Self.keptLinks)
        scratch.framed.removeAll(keepingCapacity: scratch.framed.capacity <= Self.keptFramedBytes)
        records.removeAll(keepingCapacity: records.capacity <= Self.keptFramedBytes)
        swap(&records, &scratch.records)
        scratch.spans.removeAll(keepingCapacity: scratch.spans.capacity <= Self.keptLinks)
        self.scratch = scratch
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }
}
