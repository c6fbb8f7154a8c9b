import NIOConcurrencyHelpers
import NIOCore

/// Records bound for the sessions of one event loop. Posting from any thread appends under a
/// lock and wakes the loop at most once; the loop then sends everything that piled up, one
/// transport message per recipient per drain instead of one per chat message (`DeliveryPlan`).
final class LoopMailbox {
    let loop: EventLoop
    private let lock = NIOLock()
    private var entries: [(record: [UInt8], targets: [ServerSessionHandler])] = []

    // Loop only; kept between drains to reuse their storage.
    private var spare: [(record: [UInt8], targets: [ServerSessionHandler])] = []
    private var plan = DeliveryPlan()

    private var scheduled = false

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
        var plan = DeliveryPlan()
        swap(&plan, &self.plan)  // a local for the drain (see DeliveryPlan)
        for entry in batch { plan.add(entry.record, for: entry.targets) }
        plan.send()
        swap(&plan, &self.plan)
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }
}
