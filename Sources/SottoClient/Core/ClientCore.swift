import Foundation
import Logging
import SottoCore

/// Everything a Sotto client decides, with nothing of its own to decide it with: no
/// sockets, no threads, no files, no clock and no randomness. Inputs are what a person asked
/// for, what the connection reported and which timer fired (`handle(_:now:)`); outputs are
/// `Effect`s (records to write, connections to open or close, timers, events for the UI),
/// taken in order with `takeEffects()`. `ChatClient` is the NIO shell that moves them.
///
/// One connection at a time is current (`Phase`); inputs from any other are stale and
/// ignored. The concerns are composed, one type each: the `Outbox` (exactly once), the
/// `Roster` (who is online), the end-to-end session (keys, sealing, opening), the store
/// (trust), and the phase below (connection, login, reconnect).
public final class ClientCore {
    /// Where the connection stands. Each case carries what holds only in it.
    enum Phase {
        /// Nobody asked for a connection, or it was closed on purpose.
        case idle
        case connecting(connection: Int, Run)
        /// TCP is up, the handshake runs.
        case handshaking(connection: Int, Run, Handshake)
        case online(connection: Int, Run, Session)
        case waitingToReconnect(Run, attempt: Int, delay: Double)
        /// Needs a person (a password, a key, a name) or was not worth retrying.
        case failed(ClientFailure)

        var connection: Int? {
            switch self {
            case .connecting(let c, _), .handshaking(let c, _, _), .online(let c, _, _): return c
            case .idle, .waitingToReconnect, .failed: return nil
            }
        }
    }

    enum Handshake: Equatable {
        case awaitingHello
        /// The server's key is trusted; what this device keeps for it is being loaded.
        case awaitingKeyState(ServerHello, serverFingerprint: String, handshakeHash: [UInt8])
        /// The hello was heard and refused (its key, its hashing): the connection is closing.
        case refused
        /// The login went out in message 3; the welcome is awaited.
        case loginSent(Hello)

        var heardHello: Bool { self != .awaitingHello }
    }

    /// One wish to be connected: from `connect` until `disconnect` or a failure.
    struct Run: Equatable {
        /// A first login hung up on after the hello is tried once more (see `connectionEnded`).
        var loginRetried = false
        /// Connection attempts since the last time online.
        var reconnects = 0
    }

    /// What the server's hello established for this connection.
    struct Hello: Equatable {
        let serverFingerprint: String
        let maxBodyBytes: Int
        /// Chosen afresh for each login: tells members this device started a new session.
        let sessionNonce: [UInt8]
    }

    /// Logged in: what lives as long as this connection's session.
    final class Session {
        let hello: Hello
        let endToEnd: EndToEndSession
        /// One identity request at a time: its answer is bounded (≤ 256 bundles).
        var identityRequestInFlight = false
        /// The names of the request in flight, and those answered so far.
        var identitiesAsked: [String] = []
        var identitiesAnswered: Set<String> = []
        /// Our stream (`KeyState.streamKey`): stored on this device through `storedPosition`
        /// (what the server hands over again up to there is skipped), handled through
        /// `handledPosition`.
        let stream: String
        var storedPosition: UInt64
        var handledPosition: UInt64
        /// What waited for us has been handed over (`caughtUp`): from then on our own copy of
        /// a message this device did not send is the server's invention.
        var caughtUp = false
        /// The newest position handed over in this session: once caught up, each must be newer.
        var lastReceived: UInt64 = 0
        /// The first position handed over in this session that was skipped as stored already
        /// (new after all if the log went back).
        var firstSkipped: UInt64?
        /// The log was found behind this device in this session (said once a session).
        var wentBack = false
        /// A store of `handledPosition` is on its way (one at a time).
        var storing = false
        /// What the save in flight holds, put back if it fails.
        var saving: KeyStateChanges?
        /// The last save failed (its notice was shown).
        var saveFailing = false
        var checkpointScheduled = false
        /// When the prekey this session published was made (nil: none), and when to look
        /// again whether it is due for rotation.
        var prekeyCreated: Date?
        var prekeyCheck = Date.distantPast
        var rotatingPrekeys = false
        /// `/leave` was sent: the server's `removed` for us ends the session, and nothing
        /// reconnects (a new login would register the name again).
        var leaving = false

        init(hello: Hello, endToEnd: EndToEndSession, stream: String, storedPosition: UInt64) {
            self.hello = hello
            self.endToEnd = endToEnd
            self.stream = stream
            self.storedPosition = storedPosition
            handledPosition = storedPosition
        }
    }

    var configuration: ClientConfiguration
    let identity: ClientIdentity
    let store: ClientStore
    let random: ClientRandom
    var logger: Logger

