import Foundation
import SottoCore

/// The login, and what the server's records do to the client.
extension ClientCore {
    /// Message 2 arrived: is this the server we mean? Its fingerprint if so.
    func checkServer(_ hello: ServerHello, serverStatic: [UInt8]) throws -> String {
        let fingerprint = Fingerprint.of(publicKey: serverStatic)
        let host = configuration.host, port = configuration.port
        switch configuration.trust.decide(pinned: store.pinnedServer(host: host, port: port), actual: fingerprint) {
        case .trusted(let pinNow):
            if pinNow {
                do { try store.pinServer(host: host, port: port, fingerprint: fingerprint) } catch {
                    logger.warning("could not save known server", metadata: ["error": "\(error)"])
                }
            }
        case .changed(let expected, let actual):
            throw ClientFailure.serverKeyChanged(host: host, port: port, expected: expected, actual: actual)
        case .notVouched(let expected, let actual):
            throw ClientFailure.serverKeyNotVouched(expected: expected, actual: actual)
        case .unknown(let actual):
            throw ClientFailure.serverKeyUnknown(host: host, port: port, fingerprint: actual)
        }
        return fingerprint
    }

    /// The login for message 3, once the server is trusted and this device's keys for it are loaded.
    func login(answering hello: ServerHello, serverFingerprint fingerprint: String, handshakeHash: [UInt8], prekey: [UInt8]) throws -> (Hello, LoginRequest) {
        guard hello.scrypt.isAtLeast(configuration.minimumPasswordHashing) else {
            throw ClientFailure.protocolError("the server asks for password hashing weaker than this client accepts (scrypt N=2^\(hello.scrypt.log2N), r=\(hello.scrypt.r), p=\(hello.scrypt.p))")
        }
        let key = try passwordKey(salt: hello.passwordSalt, scrypt: hello.scrypt)
        let facts = Hello(serverFingerprint: fingerprint, maxBodyBytes: Int(hello.maxBodyBytes),
                          sessionNonce: random.bytes(WireLimits.sessionNonceLength))
        let login = LoginRequest(username: configuration.username, proof: PasswordKey.proof(key: key, handshakeHash: handshakeHash),
                                 identity: identity.keys.encodedBundle, sessionNonce: facts.sessionNonce, prekey: prekey)
        return (facts, login)
    }

    /// scrypt once per (salt, parameters): reconnects and the login retry reuse it.
    private func passwordKey(salt: [UInt8], scrypt: ScryptParameters) throws -> [UInt8] {
        if let cached = passwordKeyCache, cached.salt == salt, cached.scrypt == scrypt { return cached.key }
        let password = configuration.password
        let key: [UInt8]
        if let shared = configuration.sharedPasswordKeys?.key(salt: salt, scrypt: scrypt, password: password) {
            key = shared
        } else {
            key = try PasswordKey.derive(password: password, salt: salt, parameters: scrypt)
            configuration.sharedPasswordKeys?.store(key, salt: salt, scrypt: scrypt, password: password)
        }
        passwordKeyCache = (salt, scrypt, key)
        return key
    }

