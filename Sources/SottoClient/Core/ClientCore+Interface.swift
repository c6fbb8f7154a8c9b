import Foundation
import SottoCore

/// What goes into the core and what comes out of it.
extension ClientCore {
    public enum Input: Equatable {
        // From the person.
        case connect
        /// The person compared the server's fingerprint and trusts it: connect.
        case trust(fingerprint: String)
        case disconnect
        case send(id: UInt64, to: String, text: String)
        /// Your fingerprint (nil), or a member's with your safety number: an `.identity` event.
        case showIdentity(String?)
        /// The person compared safety numbers with this member: their key is verified.
        case verify(String)
        /// Leave the server for good (`/leave NAME`): goes only when `confirming` is the
        /// person's own name, typed to show they mean it.
        case leave(confirming: String?)
        // From the connection (each names the connection it is about).
        case connected(connection: Int)
        case unreachable(connection: Int, reason: String)
        /// The server's handshake message 2: its key and hello.
        case hello(connection: Int, ServerHello, serverStatic: [UInt8], handshakeHash: [UInt8])
        case record(connection: Int, ServerRecord)
        /// The socket can take writes again.
        case writable(connection: Int, Bool)
        /// The connection closed; the reason, when the shell knows one.
        case closed(connection: Int, ClientFailure?)
        /// What this device stored of earlier sessions with the server (`loadKeyState`); its
        /// prekeys rotated as `PrekeyPolicy` says.
        case keyState(connection: Int, KeyState)
        /// `loadKeyState` failed (the reason for the person): the login cannot go.
        case keyStateFailed(connection: Int, String)
        /// `storeKeyState` is on disk through this position of our stream.
        case stored(connection: Int, position: UInt64)
        /// `storeKeyState` failed (the reason for the person): nothing is confirmed.
        case storeFailed(connection: Int, String)
        /// `rotatePrekeys` is done: this device's prekeys now (a new one made and stored if due).
        case prekeysRotated(connection: Int, [PrekeyPair])
        /// `rotatePrekeys` failed (the reason for the person).
        case prekeysNotRotated(connection: Int, String)
        case timer(Timer)
    }

    public enum Timer: Hashable, Sendable {
        /// The next connection attempt after a loss.
        case reconnect
        /// Once a second while online: the end-to-end layer renews old chains.
        case expiry
        /// At once, after what is being handled: the next slice of the outbox.
        case pump
        /// At once, after what is being handled: a burst of presence records is applied once.
        case membership
        /// Shortly after records of our stream arrived: what they changed is stored, then confirmed.
        case checkpoint
        /// `/leave` went out and the server has not said it is done: the session is given up.
        case leaveAnswer
    }

    public enum Effect: Equatable {
        /// Open connection `connection` (a Noise XX handshake as initiator, then message 1).
        case open(connection: Int, host: String, port: Int)
        /// Handshake message 3's payload: the login.
        case sendLogin(connection: Int, [UInt8])
        /// One encoded `ClientRecord`, not yet flushed.
        case write(connection: Int, [UInt8])
        case flush(connection: Int)
        case close(connection: Int)
        /// Close, reporting this reason when it has closed.
        case abort(connection: Int, ClientFailure)
        /// Load what this device keeps for this server (rotating its prekeys), off the
        /// network thread; answer with `.keyState`.
        case loadKeyState(connection: Int, server: String)
        /// Store these changes, and that our stream is handled through `through`, after
        /// everything handed to the UI before it (the history); answer with `.stored`.
        case storeKeyState(connection: Int, server: String, KeyStateChanges, stream: String, through: UInt64)
        /// Our stream's position, lower (`KeyStateStore.rewindStream`): after the saves before
        /// it, before any load after it. Nothing answers.
        case rewindStream(server: String, stream: String, to: UInt64)
        /// A session that outlived the prekey rotation period: rotate as at a login (a new
        /// prekey stored before it is published, those past their grace deleted); answer
        /// with `.prekeysRotated`.
        case rotatePrekeys(connection: Int, server: String)
        case schedule(Timer, after: Double)
        case cancel(Timer)
        case event(ClientEvent)
    }
}