    var phase = Phase.idle
    /// The state the UI was last told (derived from `phase`).
    var announcedState = ConnectionState.disconnected
    var connectionCount = 0
    /// Online at least once: from then on a transient loss reconnects.
    var hasBeenOnline = false
    /// `ClientNotice.clocksApart` was said this run.
    var saidClocksApart = false
    /// This run reconnected once to be handed again what a log that went back numbered anew
    /// (never more: a lying server cannot keep the client reconnecting).
    var reconnectedForLogWentBack = false
    var outbox = Outbox()
    var roster = Roster()
    var shown = ShownMessages()
    var passwordKeyCache: (salt: [UInt8], scrypt: ScryptParameters, key: [UInt8])?
    /// What this device keeps for the server being logged in to, from `.keyState` until the welcome.
    var loadedKeyState: KeyState?
    /// A server this device already knows (pinned, or vouched for by an invite): its keys are
    /// read while the connection is made, so the login follows the hello at once (read after
    /// the hello, they kept every login waiting for a hop to the key store's queue and back).
    /// `read` is nil while the read is under way.
    var keyStateAhead: (connection: Int, server: String, read: KeyStateRead?)?
    enum KeyStateRead { case loaded(KeyState), failed(String) }
    var writable = true
    var membershipChanged = false
    /// The person left the server (`/leave`) and has not asked to connect since.
    var hasLeft = false
    private var effects: [Effect] = []

    public init(configuration: ClientConfiguration, identity: ClientIdentity, store: ClientStore,
                random: ClientRandom = .system, logger: Logger = Logger(label: "sotto.client")) {
        self.configuration = configuration
        self.identity = identity
        self.store = store
        self.random = random
        self.logger = logger
    }

    /// What to do, in order, since the last call.
    public func takeEffects() -> [Effect] {
        defer { effects = [] }
        return effects
    }

    /// The next effect, for a shell that runs effects which may feed inputs back.
    public func nextEffect() -> Effect? {
        effects.isEmpty ? nil : effects.removeFirst()
    }

    func emit(_ effect: Effect) { effects.append(effect) }
    func emit(_ event: ClientEvent) { effects.append(.event(event)) }

    public var state: ConnectionState { announcedState }
    /// The connection inputs are taken from, if any.
    public var currentConnection: Int? { phase.connection }
    public var pendingCount: Int { outbox.count }
    /// Messages typed and not yet acknowledged, oldest first.
    public var unsent: [UnsentMessage] { outbox.unsent }
    /// The current end-to-end session, if online.
    public var endToEndSession: EndToEndSession? {
        if case .online(_, _, let session) = phase { return session.endToEnd }
        return nil
    }

    public func handle(_ input: Input, now: Date) {
        switch input {
        case .connect:
            guard phase.connection == nil else { return }  // already connected or on the way
            if let problem = store.problem() {
                emit(.cancel(.reconnect))
                return fail(.invalidSetting("Your pinned keys cannot be used: \(problem). Sotto does not start over silently, as that would forget every key you trusted or verified: fix the file, or move it away to start again."))
            }
            startRun()
        case .trust(let fingerprint):
            configuration.trust.vouched = fingerprint
            startRun()
        case .disconnect:
            disconnect()
        case .showIdentity(let name):
            showIdentity(of: name, now: now)
        case .verify(let name):
            verify(name, now: now)
        case .leave(let confirming):
            leave(confirming: confirming)
        case .send(let id, let to, let text):
            // Left for good, and not joined again: nothing is kept to go out at a new membership.
            if hasLeft, phase.connection == nil { return emit(.notice(.notSentAfterLeaving)) }
            outbox.enqueue(Outbox.Entry(id: id, to: to, text: Array(text.utf8)))
            emit(.queued(id: id, to: to, text: text))
            pump(now: now)
        case .connected(let connection):
            guard case .connecting(connection, let run) = phase else { return emit(.close(connection: connection)) }
            phase = .handshaking(connection: connection, run, .awaitingHello)
            writable = true
            announce()
        case .unreachable(let connection, let reason):
            guard phase.connection == connection else { return }
            connectionEnded(.unreachable(host: configuration.host, port: configuration.port, reason: reason), now: now)
        case .hello(let connection, let hello, let serverStatic, let hash):
            guard case .handshaking(connection, let run, .awaitingHello) = phase else { return }
            do {
                let fingerprint = try checkServer(hello, serverStatic: serverStatic)
                phase = .handshaking(connection: connection, run, .awaitingKeyState(hello, serverFingerprint: fingerprint, handshakeHash: hash))
                if let ahead = keyStateAhead, ahead.connection == connection, ahead.server == fingerprint {
                    keyStateAhead = nil
                    // Read already, or on its way (its answer logs in).
                    if let read = ahead.read { keyStateRead(read, on: connection) }
                } else {
                    keyStateAhead = nil
                    emit(.loadKeyState(connection: connection, server: fingerprint))
                }
            } catch {
                phase = .handshaking(connection: connection, run, .refused)
                emit(.abort(connection: connection, (error as? ClientFailure) ?? .protocolError("\(error)")))
            }
        case .keyState(let connection, let state):
            keyStateRead(.loaded(state), on: connection)
        case .keyStateFailed(let connection, let reason):
            keyStateRead(.failed(reason), on: connection)
        case .stored(let connection, let position):
            guard case .online(connection, _, let session) = phase else { return }
            stored(through: position, session: session, on: connection, now: now)
        case .storeFailed(let connection, let reason):
            guard case .online(connection, _, let session) = phase else { return }
            // Not confirmed: the server keeps it, and it is saved with the next. Said once
            // until a save succeeds (it is tried again every few seconds).
            if !session.saveFailing { emit(.notice(.keysNotSaved(reason))) }
            session.saveFailing = true
            storeFailed(session: session)
        case .prekeysRotated(let connection, let prekeys):
            guard case .online(connection, _, let session) = phase else { return }
            prekeysRotated(prekeys, session: session, on: connection, now: now)
        case .prekeysNotRotated(let connection, let reason):
            guard case .online(connection, _, let session) = phase else { return }
            session.rotatingPrekeys = false
            session.prekeyCheck = now.addingTimeInterval(Self.prekeyRetry)
            emit(.notice(.keysNotSaved(reason)))
        case .record(let connection, let record):
            guard phase.connection == connection else { return }
            received(record, on: connection, now: now)
        case .writable(let connection, let isWritable):
            guard phase.connection == connection else { return }
            writable = isWritable
            pump(now: now)
        case .closed(let connection, let failure):
            guard phase.connection == connection else { return }
            connectionEnded(failure, now: now)
        case .timer(let timer):
            fired(timer, now: now)
        }
    }

