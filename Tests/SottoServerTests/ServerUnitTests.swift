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

@Suite struct DataDirectoryTests {
    /// Finding: an existing --data-dir was left 0755 beside the server's key.
    @Test func anExistingDataDirectoryIsMadePrivate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-data-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        _ = try ServerDataDirectory(url: dir).loadOrCreateStaticKey()
        #expect(try FileManager.default.attributesOfItem(atPath: dir.path)[.posixPermissions] as? Int == 0o700)
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

    @Test func anAttemptTooSoonIsToldHowLongToWaitAndOneAtTheTimeIsExamined() {
        var t = LoginThrottle(limits: limits())
        let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
        #expect(t.admit("10.0.0.5", now: now) == .examine)
        for _ in 0..<3 { t.recordFailure(for: "10.0.0.5", now: now) }
        #expect(t.admit("10.0.0.5", now: now) == .wait(.seconds(1)))
        #expect(t.admit("10.0.0.5", now: now + .milliseconds(400)) == .wait(.milliseconds(600)))
        #expect(t.admit("10.0.0.5", now: now + .seconds(1)) == .examine)
        #expect(t.admit("10.0.0.6", now: now) == .examine)
    }

    @Test func ipv6SourcesCountPerSlash64() {
        var t = LoginThrottle(limits: limits())
        let now = NIODeadline.uptimeNanoseconds(5_000_000_000)
        for i in 1...3 { t.recordFailure(for: "2001:db8:0:7::\(i)", now: now) }
        #expect(t.admit("2001:db8:0:7:ffff::99", now: now) != .examine)
        #expect(t.admit("2001:db8:0:8::1", now: now) == .examine)
        #expect(LoginThrottle.source("::ffff:10.0.0.5") == "10.0.0.5")
        #expect(LoginThrottle.source("2001:db8::1") == LoginThrottle.source("2001:0db8:0000:0000:abcd::2"))
        #expect(LoginThrottle.source("not an address") == "not an address")
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
    @Test func resendsAtOrBelowTheHighWaterMarkOfTheirEpochAreDuplicates() {
        var ledger = MessageLedger(epochsPerIdentity: 2, maxIdentities: 2)
        let alice = MessageLedger.Identity([UInt8](repeating: 1, count: 32)), bob = MessageLedger.Identity([1]), carol = MessageLedger.Identity([3])
        let epoch: UInt64 = 7 << 32
        #expect(!ledger.isDuplicate(epoch | 1, from: alice))
        for counter in 1...5_000 { ledger.record(epoch | UInt64(counter), from: alice) }
        #expect(ledger.isDuplicate(epoch | 1, from: alice))
        #expect(ledger.isDuplicate(epoch | 5_000, from: alice))
        #expect(!ledger.isDuplicate(epoch | 5_001, from: alice))
        #expect(!ledger.isDuplicate(epoch | 1, from: bob))
        // Another epoch (a restarted client) starts fresh.
        #expect(!ledger.isDuplicate(8 << 32 | 1, from: alice))
        // Bounded: old epochs and old identities are forgotten.
        ledger.record(8 << 32 | 1, from: alice)
        ledger.record(9 << 32 | 1, from: alice)
        #expect(!ledger.isDuplicate(epoch | 1, from: alice))
        ledger.record(epoch | 1, from: bob)
        ledger.record(epoch | 1, from: carol)
        #expect(!ledger.isDuplicate(9 << 32 | 1, from: alice))
        #expect(ledger.isDuplicate(epoch | 1, from: carol))
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

    /// An attacker's review: a salt file that was not one, or an empty password file, was
    /// replaced with a new one without a word (the operator's password, or what the file
    /// held, lost). Refused, as a damaged key is, and left as it was.
    @Test func aDamagedSaltOrAnEmptyPasswordFileIsRefusedNotReplaced() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-data-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let dir = ServerDataDirectory(url: url)
        _ = try dir.loadOrCreateStaticKey()
        for bad in ["not base64 at all!", Data([1, 2, 3]).base64EncodedString()] {
            try SecureFile.write(Data(bad.utf8), to: dir.saltURL)
            #expect(throws: SecureFile.Failure.self) { try dir.loadOrCreateSalt() }
            #expect(try String(contentsOf: dir.saltURL, encoding: .utf8) == bad)
        }
        try SecureFile.write(Data("\n".utf8), to: dir.passwordURL)
        #expect(throws: SecureFile.Failure.self) { try dir.loadOrCreatePassword() }
        #expect(try String(contentsOf: dir.passwordURL, encoding: .utf8) == "\n")
    }

    @Test func generatedPasswordsDiffer() {
        let passwords = Set((0..<100).map { _ in ServerDataDirectory.generatePassword() })
        #expect(passwords.count == 100)
    }
}