    func received(_ record: ServerRecord, on connection: Int, now: Date) {
        switch record {
        case .welcome(let name, let time, let log):
            // The name we logged in with, exactly as a server makes it (normalised), and no
            // other: a lying server's welcome became our name (the sender of what we keep, how
            // we read others' messages), unchecked, with controls and bidi overrides in it. Not
            // a case or look-alike variant either (a review: rn for m, ALICE for alice).
            guard case .success(let welcomed) = Username.validate(listed: name), let asked = try? Username(configuration.username),
                  welcomed.display.utf8.elementsEqual(asked.display.utf8) else {
                return emit(.abort(connection: connection, .protocolError("the server welcomed this client under another name than the one it logged in with")))
            }
            loggedIn(as: welcomed.display, log: log, on: connection, now: now)
            compareClocks(serverMillis: time, now: now)
        case .users(let part, let final):
            guard case .online = phase else { return }
            let notices: [Roster.Notice]
            do { notices = try roster.receiveListPart(part, final: final) } catch {
                return emit(.abort(connection: connection, .protocolError("the server's online list has more than \(WireLimits.maxListedMembers) members")))
            }
            tell(notices)
            if final {
                for name in roster.users.keys.sorted() where name != configuration.username { warnIfLookAlike(name) }
                noteMembershipChange()
                pump(now: now)
            }
        case .presence(let presence):
            guard case .online(_, _, let session) = phase else { return }
            if presence.event == .removed, presence.user.name == configuration.username {
                // Ours only ends a session that asked to leave; anything else is the server's invention.
                if session.leaving { left(session: session, on: connection) }
                return
            }
            if presence.event == .newPrekey {
                // Fetched again when we next seal to them (the old one stays usable meanwhile).
                session.endToEnd.prekeyReplaced(by: presence.user.name)
                return
            }
            if presence.event == .removed {
                let (changed, notices) = roster.receiveRemoval(presence.user, me: configuration.username)
                tell(notices)
                if changed { noteMembershipChange() }
                return
            }
            guard let (changed, notices) = try? roster.receivePresence(presence.user, joined: presence.event == .joined, me: configuration.username) else {
                return emit(.abort(connection: connection, .protocolError("the server's online list has more than \(WireLimits.maxListedMembers) members")))
            }
            tell(notices)
            if changed { noteMembershipChange() }
        case .message(let m):
            guard case .online(_, _, let session) = phase else { return }
            received(m.sequence, session: session)
            // Handed over again after a confirmation that was lost: its effects are stored.
            guard m.sequence > session.storedPosition else { return skipped(m.sequence, session: session) }
            defer { handled(m.sequence, session: session) }
            if m.from == configuration.username {
                showOwnCopy(m, session: session, now: now)
            } else if let tap = configuration.relayedMessageTap, !tap(m) {
                return
            } else {
                applyMembershipChange(now: now)
                process(session.endToEnd.open(m, now: now), on: connection, now: now)
            }
        case .keyShare(let from, let payload, let position):
            guard case .online(_, _, let session) = phase else { return }
            received(position, session: session)
            guard position > session.storedPosition else { return skipped(position, session: session) }
            applyMembershipChange(now: now)
            process(session.endToEnd.receiveKeyShare(from: from, payload: payload, now: now), on: connection, now: now)
            handled(position, session: session)
        case .caughtUp(let position, let dropped):
            guard case .online(_, _, let session) = phase else { return }
            if dropped > 0 { emit(.notice(.droppedWhileAway(count: dropped))) }
            if position < session.storedPosition {
                // Everything is handed over, and it ends before what we had stored: the log
                // went back. What it handed over as if stored already was new; the next
                // login (at once, once a run) hands it over again.
                let skippedFrom = session.firstSkipped
                wentBack(to: min(position, (skippedFrom ?? position &+ 1) &- 1), session: session)
                if skippedFrom != nil, !reconnectedForLogWentBack {
                    reconnectedForLogWentBack = true
                    return reconnectNow(now: now)
                }
            }
            session.lastReceived = max(session.lastReceived, position)
            if position > session.storedPosition { handled(position, session: session) }
            session.caughtUp = true
            emit(.caughtUp)
        case .relayed(let ids):
            for report in outbox.relayedAnswer(ids) { tell(report) }
            pump(now: now)
        case .identities(let entries, let final):
            guard case .online(_, _, let session) = phase else { return }
            applyMembershipChange(now: now)
            var answered = entries
            if final {
                // A name asked for and not answered is answered "no identity": a server that
                // leaves names out must not make the client ask again and again.
                let named = Set(entries.map(\.name)).union(session.identitiesAnswered)
                answered += session.identitiesAsked.filter { !named.contains($0) }.map { IdentityEntry(name: $0, bundle: []) }
                session.identitiesAsked = []
                session.identitiesAnswered = []
            } else {
                session.identitiesAnswered.formUnion(entries.map(\.name))
            }
            process(session.endToEnd.receiveIdentities(answered, now: now), on: connection, now: now)
            if final {
                session.identityRequestInFlight = false
                pump(now: now)
            }
        case .ack(let id, let sequence):
            if let report = outbox.acknowledged(id: id, sequence: sequence) { tell(report) }
        case .error(let error):
            emit(.notice(.server(error)))
        case .pong:
            break
        }
    }

