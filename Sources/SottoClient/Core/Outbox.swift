import Foundation

/// A message still in the outbox, as the person wrote it (what the app keeps when it closes
/// before the server has it). `mayHaveGone`: written on a connection and never acknowledged,
/// so the server may have relayed it; otherwise it certainly never left this device.
public struct UnsentMessage: Equatable, Sendable {
    public let id: UInt64
    /// Empty for the room.
    public let to: String
    public let text: String
    public let mayHaveGone: Bool
}

/// Messages a person typed, from the moment they are handed over until the server has
/// acknowledged them: exactly once, across lost connections and restarted servers.
///
/// The rules, in the order a message meets them:
/// - A message leaves the outbox only when the server acknowledges it (or refuses it).
/// - Entries before `transmitted` were written on the current connection; a lost connection
///   makes those *uncertain* (relayed or not, we never heard), and the next login asks the
///   server which it relayed before anything is sealed again (`relayedQuery`).
/// - The server acknowledges once the message is stored in its delivery log, for everyone
///   it is for, online or away: an acknowledged message is never sent again (it used to be,
///   for a minute after a loss, when an acknowledgement meant only queued).
///
/// Pure: no clock (times are passed in), no I/O. Reports come back as values.
struct Outbox {
    struct Entry: Equatable {
        let id: UInt64
        /// Empty for the room.
        let to: String
        let text: [UInt8]
        /// When it was last sealed (its time in the envelope): our copy, relayed back, is
        /// shown at it, not at a time the server chose.
        var sentMillis: UInt64?
    }

    /// What the person is told about a message that left the outbox.
    enum Report: Equatable {
        case delivered(id: UInt64)
        /// Refused by the server or before sealing: it will not be retried.
        case rejected(id: UInt64)
    }

    private(set) var entries: [Entry] = []
    /// How many entries (from the front) were written on the current connection.
    private(set) var transmitted = 0
    /// Possibly relayed on a lost connection without our hearing the acknowledgement.
    private(set) var uncertain: Set<UInt64> = []
    /// The relayed query of this login is unanswered: nothing may be sealed yet.
    private(set) var awaitingRelayedAnswer = false

    var count: Int { entries.count }
    /// What is still here, oldest first.
    var unsent: [UnsentMessage] {
        entries.enumerated().map { index, entry in
            UnsentMessage(id: entry.id, to: entry.to, text: String(decoding: entry.text, as: UTF8.self),
                          mayHaveGone: index < transmitted || uncertain.contains(entry.id))
        }
    }
    var hasUntransmitted: Bool { transmitted < entries.count }
    /// The next entry to seal and write on this connection.
    var next: Entry? { hasUntransmitted ? entries[transmitted] : nil }

    mutating func enqueue(_ entry: Entry) {
        entries.append(entry)
    }

    /// The next entry was written.
    mutating func markNextTransmitted(sentMillis: UInt64? = nil) {
        precondition(hasUntransmitted)
        entries[transmitted].sentMillis = sentMillis
        transmitted += 1
    }

    /// Takes the next entry out without sending it; the person is told with `report`.
    mutating func dropNext(as report: (UInt64) -> Report) -> Report {
        precondition(hasUntransmitted)
        return report(entries.remove(at: transmitted).id)
    }

    /// The server's acknowledgement; sequence 0 is a refusal.
    mutating func acknowledged(id: UInt64, sequence: UInt64) -> Report? {
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return nil }
        entries.remove(at: index)
        if index < transmitted { transmitted -= 1 }
        return sequence == 0 ? .rejected(id: id) : .delivered(id: id)
    }

    /// The connection ended: what was written may or may not have been relayed.
    mutating func connectionLost() {
        uncertain.formUnion(entries.prefix(transmitted).map(\.id))
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

    /// The person left the server: what was never written will not be (reported with
    /// `report`); what was written is kept as after a disconnect, unsure.
    mutating func dropUntransmitted(as report: (UInt64) -> Report) -> [Report] {
        let dropped = entries[transmitted...].map { report($0.id) }
        entries.removeSubrange(transmitted...)
        return dropped
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
        // An acknowledgement never heard is reported now.
        return done.map { .delivered(id: $0.id) }
    }
}
