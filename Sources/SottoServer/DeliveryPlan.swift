import SottoCore

/// What one mailbox drain sends to whom. Records are framed once, as they are added; each
/// recipient's deliveries are noted as indices in one flat list (no copy and no reference
/// count per delivery); `send` then copies each recipient's records into one reused buffer,
/// which stays in the cache, and hands it to the session to seal from there.
///
/// Kept by the mailbox between drains to reuse its storage, and used as a local during one:
/// arrays stored in a class are checked for exclusive access on every use.
struct DeliveryPlan {
    private var recipients: [ServerSessionHandler] = []
    /// Per recipient (by its `mailboxSlot`): its first and last delivery in `deliveries`.
    // Plain Ints: a drain may hold more than 2 GiB of records on a large server, and a
    // narrower index would trap there.
    private var chains: [(first: Int, last: Int)] = []
    /// One per delivery: the record, and the recipient's next delivery (-1: none).
    private var deliveries: [(record: Int, next: Int)] = []
    /// Every record framed once, and where each lies in it.
    private var records: [UInt8] = []
    private var spans: [(start: Int, end: Int)] = []
    /// One recipient's records, framed, at a time.
    private var framed: [UInt8] = []

    /// Storage kept for the next drain; more than this (a join storm, a long list) is freed.
    private static let keptEntries = 1 << 16
    private static let keptBytes = 1 << 20

    mutating func add(_ record: [UInt8], for targets: [ServerSessionHandler]) {
        let index = spans.count
        let start = records.count
        RecordBatch.append(record, to: &records)
        spans.append((start, records.count))
        for session in targets {
            let delivery = deliveries.count
            deliveries.append((index, -1))
            let slot = session.mailboxSlot
            if slot < 0 {
                session.mailboxSlot = recipients.count
                recipients.append(session)
                chains.append((delivery, delivery))
            } else {
                deliveries[chains[slot].last].next = delivery
                chains[slot].last = delivery
            }
        }
    }

    /// Hands each recipient its records, in the order they were added, then starts over.
    mutating func send() {
        var records: [UInt8] = []
        swap(&records, &self.records)  // read through a pointer while `self` changes
        records.withUnsafeBufferPointer { records in
            for slot in recipients.indices {
                let session = recipients[slot]
                session.mailboxSlot = -1
                framed.removeAll(keepingCapacity: true)
                var delivery = chains[slot].first
                while delivery >= 0 {
                    let (record, next) = deliveries[delivery]
                    let span = spans[record]
                    framed.append(contentsOf: UnsafeBufferPointer(rebasing: records[span.start..<span.end]))
                    delivery = next
                }
                session.deliver(framed[...])
            }
        }
        swap(&records, &self.records)
        recipients.removeAll(keepingCapacity: true)
        chains.removeAll(keepingCapacity: chains.capacity <= Self.keptEntries)
        deliveries.removeAll(keepingCapacity: deliveries.capacity <= Self.keptEntries)
        spans.removeAll(keepingCapacity: spans.capacity <= Self.keptEntries)
        self.records.removeAll(keepingCapacity: self.records.capacity <= Self.keptBytes)
        framed.removeAll(keepingCapacity: framed.capacity <= Self.keptBytes)
    }
}