    /// Our own copy, in server order: we know what we wrote, and to whom (its key is already
    /// gone). One this device did not send is the server's invention (no other session of
    /// ours can be online with our name): not shown.
    private func showOwnCopy(_ m: ChatMessage, session: Session, now: Date) {
        guard let entry = outbox.entries.first(where: { $0.id == m.clientMessageID }) else {
            // What this device sent before it last quit, handed over with what waited: its
            // key is gone with that run (its text is in the history, if kept).
            guard session.caughtUp else { return }
            logger.notice("ignored a message in our name that this device did not send")
            return emit(.notice(.forgedOwnMessage))
        }
        guard shown.insert(from: m.from, id: m.clientMessageID) else { return }
        var copy = m
        copy.to = entry.to
        emit(.message(received(copy, text: String(decoding: entry.text, as: UTF8.self), trust: .verified, senderFingerprint: identity.fingerprint,
                               sentMillis: entry.sentMillis, now: now)))
    }

    /// Said once a run when this device's clock and the server's are more than the clock skew
    /// apart at a login (a server's word, so said as a difference, not as this clock wrong).
    func compareClocks(serverMillis: UInt64, now: Date) {
        guard !saidClocksApart, serverMillis > 0 else { return }
        let mine = KeyShare.Chain.millis(now)
        let apart = mine > serverMillis ? mine - serverMillis : serverMillis - mine
        guard Double(apart) > Self.clockSkew * 1000 else { return }
        saidClocksApart = true
        emit(.notice(.clocksApart(seconds: Int(min(apart / 1000, UInt64(Int32.max))), thisDeviceBehind: mine < serverMillis)))
    }

    /// How far a clock may be ahead (the end-to-end layer's limit, one owner).
    static let clockSkew = EndToEndSession.Limits().clockSkew

    /// How far the sealed time and the server's may be apart before both are shown: clocks
    /// kept by NTP agree within seconds, and a message is sealed just before it is sent (a
    /// newcomer's run: a sender 8 minutes fast, within the 10 minutes a time may be ahead,
    /// showed "02:52" between two "02:44" lines without a word).
    static let timesApart: TimeInterval = 120

    /// A message as shown. Its time is the one its sender sealed in it (`sentMillis`), which
    /// the relay cannot change; the server's (`m.time`) only for a version-1 envelope, or one
    /// sealed more than the clock skew ahead of this device's clock (`now`; a sender's clock
    /// fast, or a lie). Where the two differ by more than `timesApart`, the server's is kept
    /// beside it (`relayedAt`): honest clocks agree within it, as the server stamps a message as
    /// it comes in, so a member backdating their words is shown so (an attacker's review). No
    /// time shown is more than the skew ahead of this device's clock, nor past year 9999.
    func received(_ m: ChatMessage, text: String, trust: PeerTrust, senderFingerprint: String, sentMillis: UInt64?, now: Date) -> ReceivedMessage {
        let apartMillis = UInt64(Self.timesApart * 1000)
        let latest = min(KeyShare.Chain.millis(now.addingTimeInterval(Self.clockSkew)), 253_402_300_799_000)
        let relayed = min(m.time, latest)
        var shown = relayed, relayedAt: Date?
        if let sealed = sentMillis, sealed <= latest {
            shown = sealed
            let apart = sealed > relayed ? sealed - relayed : relayed - sealed
            // A server's time in the future is no evidence of anything: not shown.
            if apart > apartMillis, m.time <= latest { relayedAt = Date(timeIntervalSince1970: Double(relayed) / 1000) }
        }
        return ReceivedMessage(sequence: m.sequence, time: Date(timeIntervalSince1970: Double(shown) / 1000), from: m.from, to: m.to,
                               text: text, isOwn: m.from == configuration.username, clientMessageID: m.clientMessageID, trust: trust,
                               senderFingerprint: senderFingerprint, relayedAt: relayedAt)
    }

