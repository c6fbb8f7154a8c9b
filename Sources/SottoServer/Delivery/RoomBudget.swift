/// What each sender's device has put in the room since the member away longest was last
/// there: one sender may fill only `share` of what may wait for a member. Room messages are
/// kept once for everyone, and retention gives up an away member's oldest entries past their
/// bound, whoever sent them: one member flooding the room made what others had sent that
/// member (direct messages, the keys to read them) be dropped unseen (an attacker's review).
/// What waits for a member from one sender is the sender's room bytes since that member's
/// position; the most of it waits for the member whose position is oldest, so one floor (the
/// oldest position among members away) bounds them all. Owned by the hub, under its lock.
struct RoomBudget {
    /// What one sender may have waiting in the room for the members away, once what waits
    /// in all passes `pressure`: until then retention gives up nothing, and nobody is refused
    /// (a review: one member away for weeks made the busiest honest sender be refused).
    let share: Int
    let pressure: Int
    /// Members away, and the position from which what is stored waits for them.
    private var away: [String: UInt64] = [:]
    /// The oldest of `away` (nil: nobody is away, nothing waits, nothing is counted).
    private(set) var floor: UInt64?
    /// Per sender, their room bytes as running totals by position, oldest first; from the
    /// last at or below `floor` on (that one is the baseline).
    private var sent: [MessageLedger.Identity: [(position: UInt64, total: Int)]] = [:]
    /// Everyone's room bytes, the same way.
    private var all: [(position: UInt64, total: Int)] = []

    /// `share`: a quarter of what may wait for a member; `pressure`: three quarters of it.
    init(share: Int, pressure: Int? = nil, away: [String: UInt64] = [:]) {
        self.share = share
        self.pressure = pressure ?? share * 3
        self.away = away
        floor = away.values.min()
    }

    /// What `sender` has stored in the room since `floor`.
    func waiting(from sender: MessageLedger.Identity) -> Int { since(sent[sender] ?? []) }

    /// What everyone has stored in the room since `floor`.
    var waitingInAll: Int { since(all) }

    private func since(_ totals: [(position: UInt64, total: Int)]) -> Int {
        guard let floor, let newest = totals.last else { return 0 }
        // The baseline: the last total at or below the floor (none: everything counts).
        var low = 0, high = totals.count
        while low < high {
            let mid = (low + high) / 2
            if totals[mid].position <= floor { low = mid + 1 } else { high = mid }
        }
        return newest.total - (low > 0 ? totals[low - 1].total : 0)
    }

    /// Whether `bytes` more in the room from `sender` stay within the sender's share.
    func admits(_ bytes: Int, from sender: MessageLedger.Identity) -> Bool {
        floor == nil || bytes <= pressure - waitingInAll || bytes <= share - waiting(from: sender)
    }

    /// A room entry of `bytes` from `sender` was stored at `position`.
    mutating func stored(_ bytes: Int, at position: UInt64, from sender: MessageLedger.Identity) {
        guard floor != nil else { return }
        var totals = sent[sender] ?? []
        totals.append((position, (totals.last?.total ?? 0) &+ bytes))
        sent[sender] = totals
        all.append((position, (all.last?.total ?? 0) &+ bytes))
    }

    /// The member went away (their session ended) at `position`: what is stored after it waits for them.
    mutating func wentAway(_ member: String, at position: UInt64) {
        away[member] = min(away[member] ?? position, position)
        moveFloor()
    }

    /// The member is back (or their name was released): nothing waits for them any more.
    mutating func returned(_ member: String) {
        guard away.removeValue(forKey: member) != nil else { return }
        moveFloor()
    }

    /// Retention moved away members' positions (what was older is gone): what waits for them
    /// is counted from there.
    mutating func positionsMoved(_ positions: [String: UInt64]) {
        for (member, position) in positions where away[member].map({ $0 < position }) == true { away[member] = position }
        moveFloor()
    }

    /// A new floor: what lies wholly at or below it is no longer counted (one baseline kept).
    private mutating func moveFloor() {
        floor = away.values.min()
        guard let floor else {
            sent = [:]
            all = []
            return
        }
        for (sender, totals) in sent { sent[sender] = Self.trimmed(totals, below: floor) }
        all = Self.trimmed(all, below: floor) ?? []
    }

    /// Running totals from the last at or below `floor` on (nil: nothing since it).
    private static func trimmed(_ totals: [(position: UInt64, total: Int)], below floor: UInt64) -> [(position: UInt64, total: Int)]? {
        let keepFrom = (totals.lastIndex { $0.position <= floor }) ?? 0
        if keepFrom == totals.count - 1, totals[keepFrom].position <= floor { return nil }
        return keepFrom > 0 ? Array(totals[keepFrom...]) : totals
    }

    /// The share as a person reads it: "16 MiB", "250 KiB".
    var shareText: String { DirectBudget.text(ofBytes: share) }
}
