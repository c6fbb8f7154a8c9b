import Foundation
import SottoCore

public struct ClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String
    public var trust: TrustPolicy
    /// Reconnect with backoff after a connection that was online is lost.
    public var reconnect: Bool
    public var connectTimeout: Double = 5
    /// Keepalive: a ping after this long without sending, a dead server after this long without receiving.
    public var pingInterval: Double = 20
    public var deadAfter: Double = 60
    public var backoffBase: Double = 0.5
    public var backoffMax: Double = 30
    /// The cheapest password hashing accepted from a server. Only tests and benchmarks,
    /// whose servers use `ScryptParameters.testing`, lower it.
    public var minimumPasswordHashing = ScryptParameters.floor
    /// When this device makes a new prekey (at a login, and during a session that lasts
    /// longer), and how long it keeps replaced ones.
    public var prekeyPolicy = PrekeyPolicy()
    /// Password keys shared between clients of one process (the benchmark's many clients
    /// derive the scrypt key once, as one person's client does across reconnects).
    public var sharedPasswordKeys: PasswordKeyCache?
    /// Load generators only: sees each message relayed from someone else before it is
    /// opened; returning false skips opening it. A "transport-only" member counts and
    /// timestamps what the server delivered without the end-to-end cost of reading it
    /// (an Ed25519 verification each), so a benchmark measures the server, not itself.
    public var relayedMessageTap: (@Sendable (ChatMessage) -> Bool)?

    public init(host: String, port: Int, username: String, password: String, trust: TrustPolicy = TrustPolicy(), reconnect: Bool = true) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.trust = trust
        self.reconnect = reconnect
    }

    /// The delay before reconnect attempt `n` (1-based): doubling, capped, with ±20 % jitter
    /// so a restarted server is not hit by every client in the same millisecond.
    public func backoff(attempt: Int, jitter: Double = Double.random(in: 0.8...1.2)) -> Double {
        let raw = min(backoffMax, backoffBase * pow(2, Double(max(0, min(attempt, 64) - 1))))
        return raw * min(1.2, max(0.8, jitter))
    }
}

/// scrypt results by (password, salt, parameters), shared between clients in one process.
public final class PasswordKeyCache: @unchecked Sendable {
    private let lock = NSLock()
    private var keys: [String: [UInt8]] = [:]

    public init() {}

    private static func name(_ salt: [UInt8], _ s: ScryptParameters, _ password: String) -> String {
        "\(salt)|\(s.log2N)|\(s.r)|\(s.p)|\(password)"
    }

    func key(salt: [UInt8], scrypt: ScryptParameters, password: String) -> [UInt8]? {
        lock.withLock { keys[Self.name(salt, scrypt, password)] }
    }

    func store(_ key: [UInt8], salt: [UInt8], scrypt: ScryptParameters, password: String) {
        lock.withLock { keys[Self.name(salt, scrypt, password)] = key }
    }
}
