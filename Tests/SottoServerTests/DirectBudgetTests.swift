import SottoCore
@testable import SottoServer
import Testing

/// What one sender may have waiting for one member (`DirectBudget`), driven by hand.
@Suite struct DirectBudgetTests {
    let alice = MessageLedger.Identity([UInt8](repeating: 1, count: 32))
    let carol = MessageLedger.Identity([UInt8](repeating: 3, count: 32))

    @Test func aSenderFillsItsShareAndNoMore() {
        var budget = DirectBudget(share: 1_000)
        #expect(budget.admits(1_000, from: alice, to: "bob"))
        #expect(!budget.admits(1_001, from: alice, to: "bob"))
        budget.stored(600, at: 1, from: alice, to: "bob")
        #expect(budget.admits(400, from: alice, to: "bob") && !budget.admits(401, from: alice, to: "bob"))
        // Another sender, another recipient: shares of their own.
        #expect(budget.admits(1_000, from: carol, to: "bob") && budget.admits(1_000, from: alice, to: "dave"))
        #expect(DirectBudget(share: 16 << 20).shareText == "16 MiB" && DirectBudget(share: 250 << 10).shareText == "250 KiB")
    }

    /// A review: counts went only once bob had confirmed everything waiting for him, from
    /// anyone; carol sending to him without pause kept alice's count growing though bob read
    /// all of hers, until alice was refused (her shares dropped unseen).
    @Test func aSendersCountGoesOnceWhatTheySentIsConfirmedWhateverOthersSend() {
        var budget = DirectBudget(share: 1_000)
        budget.stored(500, at: 10, from: alice, to: "bob")
        var position: UInt64 = 10
        for _ in 0..<5 {
            position += 1
            budget.stored(100, at: position, from: carol, to: "bob")
            // Bob confirms all but carol's newest, every time.
            budget.confirmed("bob", through: position - 1)
        }
        #expect(budget.bytes(from: alice, to: "bob") == 0, "alice's count stayed though bob read all of hers")
        #expect(budget.bytes(from: carol, to: "bob") == 500, "carol's newest is not confirmed")
        budget.confirmed("bob", through: position)
        #expect(budget.bytes(from: carol, to: "bob") == 0)
        // A release drops everything for the name.
        budget.stored(700, at: 20, from: alice, to: "bob")
        budget.released("bob")
        #expect(budget.bytes(from: alice, to: "bob") == 0)
    }

    /// After a restart the counts are what the log holds (`DeliveryStartup.waitingDirect`).
    @Test func countsStartFromWhatTheLogHolds() {
        let budget = DirectBudget(share: 1_000, stored: [("bob", [UInt8](repeating: 1, count: 32), 900, 7),
                                                         ("bob", [UInt8](repeating: 3, count: 32), 10, 8)])
        #expect(!budget.admits(101, from: alice, to: "bob"))
        #expect(budget.admits(990, from: carol, to: "bob"))
    }
}
