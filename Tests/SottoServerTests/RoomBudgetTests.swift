import Testing
@testable import SottoServer

/// One member flooding the room made what others had sent someone away be dropped unseen
/// (an attacker's review): one sender may fill only a share of what may wait for a member.
@Suite struct RoomBudgetTests {
    let mallory = MessageLedger.Identity(Array(repeating: 7, count: 32))
    let alice = MessageLedger.Identity(Array(repeating: 1, count: 32))

    @Test func withNobodyAwayNothingIsCountedOrRefused() {
        var budget = RoomBudget(share: 1_000)
        for i in 1...100 { budget.stored(500, at: UInt64(i), from: mallory) }
        #expect(budget.floor == nil && budget.admits(1_000, from: mallory) && budget.waiting(from: mallory) == 0)
    }

    @Test func whatASenderPutInTheRoomSinceTheMemberAwayLongestIsBounded() {
        var budget = RoomBudget(share: 1_000, pressure: 1_000, away: ["carol": 10])
        budget.stored(400, at: 11, from: mallory)
        budget.stored(400, at: 12, from: mallory)
        budget.stored(900, at: 13, from: alice)
        #expect(budget.waiting(from: mallory) == 800)
        #expect(budget.admits(200, from: mallory) && !budget.admits(201, from: mallory))
        #expect(budget.admits(100, from: alice) && !budget.admits(101, from: alice), "each sender has a share of their own")
        // Someone else away since later: the floor is the oldest, carol's.
        budget.wentAway("dave", at: 12)
        #expect(budget.floor == 10 && budget.waiting(from: mallory) == 800)
        // Carol is back: what waits now is what dave missed.
        budget.returned("carol")
        #expect(budget.floor == 12 && budget.waiting(from: mallory) == 0 && budget.waiting(from: alice) == 900)
        // Retention moved dave past it all.
        budget.positionsMoved(["dave": 13, "carol": 100])
        #expect(budget.floor == 13 && budget.waiting(from: alice) == 0 && budget.admits(1_000, from: mallory))
        budget.returned("dave")
        #expect(budget.floor == nil)
    }

    @Test func whatWasStoredBeforeTheFloorIsNotCountedAndNotKept() {
        var budget = RoomBudget(share: 1_000, pressure: 1_000, away: ["carol": 0])
        for i in 1...1_000 { budget.stored(1, at: UInt64(i), from: mallory) }
        budget.positionsMoved(["carol": 990])
        #expect(budget.waiting(from: mallory) == 10)
        budget.stored(5, at: 1_001, from: mallory)
        #expect(budget.waiting(from: mallory) == 15)
    }

    /// A review: one member away for weeks made the busiest honest sender be refused, though
    /// nothing would have been given up. Until what waits in all passes the pressure, nobody is.
    @Test func belowThePressureNobodyIsRefused() {
        var budget = RoomBudget(share: 1_000, away: ["carol": 0])
        #expect(budget.pressure == 3_000)
        for i in 1...25 { budget.stored(100, at: UInt64(i), from: alice) }
        #expect(budget.waiting(from: alice) == 2_500 && budget.admits(500, from: alice), "alice has more than a share, and is not refused")
        budget.stored(500, at: 26, from: alice)
        #expect(!budget.admits(1, from: alice), "past the pressure, past her share: refused")
        #expect(budget.admits(1_000, from: mallory), "within his share: admitted")
    }
}
