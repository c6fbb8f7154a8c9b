import NIOConcurrencyHelpers
import SottoCore

/// Members kept for the life of the process: tests, fuzzing and `InMemoryServer`.
public final class InMemoryMemberStore: MemberStore, @unchecked Sendable {
    private let lock = NIOLock()
    private var byKey: [String: RegisteredMember] = [:]

    public init() {}

    public func claim(_ name: Username, identity: [UInt8], at time: UInt64, verifies: () -> Bool) throws -> MemberClaim {
        lock.withLock {
            let existing = byKey.values.filter { $0.key == name.key || $0.displayKey == name.displayKey }
            let claim = MemberClaim.decide(name, identity: identity, existing: existing, verifies: verifies)
            switch claim {
            case .registered:
                byKey[name.key] = RegisteredMember(name: name.display, key: name.key, displayKey: name.displayKey,
                                                   identity: identity, registeredAt: time, lastSeen: time)
            case .returning:
                byKey[name.key]?.lastSeen = time
            case .heldByAnother, .unverifiedIdentity:
                break
            }
            return claim
        }
    }

    public func members() throws -> [RegisteredMember] {
        lock.withLock { byKey.values.sorted { $0.name < $1.name } }
    }

    public func release(_ name: Username) throws -> RegisteredMember? {
        lock.withLock { byKey.removeValue(forKey: name.key) }
    }

    public func noteSeen(_ name: Username, at time: UInt64) throws {
        lock.withLock {
            guard let seen = byKey[name.key]?.lastSeen else { return }
            byKey[name.key]?.lastSeen = max(seen, time)
        }
    }
}
