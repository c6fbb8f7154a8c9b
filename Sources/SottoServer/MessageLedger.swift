/// Remembers, per client identity, the highest message counter relayed in each of its
/// recent epochs (a client message id is `epoch << 32 | counter`, counters increasing).
/// A client resends unacknowledged messages in order after a reconnect, so any id at or
/// below the high-water mark of its epoch was relayed already: acknowledge it, relay nothing.
/// Exact for any number of messages in flight, in constant memory per identity.
struct MessageLedger {
    private struct Epochs {
        var highest: [UInt32: UInt32] = [:]
        var order: [UInt32] = []
    }
    private var byIdentity: [[UInt8]: Epochs] = [:]
    private var identityOrder: [[UInt8]] = []
    let epochsPerIdentity: Int
    let maxIdentities: Int

    init(epochsPerIdentity: Int = 8, maxIdentities: Int) {
        self.epochsPerIdentity = max(1, epochsPerIdentity)
        self.maxIdentities = max(1, maxIdentities)
    }

    static func split(_ id: UInt64) -> (epoch: UInt32, counter: UInt32) {
        (UInt32(truncatingIfNeeded: id >> 32), UInt32(truncatingIfNeeded: id))
    }

    func isDuplicate(_ id: UInt64, from identity: [UInt8]) -> Bool {
        let (epoch, counter) = Self.split(id)
        guard let highest = byIdentity[identity]?.highest[epoch] else { return false }
        return counter <= highest
    }

    mutating func record(_ id: UInt64, from identity: [UInt8]) {
        let (epoch, counter) = Self.split(id)
        if byIdentity[identity] == nil {
            if identityOrder.count >= maxIdentities { byIdentity[identityOrder.removeFirst()] = nil }
            identityOrder.append(identity)
        }
        var e = byIdentity.removeValue(forKey: identity) ?? Epochs()
        if e.highest[epoch] == nil {
            if e.order.count >= epochsPerIdentity { e.highest[e.order.removeFirst()] = nil }
            e.order.append(epoch)
        }
        e.highest[epoch] = max(e.highest[epoch] ?? 0, counter)
        byIdentity[identity] = e
    }
}
