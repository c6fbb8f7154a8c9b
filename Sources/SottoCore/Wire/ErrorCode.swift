/// Why the server refused something. The client shows `explanation` to the person.
public enum ErrorCode: UInt16, Sendable, CaseIterable {
    case wrongPassword = 1
    case nameTaken = 2
    case invalidName = 3
    case tooManyAttempts = 4
    case serverFull = 5
    case protocolViolation = 6
    case tooSlow = 7
    case messageTooLarge = 8
    case idleTimeout = 9
    case shuttingDown = 10
    case unsupportedVersion = 11
    case replaced = 12
    case unknownRecipient = 13
    case loginTimeout = 14
    case invalidIdentity = 15
    case other = 0xffff

    public var explanation: String {
        switch self {
        case .wrongPassword: return "Wrong server password."
        case .nameTaken: return "That username is already in use on this server."
        case .invalidName: return "That username is not allowed: use 1–32 visible characters."
        case .tooManyAttempts: return "Too many failed logins from your address; wait a moment and try again."
        case .serverFull: return "The server is full; try again later."
        case .protocolViolation: return "The server closed the connection after a protocol error."
        case .tooSlow: return "The server disconnected this client because it was not reading its messages."
        case .messageTooLarge: return "That message is larger than the server accepts."
        case .idleTimeout: return "The connection was idle for too long."
        case .shuttingDown: return "The server is shutting down."
        case .unsupportedVersion: return "This client and the server speak different protocol versions; update Sotto."
        case .replaced: return "You logged in again from this device; this older session was closed."
        case .unknownRecipient: return "That person is not a member of this server."
        case .loginTimeout: return "The login took too long."
        case .invalidIdentity: return "The server refused this client's end-to-end identity (malformed, badly signed, or not bound to its device key)."
        case .other: return "The server reported an error."
        }
    }
}
