import NIOCore

/// A token bucket on an injected clock, so its arithmetic is testable without sleeping.
struct TokenBucket {
    let rate: Double
    let capacity: Double
    private(set) var tokens: Double
    private var last: NIODeadline

    init(rate: Double, capacity: Double, now: NIODeadline) {
        self.rate = rate
        self.capacity = capacity
        tokens = capacity
        last = now
    }

    mutating func refill(now: NIODeadline) {
        let elapsed = Double((now - last).nanoseconds) / 1e9
        if elapsed > 0 {
            tokens = min(capacity, tokens + elapsed * rate)
            last = now
        }
    }

    /// Takes one token; the balance may go negative, which is what pauses reading.
    mutating func take(now: NIODeadline) {
        refill(now: now)
        tokens -= 1
    }

    /// How long until the balance is back to one whole token (zero if it already is).
    mutating func wait(now: NIODeadline) -> TimeAmount {
        refill(now: now)
        guard tokens < 1 else { return .zero }
        // Clamped to an hour: a tiny configured rate must not overflow the conversion.
        return .nanoseconds(Int64(min(((1 - tokens) / rate) * 1e9, 3.6e12)))
    }
}