    private func tell(_ notices: [Roster.Notice]) {
        for notice in notices {
            switch notice {
            case .invalidListing(let problem):
                emit(.notice(.invalidListing(problem)))
            case .joined(let name):
                emit(.notice(.joined(name)))
                warnIfLookAlike(name)
            case .left(let name):
                emit(.notice(.left(name)))
            case .removed(let name):
                emit(.notice(.removed(name)))
            }
        }
    }

    func tell(_ report: Outbox.Report) {
        switch report {
        case .delivered(let id): emit(.delivered(id: id))
        case .rejected(let id): emit(.rejected(id: id))
        }
    }

    /// A newcomer whose name reads as that of someone met before (their skeletons match, the
    /// names do not) is pointed out: the server keeps such names apart only while both are online.
    private func warnIfLookAlike(_ name: String) {
        guard case .online(_, _, let session) = phase,
              let other = store.lookAlike(server: session.hello.serverFingerprint, name: name) else { return }
        emit(.notice(.lookAlike(name: name, resembles: other)))
    }

    // MARK: Our stream, stored and confirmed

    /// A position handed over: once caught up, each is newer than the last (the log is in
    /// order); one that is not means the log went back (restored from a backup, or a server
    /// that had claimed a position far ahead): read from it on, not skipped without a word.
    func received(_ position: UInt64, session: Session) {
        if session.caughtUp, position <= session.lastReceived, position <= session.storedPosition {
            wentBack(to: position == 0 ? 0 : position - 1, session: session)
        }
        session.lastReceived = max(session.lastReceived, position)
    }

    /// Handed over, and stored already: the first such is remembered (new after all if the log went back).
    func skipped(_ position: UInt64, session: Session) {
        if session.firstSkipped == nil { session.firstSkipped = position }
    }

    /// Our stream starts again at `position`, lower than stored: said once a session, and
    /// stored (`rewindStream`), or every later login would skip what comes until then.
    func wentBack(to position: UInt64, session: Session) {
        guard position < session.storedPosition || position < session.handledPosition else { return }
        session.storedPosition = min(session.storedPosition, position)
        session.handledPosition = min(session.handledPosition, position)
        session.firstSkipped = nil
        emit(.rewindStream(server: session.hello.serverFingerprint, stream: session.stream, to: position))
        if !session.wentBack {
            session.wentBack = true
            emit(.notice(.logWentBack))
        }
    }

    /// A record of our stream was handled: what it changed is stored shortly (records that
    /// arrive together are stored together), then confirmed to the server.
    func handled(_ position: UInt64, session: Session) {
        session.handledPosition = max(session.handledPosition, position)
        guard !session.checkpointScheduled else { return }
        session.checkpointScheduled = true
        emit(.schedule(.checkpoint, after: Self.checkpointDelay))
    }

    /// Records arriving within this long are stored in one transaction.
    static let checkpointDelay = 0.05

    func checkpoint(_ session: Session, on connection: Int) {
        guard !session.storing, session.handledPosition > session.storedPosition else { return }
        session.storing = true
        let changes = session.endToEnd.takeChanges()
        session.saving = changes
        emit(.storeKeyState(connection: connection, server: session.hello.serverFingerprint, changes,
                            stream: session.stream, through: session.handledPosition))
    }

    /// A save failed: what it held is saved with the next, so no later save confirms past
    /// changes that were never stored (after a restart, the server could hand those messages
    /// over again and they would be read again). Tried again after a moment.
    func storeFailed(session: Session) {
        session.storing = false
        if let failed = session.saving { session.endToEnd.restoreChanges(failed) }
        session.saving = nil
        guard !session.checkpointScheduled else { return }
        session.checkpointScheduled = true
        emit(.schedule(.checkpoint, after: Self.storeRetryDelay))
    }

    /// After a failed save (a full disk, a busy database), the next try.
    static let storeRetryDelay = 5.0

