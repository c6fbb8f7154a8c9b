import SottoCore

/// What waits on the server for each member from each sender's device, in bytes (direct
/// messages and key shares, as stored), and the newest position among them: one sender may
/// fill only `share` of what may wait for a member. Retention gives up a member's oldest
/// entries past their bound, whoever sent them: a member flooding someone away with direct
/// messages made others' earlier messages to them be dropped unseen (an attacker's review).
/// A sender's count goes once the member confirms past the newest of theirs (a count reset
/// only when everything was confirmed never went while someone else kept sending: a review).
/// Owned by the hub, under its lock.
struct DirectBudget {
    private var waiting: [String: [MessageLedger.Identity: (bytes: Int, newest: UInt64)]] = [:]
    /// What one sender may have waiting for one member.
    let share: Int

    init(share: Int, stored: [(recipient: String, sender: [UInt8], bytes: Int64, newest: UInt64)] = []) {
        self.share = share
        for entry in stored {
            let sender = MessageLedger.Identity(entry.sender)
            let before = waiting[entry.recipient]?[sender] ?? (0, 0)
            waiting[entry.recipient, default: [:]][sender] = (before.bytes + Int(clamping: entry.bytes), max(before.newest, entry.newest))
        }
    }

    /// Whether `bytes` more from `sender` for `recipient` stay within the sender's share.
    func admits(_ bytes: Int, from sender: MessageLedger.Identity, to recipient: String) -> Bool {
        bytes <= share - (waiting[recipient]?[sender]?.bytes ?? 0)
    }

    /// An entry of `bytes` from `sender` was stored for `recipient` at `position`.
    mutating func stored(_ bytes: Int, at position: UInt64, from sender: MessageLedger.Identity, to recipient: String) {
        let before = waiting[recipient]?[sender] ?? (0, 0)
        waiting[recipient, default: [:]][sender] = (before.bytes &+ bytes, max(before.newest, position))
    }

    /// The member confirmed their stream through `position`: senders whose entries all lie
    /// at or below it have nothing waiting any more.
    mutating func confirmed(_ recipient: String, through position: UInt64) {
        guard var senders = waiting[recipient] else { return }
        senders = senders.filter { $0.value.newest > position }
        waiting[recipient] = senders.isEmpty ? nil : senders
    }

    /// The member's name was released: what waited for them is gone.
    mutating func released(_ recipient: String) { waiting[recipient] = nil }

    /// What `sender` has waiting for `recipient` (tests).
    func bytes(from sender: MessageLedger.Identity, to recipient: String) -> Int { waiting[recipient]?[sender]?.bytes ?? 0 }

    /// The share as a person reads it: "16 MiB", "250 KiB".
    var shareText: String { Self.text(ofBytes: share) }

    /// A size as a person reads it (the budgets' refusals say it).
    static func text(ofBytes bytes: Int) -> String { bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(max(1, bytes >> 10)) KiB" }
}