    /// The key store answered `loadKeyState`: the login goes (or the connection is given up),
    /// or, read ahead of the hello, it is kept for it.
    private func keyStateRead(_ read: KeyStateRead, on connection: Int) {
        if let ahead = keyStateAhead, ahead.connection == connection, phase.connection == connection {
            keyStateAhead?.read = read
            return
        }
        guard case .handshaking(connection, let run, .awaitingKeyState(let hello, let fingerprint, let hash)) = phase else { return }
        do {
            let state: KeyState
            switch read {
            case .loaded(let loaded): state = loaded
            case .failed(let reason): throw ClientFailure.invalidSetting("Sotto cannot open this device's key store: \(reason)")
            }
            let (facts, login) = try self.login(answering: hello, serverFingerprint: fingerprint, handshakeHash: hash,
                                                prekey: state.prekeys.last?.signed.encoded() ?? [])
            loadedKeyState = state
            phase = .handshaking(connection: connection, run, .loginSent(facts))
            emit(.sendLogin(connection: connection, login.encoded()))
        } catch {
            phase = .handshaking(connection: connection, run, .refused)
            emit(.abort(connection: connection, (error as? ClientFailure) ?? .protocolError("\(error)")))
        }
    }

    private func fired(_ timer: Timer, now: Date) {
        switch timer {
        case .reconnect:
            guard case .waitingToReconnect(let run, _, _) = phase else { return }
            open(run)
        case .expiry:
            guard case .online(let connection, _, let session) = phase else { return }
            process(session.endToEnd.expire(now: now), on: connection, now: now)
            rotatePrekeysIfDue(session, on: connection, now: now)
            emit(.schedule(.expiry, after: 1))
        case .pump:
            pump(now: now)
        case .membership:
            applyMembershipChange(now: now)
        case .checkpoint:
            guard case .online(let connection, _, let session) = phase else { return }
            session.checkpointScheduled = false
            checkpoint(session, on: connection)
        case .leaveAnswer:
            guard case .online(let connection, _, let session) = phase, session.leaving else { return }
            emit(.abort(connection: connection, .leaveUnconfirmed))
        }
    }
}

/// The client's randomness, injected: tests pass their own.
public struct ClientRandom: Sendable {
    public var bytes: @Sendable (Int) -> [UInt8]

    public init(bytes: @escaping @Sendable (Int) -> [UInt8]) { self.bytes = bytes }

    public static let system = ClientRandom { count in
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// A factor in 0.8…1.2 for backoff delays.
    func jitter() -> Double {
        let raw = bytes(2)
        let unit = Double(UInt16(raw[0]) << 8 | UInt16(raw.count > 1 ? raw[1] : 0)) / Double(UInt16.max)
        return 0.8 + 0.4 * unit
    }
}
