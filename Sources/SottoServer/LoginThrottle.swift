import Foundation
import NIOCore

/// Remembers failed logins per source and says when the next attempt may be examined:
/// at once for the first few, then only after a delay that doubles up to a ceiling.
///
/// An attempt that comes too early is answered at once with error 4 and the time to wait,
/// never held: a held login could outlast the login timeout, which locked out even the right
/// password (and everyone behind a shared address). Each attempt is examined the moment it
/// is admitted and its outcome recorded before the next is admitted, so concurrent guesses
/// from one source are counted one by one. IPv6 sources count per /64, as one host may
/// have a whole prefix.
struct LoginThrottle {
    enum Admission: Equatable {
        case examine
        case wait(TimeAmount)
    }

    private struct Record { var failures: Int; var lastFailure: NIODeadline }
    private var records: [String: Record] = [:]
    let freeFailures: Int
    let base: TimeAmount
    let ceiling: TimeAmount
    let memory: TimeAmount
    /// Bound on sources tracked, so a flood of them cannot grow this without limit.
    static let maxAddresses = 65_536

    init(limits: ServerLimits) {
        freeFailures = limits.freeLoginFailures
        base = limits.loginBackoffBase
        ceiling = limits.loginBackoffMax
        memory = limits.loginFailureMemory
    }

    /// How long after its last failure a source must wait before its next attempt.
    func delay(for address: String, now: NIODeadline) -> TimeAmount {
        guard let r = records[Self.source(address)], now - r.lastFailure < memory else { return .zero }
        let excess = r.failures - freeFailures
        guard excess >= 0 else { return .zero }
        let factor = Int64(1) << Int64(min(excess, 30))
        let (product, overflow) = base.nanoseconds.multipliedReportingOverflow(by: factor)
        return .nanoseconds(overflow ? ceiling.nanoseconds : min(ceiling.nanoseconds, product))
    }

    /// Whether an attempt arriving now may be examined, or how long it must wait.
    func admit(_ address: String, now: NIODeadline) -> Admission {
        guard let r = records[Self.source(address)] else { return .examine }
        let ready = r.lastFailure + delay(for: address, now: now)
        return now >= ready ? .examine : .wait(ready - now)
    }

    mutating func recordFailure(for address: String, now: NIODeadline) {
        let source = Self.source(address)
        if records.count >= Self.maxAddresses, records[source] == nil { evictExpired(now: now) }
        var r = records[source] ?? Record(failures: 0, lastFailure: now)
        if now - r.lastFailure >= memory { r.failures = 0 }
        r.failures = min(r.failures + 1, 1 << 20)
        r.lastFailure = now
        records[source] = r
    }

    mutating func recordSuccess(for address: String) {
        records[Self.source(address)] = nil
    }

    /// What failures are counted by: an IPv4 address, or an IPv6 address's /64 (an
    /// IPv4-mapped IPv6 address counts as its IPv4 address).
    static func source(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        return bytes[0..<8].map { String(format: "%02x", $0) }.joined() + "::/64"
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
