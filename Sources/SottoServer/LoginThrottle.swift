import NIOCore

/// Remembers failed logins per address and says how long the next attempt must wait:
/// nothing for the first few, then doubling up to a ceiling.
struct LoginThrottle {
    private struct Record { var failures: Int; var lastFailure: NIODeadline }
    private var records: [String: Record] = [:]
    let freeFailures: Int
    let base: TimeAmount
    let ceiling: TimeAmount
    let memory: TimeAmount
    /// Bound on addresses tracked, so a flood of sources cannot grow this without limit.
    static let maxAddresses = 65_536

    init(limits: ServerLimits) {
        freeFailures = limits.freeLoginFailures
        base = limits.loginBackoffBase
        ceiling = limits.loginBackoffMax
        memory = limits.loginFailureMemory
    }

    func delay(for address: String, now: NIODeadline) -> TimeAmount {
        guard let r = records[address], now - r.lastFailure < memory else { return .zero }
        let excess = r.failures - freeFailures
        guard excess >= 0 else { return .zero }
        let factor = Int64(1) << Int64(min(excess, 30))
        return .nanoseconds(min(ceiling.nanoseconds, base.nanoseconds.multipliedReportingOverflow(by: factor).partialValue))
    }

    mutating func recordFailure(for address: String, now: NIODeadline) {
        if records.count >= Self.maxAddresses, records[address] == nil { evictExpired(now: now) }
        var r = records[address] ?? Record(failures: 0, lastFailure: now)
        if now - r.lastFailure >= memory { r.failures = 0 }
        r.failures += 1
        r.lastFailure = now
        records[address] = r
    }

    mutating func recordSuccess(for address: String) {
        records[address] = nil
    }

    private mutating func evictExpired(now: NIODeadline) {
        records = records.filter { now - $0.value.lastFailure < memory }
        if records.count >= Self.maxAddresses {
            // Still full of fresh failures: forget the oldest half rather than grow.
            let keep = records.sorted { $0.value.lastFailure > $1.value.lastFailure }.prefix(Self.maxAddresses / 2)
            records = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }
}
