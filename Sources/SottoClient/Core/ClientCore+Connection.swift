import Foundation
import SottoCore

/// The connection's life: connecting, logging in, online, lost and reconnecting, failed.
extension ClientCore {
    /// Tells the UI when the state it shows changed.
    func announce() {
        let state: ConnectionState
        switch phase {
        case .idle: state = .disconnected
        case .connecting: state = .connecting
        case .handshaking: state = .loggingIn
        case .online: state = .online
        case .waitingToReconnect(_, let attempt, let delay): state = .reconnecting(attempt: attempt, delay: delay)
        case .failed(let failure): state = .failed(failure)
        }
        guard state != announcedState else { return }
        announcedState = state
        emit(.state(state))
    }

    func startRun() {
        // Connecting again after a leave (however it was asked for) is a new membership.
        hasLeft = false
        switch phase {
        case .connecting, .handshaking, .online: return  // already connected or on the way
        case .idle, .waitingToReconnect, .failed:
            open(Run())
        }
    }

    func open(_ run: Run) {
        emit(.cancel(.reconnect))
        connectionCount += 1
        phase = .connecting(connection: connectionCount, run)
        announce()
        emit(.open(connection: connectionCount, host: configuration.host, port: configuration.port))
        // A server this device knows: its keys are read while connecting (`keyStateAhead`).
        // Any other answers the hello only if it proves to be the same server.
        keyStateAhead = nil
        if let expected = store.pinnedServer(host: configuration.host, port: configuration.port) ?? configuration.trust.vouched {
            keyStateAhead = (connectionCount, expected, nil)
            emit(.loadKeyState(connection: connectionCount, server: expected))
        }
    }

    func fail(_ failure: ClientFailure) {
        phase = .failed(failure)
        announce()
    }

    /// Says goodbye when online, and closes; nothing reconnects.
    func disconnect() {
        emit(.cancel(.reconnect))
        switch phase {
        case .online(let connection, _, let session):
            // What was handled and not yet stored is stored now, not at a checkpoint that will
            // not come: the next login then skips what the server hands over again (closed
            // within the checkpoint's 50 ms, the window showed those messages twice).
            checkpoint(session, on: connection)
            emit(.write(connection: connection, ClientRecord.bye.encoded()))
            emit(.flush(connection: connection))
            emit(.close(connection: connection))
            // Written and not acknowledged: asked about before sealing them again next time.
            outbox.closedOnPurpose()
            endSession(wasOnline: true)
        case .connecting(let connection, _), .handshaking(let connection, _, _):
            emit(.close(connection: connection))
        case .idle, .waitingToReconnect, .failed:
            break
        }
        phase = .idle
        announce()
    }

    /// Ends this session and logs in again at once (the server hands over again what it
    /// holds past our confirmed position): after the log went back.
    func reconnectNow(now: Date) {
        guard case .online(let connection, let run, _) = phase else { return }
        emit(.write(connection: connection, ClientRecord.bye.encoded()))
        emit(.flush(connection: connection))
        emit(.close(connection: connection))
        outbox.closedOnPurpose()
        endSession(wasOnline: true, clearList: false)
        open(run)
    }

    /// What ends with a session, whatever ends it. `clearList`: the UI's member list is
    /// emptied (a reconnect keeps it on screen, as last known, until the next list).
    func endSession(wasOnline: Bool, clearList: Bool = true) {
        emit(.cancel(.expiry))
        if clearList, wasOnline, !roster.users.isEmpty { emit(.users([])) }
        roster.clear()
    }

    /// The end of one connection attempt or session: reconnect, or report and stop.
    func connectionEnded(_ reported: ClientFailure?, now: Date) {
        let run: Run, heardHello: Bool, wasOnline: Bool
        switch phase {
        case .connecting(_, let r): (run, heardHello, wasOnline) = (r, false, false)
        case .handshaking(_, let r, let handshake): (run, heardHello, wasOnline) = (r, handshake.heardHello, false)
        case .online(_, let r, let session):
            // Asked to leave and not told it happened: a new login would register the name again.
            if session.leaving {
                outbox.closedOnPurpose()
                endSession(wasOnline: true)
                return fail(.leaveUnconfirmed)
            }
            (run, heardHello, wasOnline) = (r, true, true)
        case .idle, .waitingToReconnect, .failed: return
        }
        let failure = reported ?? (wasOnline ? .connectionLost : .closedDuringLogin)
        outbox.connectionLost()
        endSession(wasOnline: wasOnline, clearList: false)
        // The server waits 10 s for a login; on a slow or busy machine, deriving the password
        // key the first time can take longer, and the server hangs up before reading it. The
        // key is kept now, so one more attempt is quick.
        if !hasBeenOnline, heardHello, !run.loginRetried, failure == .closedDuringLogin {
            var again = run
            again.loginRetried = true
            emit(.notice(.loginRetried))
            return open(again)
        }
        if hasBeenOnline, configuration.reconnect, failure.isTransient {
            var again = run
            again.reconnects += 1
            let delay = configuration.backoff(attempt: again.reconnects, jitter: random.jitter())
            if wasOnline { emit(.notice(.reconnecting(after: failure))) }
            phase = .waitingToReconnect(again, attempt: again.reconnects, delay: delay)
            announce()
            emit(.schedule(.reconnect, after: delay))
        } else {
            if wasOnline { emit(.users([])) }
            fail(failure)
        }
    }

    /// Logged in: the session starts.
    func loggedIn(as name: String, log: [UInt8], on connection: Int, now: Date) {
        guard case .handshaking(connection, var run, .loginSent(let hello)) = phase else { return }
        hasBeenOnline = true
        run.reconnects = 0
        configuration.username = name
        let store = self.store, server = hello.serverFingerprint
        let keyState = loadedKeyState ?? KeyState()
        loadedKeyState = nil
        let endToEnd = EndToEndSession(me: name, identity: identity.keys, restored: keyState) { peer, fingerprint in
            store.peerTrust(server: server, name: peer, fingerprint: fingerprint)
        }
        let stream = KeyState.streamKey(log: log, name: name)
        let session = Session(hello: hello, endToEnd: endToEnd, stream: stream, storedPosition: keyState.streams[stream] ?? 0)
        session.prekeyCreated = keyState.prekeys.map(\.signed.created).max()
        phase = .online(connection: connection, run, session)
        let ask = outbox.loggedIn(limit: WireLimits.maxRelayedQuery)
        if !ask.isEmpty {
            emit(.write(connection: connection, ClientRecord.relayedQuery(ask).encoded()))
            emit(.flush(connection: connection))
        }
        emit(.schedule(.expiry, after: 1))
        announce()
        emit(.welcome(name: name, serverFingerprint: server))
    }
}
