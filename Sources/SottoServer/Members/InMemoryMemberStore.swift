import NIOConcurrencyHelpers
import SottoCore

/// Members kept for the life of the process: tests, fuzzing and `InMemoryServer`.
public final class InMemoryMemberStore: MemberStore, @unchecked Sendable {
    private let lock = NIOLock()
    private var byKey: [String: RegisteredMember] = [:]
    private let limits: MemberLimits

    public init(limits: MemberLimits = MemberLimits()) { self.limits = limits }

    public func claim(_ name: Username, identity: [UInt8], at time: UInt64, mayRegister: () -> Bool, verifies: () -> Bool) throws -> MemberClaim {
        lock.withLock {
            let existing = byKey.values.filter { $0.key == name.key || $0.displayKey == name.displayKey }
            let claim = MemberClaim.decide(name, identity: identity, existing: existing,
                                           namesHeld: byKey.values.lazy.filter { $0.identity == identity }.count, members: byKey.count,
                                           limits: limits, mayRegister: mayRegister, verifies: verifies)
            switch claim {
            case .registered:
                byKey[name.key] = RegisteredMember(name: name.display, key: name.key, displayKey: name.displayKey,
                                                   identity: identity, registeredAt: time, lastSeen: time)
            case .returning, .heldByAnother, .unverifiedIdentity, .tooManyNames, .full, .tooManyRegistrations:
                break
            }
            return claim
        }
    }

    public func members() throws -> [RegisteredMember] {
        lock.withLock { byKey.values.sorted { $0.name < $1.name } }
    }

    public func release(_ name: Username) throws -> RegisteredMember? {
        lock.withLock {
            guard let released = byKey.removeValue(forKey: name.key) else { return nil }
            byKey = byKey.filter { $0.value.displayKey != released.displayKey || $0.value.identity != released.identity }
            return released
        }
    }

    public func withdraw(_ name: Username, identity: [UInt8]) throws {
        lock.withLock { if byKey[name.key]?.identity == identity { byKey[name.key] = nil } }
    }

    public func noteSeen(_ name: Username, at time: UInt64) throws {
        lock.withLock {
            guard let seen = byKey[name.key]?.lastSeen else { return }
            byKey[name.key]?.lastSeen = max(seen, time)
        }
    }
}
