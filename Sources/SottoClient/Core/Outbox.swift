import Foundation

/// Messages a person typed, from the moment they are handed over until the server has
/// acknowledged them: exactly once, across lost connections and restarted servers.
///
/// The rules, in the order a message meets them:
/// - A message leaves the outbox only when the server acknowledges it (or refuses it).
/// - Entries before `transmitted` were written on the current connection; a lost connection
///   makes those *uncertain* (relayed or not, we never heard), and the next login asks the
///   server which it relayed before anything is sealed again (`relayedQuery`).
/// - The server acknowledges once it has queued a message for everyone, not once everyone
///   has it, so the last minute's acknowledged messages are sent again after a loss; a server
///   that relayed one already drops the resend, and receivers drop a second copy.
/// - A resend goes only to who was there when the connection was lost, never to someone
///   who arrived since (they must not read what was said before they came).
///
/// Pure: no clock (times are passed in), no I/O. Reports come back as values.
struct Outbox {
    struct Entry: Equatable {
        let id: UInt64
        /// Empty for the room.
        let to: String
        let text: [UInt8]
    }

    /// What the person is told about a message that left the outbox.
    enum Report: Equatable {
        case delivered(id: UInt64)
        /// Refused by the server or before sealing: it will not be retried.
        case rejected(id: UInt64)
    }

    static let resendWindow: TimeInterval = 60
    static let resendLimit = 1_000

    private(set) var entries: [Entry] = []
    /// How many entries (from the front) were written on the current connection.
    private(set) var transmitted = 0
    /// Acknowledged recently, oldest first (see the type's rules).
    private var recentlyAcknowledged: [(entry: Entry, at: Date)] = []
    private var recentHead = 0
    /// Requeued after a loss: the person was told about these once already.
    private(set) var resent: Set<UInt64> = []
    /// Who was here when the connection was lost.
    private(set) var resendAudience: Set<String> = []
    /// Possibly relayed on a lost connection without our hearing the acknowledgement.
    private(set) var uncertain: Set<UInt64> = []
    /// The relayed query of this login is unanswered: nothing may be sealed yet.
    private(set) var awaitingRelayedAnswer = false

    var count: Int { entries.count }
    var hasUntransmitted: Bool { transmitted < entries.count }
    /// The next entry to seal and write on this connection.
    var next: Entry? { hasUntransmitted ? entries[transmitted] : nil }

    mutating func enqueue(_ entry: Entry) {
        entries.append(entry)
    }

    /// The next entry was written.
    mutating func markNextTransmitted() {
        precondition(hasUntransmitted)
        transmitted += 1
    }

    /// A resend that is not for the members online now (someone new arrived): drop it.
    func isUnsafeResend(_ entry: Entry, membersOnline: Set<String>) -> Bool {
        guard resent.contains(entry.id) else { return false }
        return entry.to.isEmpty ? !membersOnline.isSubset(of: resendAudience) : !resendAudience.contains(entry.to)
    }

    /// Takes the next entry out without sending it. Returns the report the person is owed:
    /// nil when it was a resend (they were told once already).
    mutating func dropNext(as report: (UInt64) -> Report) -> Report? {
        precondition(hasUntransmitted)
        let entry = entries.remove(at: transmitted)
        return resent.remove(entry.id) == nil ? report(entry.id) : nil
    }

    /// The server's acknowledgement; sequence 0 is a refusal.
    mutating func acknowledged(id: UInt64, sequence: UInt64, now: Date) -> Report? {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return nil }
        let entry = entries.remove(at: index)
        if index < transmitted { transmitted -= 1 }
        if sequence != 0 { remember(entry, now: now) }
        if resent.remove(id) != nil { return nil }
        return sequence == 0 ? .rejected(id: id) : .delivered(id: id)
    }

    /// The connection ended. `audience`: who was online, when it ended after being online.
    mutating func connectionLost(audience: Set<String>?, now: Date) {
        if let audience { resendAudience = audience }
        uncertain.formUnion(entries.prefix(transmitted).map(\.id))
        let again = recentlyAcknowledged[recentHead...].filter { now.timeIntervalSince($0.at) <= Self.resendWindow }.map(\.entry)
        recentlyAcknowledged = []
        recentHead = 0
        if !again.isEmpty {
            resent.formUnion(again.map(\.id))
            uncertain.formUnion(again.map(\.id))
            entries = again + entries
        }
        transmitted = 0
        awaitingRelayedAnswer = false
    }

    /// The person disconnected: what was written may or may not have been relayed. Nothing
    /// is requeued (the server did not fail), but the next login asks before sealing again.
    mutating func closedOnPurpose() {
        uncertain.formUnion(entries.prefix(transmitted).map(\.id))
        transmitted = 0
        awaitingRelayedAnswer = false
    }

    /// A new login: the ids to ask the server about (at most `limit`), if any.
    mutating func loggedIn(limit: Int) -> [UInt64] {
        transmitted = 0
        let uncertain = self.uncertain
        let ask = Array(entries.lazy.map(\.id).filter { uncertain.contains($0) }.prefix(limit))
        if ask.isEmpty { self.uncertain = [] }  // all acknowledged meanwhile: nothing to ask
        awaitingRelayedAnswer = !ask.isEmpty
        return ask
    }

    /// The server's answer to this login's relayed query: those it relayed are done.
    mutating func relayedAnswer(_ ids: [UInt64]) -> [Report] {
        guard awaitingRelayedAnswer else { return [] }
        awaitingRelayedAnswer = false
        uncertain = []
        let relayed = Set(ids)
        let done = entries.filter { relayed.contains($0.id) }
        entries.removeAll { relayed.contains($0.id) }
        // An acknowledgement never heard is reported now; a requeued one was reported already.
        return done.filter { resent.remove($0.id) == nil }.map { .delivered(id: $0.id) }
    }

    private mutating func remember(_ entry: Entry, now: Date) {
        recentlyAcknowledged.append((entry, now))
        while recentHead < recentlyAcknowledged.count,
              recentlyAcknowledged.count - recentHead > Self.resendLimit
                || now.timeIntervalSince(recentlyAcknowledged[recentHead].at) > Self.resendWindow {
            recentHead += 1
        }
        // Compacted once half is spent: amortised O(1) per acknowledgement.
        if recentHead > 64, recentHead * 2 > recentlyAcknowledged.count {
            recentlyAcknowledged.removeFirst(recentHead)
            recentHead = 0
        }
    }
}
