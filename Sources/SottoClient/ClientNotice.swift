import Foundation
import SottoCore

/// Something a person should be told, by kind: the window and sotto-cli choose how to show
/// it (a warning's colour, which conversation, JSON or text) from the kind, never from the
/// wording. `text` is the English sentence both use unless they say it their own way.
public enum ClientNotice: Equatable, Sendable {
    case joined(String)
    case left(String)
    /// A newcomer whose name reads as that of someone met here before.
    case lookAlike(name: String, resembles: String)
    /// The server listed a name a login would have refused; it was left out.
    case invalidListing(Username.Problem)
    /// The server relayed a message in your name that this device did not send.
    case forgedOwnMessage
    /// A known person now presents another identity key (possible impersonation).
    case keyChanged(name: String, previous: String, current: String)
    /// A member without a valid end-to-end identity: they can neither read nor send.
    case noValidIdentity(String)
    /// Messages from this sender whose keys never arrived in time.
    case undecryptable(from: String, count: Int)
    /// A message from this sender was refused by the end-to-end layer.
    case messageRejected(from: String, EndToEndError)
    case verified(name: String, fingerprint: String)
    case verificationNotSaved(name: String, reason: String)
    /// A request about someone who is not a member (online or away). Its JSON kind stays
    /// "not-online", as scripts know it.
    case notOnline(String)
    /// The first login was hung up on while the password key was derived: tried once more.
    case loginRetried
    case reconnecting(after: ClientFailure)
    /// A typed message that was not sent, and why.
    case notSent(NotSentReason)
    /// A non-fatal error record from the server.
    case server(ServerError)
    /// No longer a member of this server (the operator released the name).
    case removed(String)
    /// This device's end-to-end state could not be saved: what arrived is not confirmed.
    case keysNotSaved(String)
    /// Messages that waited on the server for us were removed by its retention first.
    case droppedWhileAway(count: UInt64)
    /// A member has no current prekey: what we send cannot reach them until they return.
    case noCurrentPrekey(String)
    /// You left the server (`/leave`) under this name: it is free now.
    case youLeft(String)
    /// `/leave` without your own name after it (`typed`: the name given instead, if any):
    /// nothing was done; this is how.
    case leaveNeedsName(String, typed: String? = nil)
    /// Typed after leaving the server: not sent (a new membership is the person's choice).
    case notSentAfterLeaving
    /// `/leave` while not connected: nothing was done.
    case leaveNeedsConnection
    /// The server's log went back behind what this device had received (restored from a
    /// backup, or it had lied about how far it was): what it numbers from there on is read
    /// as new (a replay of what was read before is still refused, by the end-to-end layer).
    case logWentBack
    /// This device's clock and the server's (its welcome's) are more than the clock skew
    /// apart: what this device dates (its keys, its messages) or judges by its clock (others'
    /// keys) goes wrong, silently until now (a newcomer's run: a day slow, every member read
    /// "away longer than their keys last" and nothing sent reached anyone).
    case clocksApart(seconds: Int, thisDeviceBehind: Bool)

    public enum NotSentReason: Equatable, Sendable {
        case tooLong(limit: Int)
        case unsealable(EndToEndError)
        case couldNotSeal(String)
    }

    /// Shown as a warning (colour, an error line in the CLI), not as a quiet line.
    public var isWarning: Bool {
        switch self {
        case .joined, .left, .removed, .verified, .loginRetried, .reconnecting, .youLeft: return false
        case .lookAlike, .invalidListing, .forgedOwnMessage, .keyChanged, .noValidIdentity, .undecryptable, .messageRejected,
             .verificationNotSaved, .notOnline, .notSent, .server, .droppedWhileAway, .noCurrentPrekey, .keysNotSaved,
             .leaveNeedsName, .leaveNeedsConnection, .notSentAfterLeaving, .logWentBack, .clocksApart: return true
        }
    }

    /// A stable name for the kind, for scripts (sotto-cli's JSON).
    public var kind: String {
        switch self {
        case .joined: return "joined"
        case .left: return "left"
        case .lookAlike: return "look-alike"
        case .invalidListing: return "invalid-listing"
        case .forgedOwnMessage: return "forged-own-message"
        case .keyChanged: return "key-changed"
        case .noValidIdentity: return "no-valid-identity"
        case .undecryptable: return "undecryptable"
        case .messageRejected: return "message-rejected"
        case .verified: return "verified"
        case .verificationNotSaved: return "verification-not-saved"
        case .notOnline: return "not-online"
        case .loginRetried: return "login-retried"
        case .reconnecting: return "reconnecting"
        case .notSent: return "not-sent"
        case .server: return "server"
        case .removed: return "removed"
        case .keysNotSaved: return "keys-not-saved"
        case .droppedWhileAway: return "dropped-while-away"
        case .noCurrentPrekey: return "no-current-prekey"
        case .youLeft: return "you-left"
        case .leaveNeedsName: return "leave-needs-name"
        case .notSentAfterLeaving: return "not-sent-after-leaving"
        case .leaveNeedsConnection: return "leave-needs-connection"
        case .logWentBack: return "log-went-back"
        case .clocksApart: return "clocks-apart"
        }
    }

