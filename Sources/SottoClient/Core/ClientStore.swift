import Foundation
import SottoCore

/// What a client keeps between runs: the servers it trusts and the people it has met. The
/// core reads and writes through it (functions over a store, as libsignal's are); the app's
/// store is files, tests keep one in memory.
public protocol ClientStore: AnyObject, Sendable {
    /// The fingerprint pinned for this address, if any.
    func pinnedServer(host: String, port: Int) -> String?
    func pinServer(host: String, port: Int, fingerprint: String) throws
    /// Pins a person's key on first sight; says how the key compares with the pin.
    func peerTrust(server: String, name: String, fingerprint: String) -> PeerTrust
    /// A person compared safety numbers: this key is theirs, verified. Kept at once.
    func markVerified(server: String, name: String, fingerprint: String) throws
    /// A name met before on this server that `name` reads as, but is not.
    func lookAlike(server: String, name: String) -> String?
    /// Why the store cannot be used (then the client refuses to connect), or nil.
    func problem() -> String?
    /// Writes what is still in memory.
    func flush()
}

/// The app's store: `known_servers` and `peers.json` in the config directory.
public final class FileClientStore: ClientStore {
    public let knownServers: KnownServers
    public let peerKeys: PeerKeys

    public init(knownServers: KnownServers, peerKeys: PeerKeys) {
        self.knownServers = knownServers
        self.peerKeys = peerKeys
    }

    public func pinnedServer(host: String, port: Int) -> String? { knownServers.fingerprint(host: host, port: port) }
    public func pinServer(host: String, port: Int, fingerprint: String) throws { try knownServers.pin(host: host, port: port, fingerprint: fingerprint) }
    public func peerTrust(server: String, name: String, fingerprint: String) -> PeerTrust { peerKeys.trust(server: server, name: name, fingerprint: fingerprint) }
    public func markVerified(server: String, name: String, fingerprint: String) throws { try peerKeys.markVerified(server: server, name: name, fingerprint: fingerprint) }
    public func lookAlike(server: String, name: String) -> String? { peerKeys.resembles(server: server, name: name) }
    public func problem() -> String? { knownServers.problem() ?? peerKeys.problem() }
    public func flush() { peerKeys.flush() }
}
