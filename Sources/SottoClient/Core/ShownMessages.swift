import Foundation

/// The last few thousand (sender, client message id) pairs shown. A server that crashed
/// after relaying a message but before acknowledging it relays the client's resend again
/// after its restart; this is what makes that second copy invisible.
struct ShownMessages {
    private var seen: Set<String> = []
    private var order: [String] = []
    private var head = 0
    static let capacity = 10_000

    /// False if it was shown already.
    mutating func insert(from: String, id: UInt64) -> Bool {
        let key = "\(from)\u{0}\(id)"
        guard seen.insert(key).inserted else { return false }
        if order.count < Self.capacity {
            order.append(key)
        } else {
            seen.remove(order[head])
            order[head] = key
            head = (head + 1) % Self.capacity
        }
        return true
    }
}