    /// The person it is about, when it belongs in their conversation.
    public var person: String? {
        switch self {
        case .keyChanged(let name, _, _), .verified(let name, _), .verificationNotSaved(let name, _): return name
        default: return nil
        }
    }

    public var text: String {
        switch self {
        case .joined(let name): return "\(name) is online"
        case .left(let name): return "\(name) is away"
        case .lookAlike(let name, let other):
            return "WARNING: \(name) looks like \(other), whom you have met here before, but is a different name, and may be someone else passing for them. Compare safety numbers before you trust them."
        case .invalidListing(let problem):
            return "The server listed a member whose name is not allowed (\(problem)); it was left out. The server may be misbehaving."
        case .forgedOwnMessage:
            return "The server relayed a message in your name that this device did not send; it was not shown. The server may be misbehaving."
        case .keyChanged(let name, let previous, let current):
            return "WARNING: \(name)'s identity key changed (was \(previous), now \(current)). Their messages are marked unverified and yours are not sent to them until you accept the new key after comparing safety numbers."
        case .noValidIdentity(let name):
            return "\(name) has no valid end-to-end identity: they cannot read your messages and theirs are refused."
        case .undecryptable(let sender, let count):
            // Why, as far as this device can know (a newcomer's run: said with no reason, the
            // sender's clock a quarter of an hour slow).
            return (count == 1 ? "1 message from \(sender) could not be decrypted: the key to read it" : "\(count) messages from \(sender) could not be decrypted: the key to read them")
                + " never reached this device (lost on the way, or not sent to you: a clock set wrong on their device does that)."
        case .messageRejected(let sender, let error):
            return "Rejected a message from \(sender): \(error)."
        case .verified(let name, let fingerprint):
            return "You verified \(name) (\(fingerprint))."
        case .verificationNotSaved(let name, let reason):
            return "Could not save the verification of \(name): \(reason)"
        case .notOnline(let name):
            return "\(name) is not a member of this server."
        case .loginRetried:
            return "The server hung up while this device was still preparing the login (deriving the password key can take longer than the server waits); logging in again."
        case .reconnecting(let failure):
            return failure.description + " Reconnecting…"
        case .notSent(.tooLong(let limit)):
            return "Not sent: the message is too long for this server (its limit is \(limit) bytes, encrypted)."
        case .notSent(.unsealable(let error)):
            return "Not sent: \(error)."
        case .notSent(.couldNotSeal(let detail)):
            return "Not sent: \(detail)."
        case .server(let error):
            return error.text
        case .keysNotSaved(let reason):
            return "This device's keys could not be saved (\(reason)): what arrived is shown, and the server keeps it until they are (tried again in a few seconds)."
        case .removed(let name):
            return "\(name) is no longer a member of this server: what you send from now on will not reach them"
        case .droppedWhileAway(let count):
            return "\(count) \(count == 1 ? "message" : "messages") sent while you were away expired on the server before you came back (its retention) and cannot be shown."
        case .noCurrentPrekey(let name):
            return "\(name) has been away longer than their keys last (or uses an older client): what you send now cannot reach them until they log in again."
        case .youLeft(let name):
            return "You left this server: the name \(name) is free again, and messages waiting for you there were dropped. The history on this device stays (/forget clears a conversation). Joining again makes you a new member."
        case .leaveNeedsName(let name, let typed):
            let why = typed.map { "\($0) is not your name, so nothing was done." } ?? "Nothing was done."
            return "\(why) Leaving this server is for good: your name is freed for anyone to take and messages waiting for you are dropped. To do it, type /leave \(name)"
        case .notSentAfterLeaving:
            return "Not sent: you left this server. Join again to write here (as a new member)."
        case .leaveNeedsConnection:
            return "Nothing was done: you can leave a server only while connected to it."
        case .logWentBack:
            return "The server's message log is behind what this device had already received (was it restored from a backup?). What it sends from here on is shown; anything it sends again that was read before is refused as a replay."
        case .clocksApart(let seconds, let behind):
            return "This device's clock is \(Self.duration(seconds)) \(behind ? "behind" : "ahead of") the server's. One of them is set wrong: if it is this device's, set its date and time, as until then what you send may not reach the others (their keys look dated \(behind ? "in the future" : "too long ago") to it) and times look wrong."
        }
    }

    /// About how long, in the largest unit that fits: "about 3 hours", "about 1 day".
    static func duration(_ seconds: Int) -> String {
        let (value, unit): (Int, String) = switch seconds {
        case ..<3_600: (max(1, seconds / 60), "minute")
        case ..<86_400: (seconds / 3_600, "hour")
        default: (seconds / 86_400, "day")
        }
        return "about \(value) \(unit)\(value == 1 ? "" : "s")"
    }
}
