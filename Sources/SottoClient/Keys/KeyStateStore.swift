import Foundation
import NIOConcurrencyHelpers
import SottoCore

/// Where a client keeps its end-to-end state per server between runs (`KeyState`): its
/// prekeys with their private halves, the chains it follows, the chains it accepted and how
/// far its stream is stored. Calls block; `ChatClient` makes them on a queue of its own.
public protocol KeyStateStore: AnyObject, Sendable {
    /// What is kept for this server, after rotating prekeys as `policy` says (a new one made
    /// and kept before it is returned, those past their grace deleted) and forgetting
    /// accepted chains too old to be offered again.
    func load(server: String, identity: IdentityKeys, policy: PrekeyPolicy, now: Date) throws -> KeyState
    /// Stores changes and the position they bring one stream to (`KeyState.streamKey`), in one transaction.
    func save(server: String, _ changes: KeyStateChanges, stream: String, through position: UInt64) throws
    /// Sets a stream's position lower than it was: the server's log went back (restored from
    /// a backup, or a server that lied about how far it was), and what it numbers from there
    /// on is new. `save` only ever moves a position forward.
    func rewindStream(server: String, stream: String, to position: UInt64) throws
}

extension KeyStateStore {
    /// How long an accepted chain id is remembered: as long as a share of it could be accepted.
    static func acceptedWindow(_ policy: PrekeyPolicy) -> TimeInterval {
        var limits = EndToEndSession.Limits()
        limits.prekeys = policy
        // A day beyond the session's own window: an id is never forgotten while it could be offered.
        return limits.acceptanceWindow + 86_400
    }
}

/// The state in memory: kept for the life of the process (reconnects, tests, benchmarks).
public final class InMemoryKeyStateStore: KeyStateStore, @unchecked Sendable {
    private let lock = NIOLock()
    private var states: [String: KeyState] = [:]

    public init() {}

    public func load(server: String, identity: IdentityKeys, policy: PrekeyPolicy, now: Date) throws -> KeyState {
        try lock.withLock {
            var state = states[server] ?? KeyState()
            let plan = policy.plan(state.prekeys.map(\.signed), now: now)
            state.prekeys.removeAll { plan.delete.contains($0.signed.id) }
            if plan.rotate { state.prekeys.append(try PrekeyPair.generate(now: now, identity: identity)) }
            let horizon = now.addingTimeInterval(-Self.acceptedWindow(policy))
            state.accepted.removeAll { Date(timeIntervalSince1970: Double($0.createdMillis) / 1000) < horizon }
            states[server] = state
            return state
        }
    }

    public func save(server: String, _ changes: KeyStateChanges, stream: String, through position: UInt64) throws {
        lock.withLock {
            var state = states[server] ?? KeyState()
            for removed in changes.removedChains {
                state.chains.removeAll { $0.sender == removed.sender && $0.chainID == removed.chainID }
            }
            for chain in changes.chains {
                if let i = state.chains.firstIndex(where: { $0.sender == chain.sender && $0.chainID == chain.chainID }) {
                    state.chains[i] = chain
                } else {
                    state.chains.append(chain)
                }
            }
            state.accepted += changes.accepted
            state.streams[stream] = max(state.streams[stream] ?? 0, position)
            states[server] = state
        }
    }

    public func rewindStream(server: String, stream: String, to position: UInt64) throws {
        lock.withLock {
            var state = states[server] ?? KeyState()
            state.streams[stream] = min(state.streams[stream] ?? 0, position)
            states[server] = state
        }
    }
}
