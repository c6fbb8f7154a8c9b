import NIOCore

/// Remembers, per client identity, the highest message counter relayed in each of its
/// recent epochs (a client message id is `epoch << 32 | counter`, counters increasing).
/// A client resends unacknowledged messages in order after a reconnect, so any id at or
/// below the high-water mark of its epoch was relayed already: acknowledge it, relay nothing.
/// Exact for any number of messages in flight, in constant memory per identity.
struct MessageLedger {
    /// A client's static key as the ledger's key: four words hash in four steps where an
    /// array of 32 bytes takes 32, and every relayed message looks its sender up twice.
    struct Identity: Hashable {
        private let words: (UInt64, UInt64, UInt64, UInt64)
        private let count: Int

        init(_ key: [UInt8]) {
            precondition(key.count <= 32, "identities are 32-byte keys")
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: key) }
            self.words = words
            count = key.count
        }

        static func == (a: Identity, b: Identity) -> Bool {
            a.words == b.words && a.count == b.count
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(words.0)
            hasher.combine(words.1)
            hasher.combine(words.2)
            hasher.combine(words.3)
        }
    }

    private struct Epochs {
        var highest: [UInt32: UInt32] = [:]
        var order: [UInt32] = []

        mutating func note(_ counter: UInt32, in epoch: UInt32, keeping limit: Int) {
            if let current = highest[epoch] {
                if counter > current { highest[epoch] = counter }
                return
            }
            if order.count >= limit { highest[order.removeFirst()] = nil }
            order.append(epoch)
            highest[epoch] = counter
        }
    }

    private var byIdentity: [Identity: Epochs] = [:]
    private var identityOrder = CircularBuffer<Identity>()
    let epochsPerIdentity: Int
    let maxIdentities: Int

    static let defaultEpochsPerIdentity = 8

    init(epochsPerIdentity: Int = defaultEpochsPerIdentity, maxIdentities: Int) {
        self.epochsPerIdentity = max(1, epochsPerIdentity)
        self.maxIdentities = max(1, maxIdentities)
    }

    static func split(_ id: UInt64) -> (epoch: UInt32, counter: UInt32) {
        (UInt32(truncatingIfNeeded: id >> 32), UInt32(truncatingIfNeeded: id))
    }

    func isDuplicate(_ id: UInt64, from identity: Identity) -> Bool {
        let (epoch, counter) = Self.split(id)
        guard let highest = byIdentity[identity]?.highest[epoch] else { return false }
        return counter <= highest
    }

    mutating func record(_ id: UInt64, from identity: Identity) {
        let (epoch, counter) = Self.split(id)
        if let index = byIdentity.index(forKey: identity) {
            byIdentity.values[index].note(counter, in: epoch, keeping: epochsPerIdentity)
            return
        }
        if identityOrder.count >= maxIdentities { byIdentity[identityOrder.removeFirst()] = nil }
        identityOrder.append(identity)
        var epochs = Epochs()
        epochs.note(counter, in: epoch, keeping: epochsPerIdentity)
        byIdentity[identity] = epochs
    }
}
