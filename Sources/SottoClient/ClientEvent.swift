import Foundation
import SottoCore

public enum ConnectionState: Equatable, Sendable {
    case disconnected
    case connecting
    case loggingIn
    case online
    /// Lost after having been online; trying again in `delay` seconds.
    case reconnecting(attempt: Int, delay: Double)
    case failed(ClientFailure)
}

/// Why a connection ended or never started, as one sentence for a person.
public enum ClientFailure: Error, Equatable, Sendable, CustomStringConvertible {
    case unreachable(host: String, port: Int, reason: String)
    case server(ServerError)
    case serverKeyChanged(host: String, port: Int, expected: String, actual: String)
    case serverKeyNotVouched(expected: String, actual: String)
    case serverKeyUnknown(host: String, port: Int, fingerprint: String)
    case closedDuringLogin
    case connectionLost
    case protocolError(String)
    case invalidSetting(String)
    /// `/leave` was sent and the connection closed before the server said it was done.
    case leaveUnconfirmed

    public var description: String {
        switch self {
        case .unreachable(let host, let port, let reason):
            return "Cannot reach a Sotto server at \(host):\(port) (\(reason)). Is the server running, and are host and port right?"
        case .server(let error):
            return error.text
        case .serverKeyChanged(let host, let port, let expected, let actual):
            return "WARNING: the server at \(host):\(port) presented a different key than before. Expected \(expected), got \(actual). Someone may be intercepting the connection; refusing to connect. If the server's key was really replaced, ask its operator for the new fingerprint."
        case .serverKeyNotVouched(let expected, let actual):
            return "WARNING: the server's key does not match the invite. Expected \(expected), got \(actual). Refusing to connect."
        case .serverKeyUnknown(let host, let port, let fingerprint):
            return "The server at \(host):\(port) is not known yet; its key fingerprint is \(fingerprint). Compare it with the one the server printed, then trust it (invite link, --trust or --trust-on-first-use)."
        case .closedDuringLogin:
            return "The server closed the connection during login (it may be full, or limiting connections from your address)."
        case .connectionLost:
            return "The connection to the server was lost."
        case .protocolError(let detail):
            return "The connection failed a security or protocol check (\(detail)); it was closed."
        case .invalidSetting(let detail):
            return detail
        case .leaveUnconfirmed:
            return "The connection closed before the server confirmed that you left, so your name may still be yours. Connecting again keeps you a member (or makes you one again); to leave, type /leave with your name once connected."

        }
    }

    /// Worth retrying automatically (the network), as opposed to needing a person (password, key, name).
    public var isTransient: Bool {
        switch self {
        case .unreachable, .connectionLost, .closedDuringLogin: return true
        case .server(let e): return [.shuttingDown, .idleTimeout, .tooSlow, .serverFull, .loginTimeout, .tooManyAttempts].contains(e.code)
        default: return false
        }
    }
}

public struct Member: Equatable, Sendable {
    public var name: String
    /// Fingerprint of the member's end-to-end identity (all three keys), or of their
    /// transport key when they have no valid identity.
    public var fingerprint: String
    /// nil: no valid end-to-end identity (they can neither read nor send to the room).
    public var trust: PeerTrust?
    public var isMe: Bool
    /// Online now; otherwise a member who is away (what is sent to them waits for them).
    public var online: Bool
    /// When an away member was last online, if the server knows.
    public var lastSeen: Date?

    public init(name: String, fingerprint: String, trust: PeerTrust? = nil, isMe: Bool = false, online: Bool = true, lastSeen: Date? = nil) {
        self.name = name
        self.fingerprint = fingerprint
        self.trust = trust
        self.isMe = isMe
        self.online = online
        self.lastSeen = lastSeen
    }

    public var isVerified: Bool { trust == .verified }
}

public struct ReceivedMessage: Equatable, Sendable {
    public var sequence: UInt64
    public var time: Date
    public var from: String
    /// Empty for the room; otherwise the recipient.
    public var to: String
    public var text: String
    public var isOwn: Bool
    public var clientMessageID: UInt64
    /// How the sender's identity stands: verified, unverified, or changed (a warning).
    public var trust: PeerTrust
    /// The sender's identity fingerprint when the message was opened ("" if not known).
    public var senderFingerprint: String
    /// When the server says it relayed the message, if that is more than two minutes away
    /// from `time` (the time its sender sealed in it: `ClientCore.timesApart`): a sender's clock set wrong, a member
    /// dating their message as they like, or a server lying. Shown beside it; nil when they agree.
    public var relayedAt: Date?

    public init(sequence: UInt64, time: Date, from: String, to: String, text: String, isOwn: Bool,
                clientMessageID: UInt64, trust: PeerTrust, senderFingerprint: String = "", relayedAt: Date? = nil) {
        self.sequence = sequence; self.time = time; self.from = from; self.to = to; self.text = text
        self.isOwn = isOwn; self.clientMessageID = clientMessageID; self.trust = trust; self.senderFingerprint = senderFingerprint
        self.relayedAt = relayedAt
    }

    public var isDirect: Bool { !to.isEmpty }
    /// The room, or the direct conversation with the other person (a member may be called
    /// "room": conversations are never told apart by a name).
    public var conversation: Conversation { isDirect ? .direct(isOwn ? to : from) : .room }
    /// Every message shown was decrypted end to end and its signature checked.
    public var encryption: String {
        if case .changed = trust { return "end-to-end, sender key changed" }
        return "end-to-end"
    }
}

public enum ClientEvent: Equatable, Sendable {
    case state(ConnectionState)
    /// Logged in under this name (normalized by the server).
    case welcome(name: String, serverFingerprint: String)
    case users([Member])
    /// What waited on the server for us has been handed over: what follows is live.
    case caughtUp
    case message(ReceivedMessage)
    /// Something to tell the person, by kind (`ClientNotice.text` says it in English).
    case notice(ClientNotice)
    /// Asked for with `showIdentity`: your fingerprint (name nil), or a member's with the
    /// safety number you share.
    case identity(name: String?, fingerprint: String, safetyNumber: String?)
    /// A message handed to `send` and its id; shown as pending until `delivered`.
    case queued(id: UInt64, to: String, text: String)
    case delivered(id: UInt64)
    /// The server refused a queued message (too large, recipient gone): it will not be retried.
    case rejected(id: UInt64)
}
