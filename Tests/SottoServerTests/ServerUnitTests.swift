import Foundation
import NIOCore
import SottoCore
import Testing
@testable import SottoServer

@Suite struct TokenBucketTests {
    @Test func burstThenSteadyRate() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var bucket = TokenBucket(rate: 10, capacity: 5, now: start)
        for _ in 0..<5 { bucket.take(now: start) }
        #expect(bucket.wait(now: start) == .milliseconds(100))
        bucket.take(now: start)
        #expect(bucket.tokens == -1)
        #expect(bucket.wait(now: start) == .milliseconds(200))
        #expect(bucket.wait(now: start + .milliseconds(200)) == .zero)
        // Refill never exceeds capacity.
        #expect(bucket.wait(now: start + .seconds(100)) == .zero)
        #expect(bucket.tokens == 5)
    }
}

@Suite struct LoginThrottleTests {
    func limits() -> ServerLimits {
        var l = ServerLimits()
        l.freeLoginFailures = 2
        l.loginBackoffBase = .milliseconds(500)
        l.loginBackoffMax = .seconds(4)
        l.loginFailureMemory = .seconds(60)
        return l
    }

    @Test func delaysDoubleAfterTheFreeFailuresUpToTheCeiling() {
        var t = LoginThrottle(limits: limits())
        let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
        var delays: [Int64] = []
        for _ in 0..<8 {
            delays.append(t.delay(for: "10.0.0.5", now: now).nanoseconds / 1_000_000)
            t.recordFailure(for: "10.0.0.5", now: now)
        }
        #expect(delays == [0, 0, 500, 1000, 2000, 4000, 4000, 4000])
        #expect(t.delay(for: "10.0.0.6", now: now) == .zero)
    }

    @Test func successAndTimeForgive() {
        var t = LoginThrottle(limits: limits())
        let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
        for _ in 0..<4 { t.recordFailure(for: "a", now: now) }
        #expect(t.delay(for: "a", now: now) > .zero)
        #expect(t.delay(for: "a", now: now + .seconds(61)) == .zero)
        t.recordSuccess(for: "a")
        #expect(t.delay(for: "a", now: now) == .zero)
    }
}

@Suite struct MessageLedgerTests {
    @Test func remembersTheLastIDsPerIdentity() {
        var ledger = MessageLedger(perIdentity: 3, maxIdentities: 2)
        let alice: [UInt8] = [1], bob: [UInt8] = [2], carol: [UInt8] = [3]
        for id in 1...4 { ledger.record(UInt64(id), sequence: UInt64(id * 10), from: alice) }
        #expect(ledger.sequence(of: 1, from: alice) == nil)
        #expect(ledger.sequence(of: 4, from: alice) == 40)
        #expect(ledger.sequence(of: 4, from: bob) == nil)
        ledger.record(9, sequence: 90, from: bob)
        ledger.record(9, sequence: 91, from: carol)
        // Bounded: the oldest identity was forgotten.
        #expect(ledger.sequence(of: 4, from: alice) == nil)
        #expect(ledger.sequence(of: 9, from: bob) == 90)
        #expect(ledger.sequence(of: 9, from: carol) == 91)
    }
}

@Suite struct ServerDataDirectoryTests {
    @Test func keyPasswordAndSaltAreCreatedOnceAndPrivate() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-data-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let dir = ServerDataDirectory(url: url)
        let key = try dir.loadOrCreateStaticKey()
        let (password, created) = try dir.loadOrCreatePassword()
        let salt = try dir.loadOrCreateSalt()
        #expect(created)
        #expect(password.count == 23)
        #expect(try dir.loadOrCreateStaticKey().rawRepresentation == key.rawRepresentation)
        #expect(try dir.loadOrCreatePassword() == (password, false))
        #expect(try dir.loadOrCreateSalt() == salt)
        for file in [dir.keyURL, dir.passwordURL, dir.saltURL] {
            #expect(try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int == 0o600)
        }
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int == 0o700)
    }

    @Test func generatedPasswordsDiffer() {
        let passwords = Set((0..<100).map { _ in ServerDataDirectory.generatePassword() })
        #expect(passwords.count == 100)
    }
}