    func stored(through position: UInt64, session: Session, on connection: Int, now: Date) {
        session.storing = false
        session.saving = nil
        session.saveFailing = false
        // Not past what was handled: a save from before the log went back (`wentBack`) would
        // put the position back where it was.
        guard position > session.storedPosition, position <= session.handledPosition else { return }
        session.storedPosition = position
        emit(.write(connection: connection, ClientRecord.confirm(position).encoded()))
        emit(.flush(connection: connection))
        // More arrived while that was stored.
        if session.handledPosition > position, !session.checkpointScheduled {
            session.checkpointScheduled = true
            emit(.schedule(.checkpoint, after: Self.checkpointDelay))
        }
    }

    // MARK: Membership

    /// A burst of presence records (a hundred people arriving at once) is applied once, after
    /// what brought it, or before anything that depends on the member list.
    func noteMembershipChange() {
        guard !membershipChanged else { return }
        membershipChanged = true
        emit(.schedule(.membership, after: 0))
    }

    func applyMembershipChange(now: Date) {
        guard membershipChanged else { return }
        membershipChanged = false
        membersChanged(now: now)
    }

    /// The online list changed: let the end-to-end layer share or renew chains, then show it.
    private func membersChanged(now: Date) {
        guard case .online(let connection, _, let session) = phase else { return }
        let endToEnd = session.endToEnd
        let changed = roster.takeChanges()
        // Only the names that changed are looked at, unless the whole list was replaced.
        if let changed {
            process(endToEnd.updateMembers(changes: changed.map { ($0, roster.users[$0]) }, now: now), on: connection, now: now)
        } else {
            process(endToEnd.updateMembers(Array(roster.users.values), now: now), on: connection, now: now)
        }
        publishUsers()
    }

    func publishUsers() {
        let members = endToEndSession?.members ?? [:]
        emit(.users(roster.sorted.map { user in
            if user.name == configuration.username {
                return Member(name: user.name, fingerprint: identity.fingerprint, trust: .verified, isMe: true)
            }
            let lastSeen = user.lastSeen == 0 ? nil : Date(timeIntervalSince1970: Double(min(user.lastSeen, 253_402_300_799_000)) / 1000)
            guard let member = members[user.name] else {
                return Member(name: user.name, fingerprint: Fingerprint.of(publicKey: user.staticKey), online: user.online, lastSeen: lastSeen)
            }
            return Member(name: user.name, fingerprint: member.fingerprint, trust: member.trust, online: user.online, lastSeen: lastSeen)
        }))
    }

    /// Carries out what the end-to-end layer asks: key shares go out, messages and notices come up.
    func process(_ events: [EndToEndSession.Event], on connection: Int, now: Date) {
        var wrote = false
        for event in events {
            switch event {
            case .keyShare(let to, let payload):
                emit(.write(connection: connection, ClientRecord.keyShare(to: to, payload: payload).encoded()))
                wrote = true
            case .message(let m):
                // Shown once, even if a restarted server relays a resend again.
                guard shown.insert(from: m.from, id: m.relayed.clientMessageID) else { continue }
                let text = String(validating: m.text, as: UTF8.self) ?? "(a message that is not valid text)"
                emit(.message(received(m.relayed, text: text, trust: m.trust, senderFingerprint: m.senderFingerprint,
                                       sentMillis: m.sentMillis, now: now)))
            case .identityChanged(let name, let previous, let current):
                emit(.notice(.keyChanged(name: name, previous: previous, current: current)))
            case .noValidIdentity(let name):
                emit(.notice(.noValidIdentity(name)))
            case .undecryptable(let sender, let count):
                emit(.notice(.undecryptable(from: sender, count: count)))
            case .noCurrentPrekey(let name):
                // With this device's clock far from the server's, that is why (their keys look
                // dated wrongly to it), and it was said once: not again for every member (a
                // newcomer's run: nine "away longer than their keys last" about members online).
                guard !saidClocksApart else { continue }
                emit(.notice(.noCurrentPrekey(name)))
            case .rejected(let from, let error):
                logger.notice("rejected an end-to-end message", metadata: ["from": "\(TerminalText.escaped(from))", "reason": "\(error)"])
                emit(.notice(.messageRejected(from: from, error)))
            }
        }
        if wrote { emit(.flush(connection: connection)) }
    }
}
