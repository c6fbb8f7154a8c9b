/// Per client identity, the last few client message ids and the sequence each was given,
/// so a message resent after a reconnect is acknowledged again but relayed only once.
struct MessageLedger {
    private struct Entries {
        var sequenceByID: [UInt64: UInt64] = [:]
        var order: [UInt64] = []
        var head = 0
    }
    private var byIdentity: [[UInt8]: Entries] = [:]
    private var identityOrder: [[UInt8]] = []
    let perIdentity: Int
    let maxIdentities: Int

    init(perIdentity: Int, maxIdentities: Int) {
        self.perIdentity = max(1, perIdentity)
        self.maxIdentities = max(1, maxIdentities)
    }

    func sequence(of id: UInt64, from identity: [UInt8]) -> UInt64? {
        byIdentity[identity]?.sequenceByID[id]
    }

    mutating func record(_ id: UInt64, sequence: UInt64, from identity: [UInt8]) {
        if byIdentity[identity] == nil {
            if identityOrder.count >= maxIdentities {
                byIdentity[identityOrder.removeFirst()] = nil
            }
            identityOrder.append(identity)
            byIdentity[identity] = Entries()
        }
        var e = byIdentity[identity]!
        byIdentity[identity] = nil  // keep the entry uniquely referenced while mutating
        if e.order.count < perIdentity {
            e.order.append(id)
        } else {
            e.sequenceByID[e.order[e.head]] = nil
            e.order[e.head] = id
            e.head = (e.head + 1) % perIdentity
        }
        e.sequenceByID[id] = sequence
        byIdentity[identity] = e
    }
}
