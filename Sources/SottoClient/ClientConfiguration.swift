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
    public func backoff(attempt: Int) -> Double {
        let raw = min(backoffMax, backoffBase * pow(2, Double(max(0, attempt - 1))))
        return raw * Double.random(in: 0.8...1.2)
    }
}
