import Foundation
import Logging
import NIOCore
import SottoCore
import SottoTransport

/// One client connection after the Noise layer: server hello, login, then chat records.
/// Confined to its channel's event loop; the hub reaches it only through `loop`.
final class ServerSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = NoiseInbound
    typealias OutboundIn = NoiseOutbound
    typealias OutboundOut = NoiseOutbound

    private enum State {
        case awaitingHandshake
        case awaitingLogin
        case authenticating
        case online(OnlineMember)
        case closing
    }

    private let hub: Hub
    /// The connection's Noise handler, next in the pipeline: relayed records are handed to it
    /// directly (a pipeline write per record per recipient was a tenth of the relay's cost).
    private let transport: NoiseChannelHandler
    private let configuration: ServerConfiguration
    private let address: String
    private var logger: Logger
    let loop: EventLoop

    private var state = State.awaitingHandshake
    private var context: ChannelHandlerContext?
    private var loginTimeout: Scheduled<Void>?
    private var idleCheck: RepeatedTask?
    private var lastInbound = NIODeadline.now()
    private var bucket: TokenBucket
    /// Records read while the bucket was empty, handled as tokens come back. At most what
    /// one socket read produced, since no further read is issued while it is non-empty.
    private var backlog = CircularBuffer<ClientRecord>()
    private var drainScheduled = false
    private var readRequested = false
    /// Whether the room has heard of this member. Until then nothing they send is handled
    /// (it waits in `backlog`): a member whose bundle signature fails never speaks.
    private var announced = false
    /// Identity answers posted to the mailbox for us and not yet handed to the transport.
    private var answerBytesPosted = 0
    /// Where this session's deliveries are noted during its loop mailbox's drain (-1 outside one).
    var mailboxSlot = -1
    /// They asked to leave the room (`leave`): nothing more of theirs is handled.
    private var leaving = false

    init(hub: Hub, transport: NoiseChannelHandler, configuration: ServerConfiguration, address: String, loop: EventLoop, logger: Logger) {
        self.hub = hub
        self.transport = transport
        self.configuration = configuration
        self.address = address
        self.loop = loop
        self.logger = logger
        bucket = TokenBucket(rate: configuration.limits.recordsPerSecond, capacity: configuration.limits.recordBurst, now: .now())
    }

    // Timers capture the session strongly and are cancelled when it is removed: a weak
    // reference anywhere gives an object a side table, which makes every retain and release
    // of it take the slow path, and the mailbox retains each recipient once per message.
    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        loginTimeout = context.eventLoop.scheduleTask(in: configuration.limits.loginTimeout) {
            self.close(ServerError(.loginTimeout, fatal: true), reason: "login timeout")
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        loginTimeout?.cancel()
        idleCheck?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .online(let member) = state {
            hub.leave(member)
            logger.info("left", metadata: ["user": "\(member.name.display)"])
        }
        state = .closing
        loginTimeout?.cancel()
        idleCheck?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastInbound = .now()
        switch (state, unwrapInboundIn(data)) {
        case (.awaitingHandshake, .handshakePayload(let payload, _)):
            guard payload.isEmpty else { return violation("non-empty first handshake payload") }
            state = .awaitingLogin
            context.writeAndFlush(wrapOutboundOut(.handshakePayload(configuration.hello.encoded())), promise: nil)
        case (.awaitingLogin, .handshakePayload(let payload, let remoteStatic)):
            guard let remoteStatic else { return violation("handshake finished without a client key") }
            let login: LoginRequest
            do { login = try LoginRequest(decoding: payload) } catch let error as WireError {
                if case .unsupportedVersion = error { return close(ServerError(.unsupportedVersion, fatal: true), reason: "\(error)") }
                return violation("login: \(error)")
            } catch { return violation("login: \(error)") }
            state = .authenticating
            switch hub.admitLogin(address: address) {
            case .examine:
                authenticate(login, staticKey: remoteStatic)
            case .throttled(let wait):
                // Answered at once: holding the login could outlast the login timeout.
                let seconds = max(1, (wait.nanoseconds + 999_999_999) / 1_000_000_000)
                logger.notice("login refused: too soon after failures", metadata: ["wait_s": "\(seconds)"])
                close(ServerError(.tooManyAttempts, "Too many failed logins from your address; wait \(seconds) s and try again.", fatal: true),
                      reason: "throttled")
            case .busy:
                logger.notice("login refused: login budget exhausted")
                close(ServerError(.tooManyAttempts, "The server is receiving too many logins right now; try again in a moment.", fatal: true),
                      reason: "login budget")
            }
        case (.online, .record(let bytes)), (.authenticating, .record(let bytes)):
            // Records that came with message 3 wait while the login is checked (off the loop);
            // no further read is issued while they wait.
            let record: ClientRecord
            do { record = try ClientRecord(decoding: bytes) } catch { return violation("record: \(error)") }
            backlog.append(record)
            drainBacklog()
        case (.closing, _):
            return
        default:
            violation("record out of order")
        }
    }

    private func authenticate(_ login: LoginRequest, staticKey: [UInt8]) {
        guard case .authenticating = state else { return }
        guard let handshakeHash = transport.hashBeforeFinalMessage,
              PasswordKey.isValid(proof: login.proof, key: configuration.passwordKey, handshakeHash: handshakeHash) else {
            hub.recordLoginFailure(address: address)
            logger.notice("login refused: wrong password")
            return close(ServerError(.wrongPassword, fatal: true), reason: "wrong password")
        }
        let name: Username
        do { name = try Username(login.username) } catch {
            logger.notice("login refused: invalid name")
            return close(ServerError(.invalidName, "That username is not allowed: \(error).", fatal: true), reason: "invalid name")
        }
        var bundle: IdentityBundle?
        if !login.identity.isEmpty {
            // Checked here, so the list can carry a 32-byte digest in its place and members
            // fetch only the bundles they need (they check them again: the server is not
            // trusted with identities, only with listing them). The signature is checked
            // once the welcome is on its way (`announceOnceVerified`).
            guard let decoded = try? IdentityBundle(decodingUnverified: login.identity), decoded.noiseKey == staticKey else {
                return refuseIdentity()
            }
            bundle = decoded
        }
        // A prekey is its identity's: signed by it, made within its lifetime, not in the future.
        if !login.prekey.isEmpty {
            guard let bundle, let prekey = try? SignedPrekey(decoding: login.prekey, signingKey: bundle.signingKey) else { return refuseIdentity() }
            let now = Date()
            guard !PrekeyPolicy().isExpired(prekey.created, now: now, skew: 600) else {
                // Dated by the device's clock: one set wrong is the likely cause, and said (a
                // newcomer's run: a clock 3 hours fast read "malformed, badly signed…").
                let ahead = prekey.created > now
                return refuseIdentity("This device's clock is \(ahead ? "ahead of" : "behind") the server's by more than \(ahead ? "10 minutes" : "30 days") (its new keys are dated \(ahead ? "in the future" : "too long ago")): set this device's date and time, then connect again.")
            }
        }
        // A name is bound to the identity that first logs in with it (its bundle's digest, or
        // the device key of a client without one); the check runs off the loop.
        let binding = bundle?.digest ?? staticKey, checked = bundle
        hub.claim(name, identity: binding, address: address, on: loop, verifies: { checked.map { (try? $0.verifySignature()) != nil } ?? true })
            .whenComplete { result in
                // The connection may have closed or timed out meanwhile.
                guard case .authenticating = self.state else { return }
                switch result {
                case .failure(let error):
                    self.logger.error("member store failed", metadata: ["error": "\(error)"])
                    self.close(ServerError(.other, "The server could not check its list of members; try again later.", fatal: true),
                               reason: "member store failed")
                case .success(.heldByAnother(let holder)):
                    self.logger.notice("login refused: name registered to another identity", metadata: ["user": "\(name.display)"])
                    // The two may be drawn alike (aIice and alice): a look-alike is spelled out.
                    let spelled = name.display.unicodeScalars.map { String(format: "U+%04X", $0.value) }.joined(separator: " ")
                    let text = (try? Username(holder))?.key == name.key
                        ? "The name \(name.display) belongs to another member of this server, registered from another device (another identity). If it is yours on a new device, or after your keys were reset, ask the server's operator to release it (sotto-server members release \(holder)); otherwise choose another name."
                        : "The name \(name.display) (\(spelled)) reads like \(holder), the name of another member of this server: choose a name that does not pass for someone else's."
                    self.close(ServerError(.nameTaken, text, fatal: true), reason: "name registered to another identity")
                case .success(.unverifiedIdentity):
                    self.refuseIdentity()
                case .success(.tooManyNames):
                    self.logger.notice("login refused: identity holds too many names", metadata: ["user": "\(name.display)"])
                    self.close(ServerError(.nameTaken, "This device already holds as many names as this server allows; log in under one of them, or ask the server's operator to release one.", fatal: true),
                               reason: "too many names")
                case .success(.tooManyRegistrations):
                    self.logger.notice("login refused: too many registrations from this address")
                    self.close(ServerError(.tooManyAttempts, "Too many new names were registered from your address recently; log in under a name you have, or try again in an hour.", fatal: true),
                               reason: "too many registrations")
                case .success(.full):
                    self.logger.warning("login refused: the member list is full")
                    self.close(ServerError(.serverFull, "This server has as many members as it allows; ask its operator to release a name.", fatal: true),
                               reason: "member list full")
                case .success(let claim):
                    if claim == .registered { self.logger.info("registered a new member", metadata: ["user": "\(name.display)"]) }
                    self.join(name, staticKey: staticKey, login: login, bundle: bundle, registered: claim == .registered ? binding : nil,
                              returning: claim == .returning)
                }
            }
    }

    /// `registered`: the identity this login just bound the name to, withdrawn if the hub
    /// refuses the login after all (someone else of that name is online: the operator
    /// released it while they were).
    private func join(_ name: Username, staticKey: [UInt8], login: LoginRequest, bundle: IdentityBundle?, registered: [UInt8]?, returning: Bool) {
        switch hub.join(name: name, staticKey: staticKey, identity: login.identity, identityDigest: bundle?.digest ?? [],
                        sessionNonce: login.sessionNonce, prekey: login.prekey, session: self, address: address, registered: registered != nil,
                        returning: returning) {
        case .nameTaken:
            logger.notice("login refused: name taken", metadata: ["user": "\(name.display)"])
            if let registered { hub.withdraw(name, identity: registered) }
            close(ServerError(.nameTaken, "The name \(name.display) is already in use on this server.", fatal: true), reason: "name taken")
        case .shuttingDown:
            close(ServerError(.shuttingDown, fatal: true), reason: "shutting down")
        case .joined(let member):
            state = .online(member)
            loginTimeout?.cancel()
            logger[metadataKey: "user"] = "\(name.display)"
            // The identity's fingerprint, as clients and `sotto-server members list` show it.
            logger.info("logged in", metadata: ["fingerprint": "\(bundle.map { Fingerprint.of(digest: $0.digest) } ?? Fingerprint.of(publicKey: staticKey))"])
            startIdleCheck()
            loop.execute { self.announceOnceVerified(member, bundle: bundle) }
        }
    }

    /// Runs after the mailbox has sent the welcome (its drain was queued first), so the
    /// costliest login check, an Ed25519 verification, overlaps the newcomer reading it. The
    /// room hears of no one whose bundle does not verify.
    private func announceOnceVerified(_ member: OnlineMember, bundle: IdentityBundle?) {
        guard case .online(let current) = state, current === member else { return }
        if let bundle, (try? bundle.verifySignature()) == nil { return refuseIdentity() }
        hub.announce(member)
        announced = true
        drainBacklog()
    }

    /// `why`: said to the client in place of the code's own sentence.
    private func refuseIdentity(_ why: String? = nil) {
        logger.notice(why == nil ? "login refused: invalid identity bundle" : "login refused: keys dated by a clock set wrong")
        close(why.map { ServerError(.invalidIdentity, $0, fatal: true) } ?? ServerError(.invalidIdentity, fatal: true), reason: "invalid identity")
    }

    /// Handles backlogged records while tokens last; otherwise waits for the next token.
    private func drainBacklog() {
        while !backlog.isEmpty {
            guard case .online(let member) = state else {
                // Records that came with message 3 wait for the login's answer.
                if case .authenticating = state { return }
                return backlog.removeAll()
            }
            guard announced else { return }  // announceOnceVerified drains it
            let wait = bucket.wait(now: .now())
            if wait > .zero {
                scheduleDrain(after: wait)
                return
            }
            bucket.take(now: .now())
            handle(backlog.removeFirst(), from: member)
        }
        if readRequested, let context {
            readRequested = false
            context.read()
        }
    }

    private func scheduleDrain(after wait: TimeAmount) {
        guard !drainScheduled else { return }
        drainScheduled = true
        loop.scheduleTask(in: wait) {
            self.drainScheduled = false
            self.drainBacklog()
        }
    }

    private func handle(_ record: ClientRecord, from member: OnlineMember) {
        // Leaving: nothing more of theirs is relayed while their name is freed.
        if leaving { return }
        switch record {
        case .send(let request):
            guard request.body.count <= configuration.limits.maxBodyBytes else {
                send(.error(ServerError(.messageTooLarge, "Messages are limited to \(configuration.limits.maxBodyBytes) bytes.", fatal: false)))
                send(.ack(clientMessageID: request.clientMessageID, sequence: 0))
                return
            }
            hub.relay(from: member, request)
        case .ping(let token):
            send(.pong(token))
        case .bye:
            context?.close(promise: nil)
        case .keyShare(let to, let payload):
            hub.relayKeyShare(from: member, to: to, payload: payload)
        case .identityRequest(let names):
            // Each name once (a request repeating one name 256 times asked for 256 bundles),
            // and only while the answers already on their way are being read: a member that
            // asks and never reads is cut off at the queue bound, not after 100 MiB.
            // Each parsed once, here (`Hub.NameLookup`).
            var seen = Set<String>()
            let unique = names.compactMap { name -> Hub.NameLookup? in
                let key = (try? Username(name))?.key
                return seen.insert(key ?? name).inserted ? Hub.NameLookup(name: name, key: key) : nil
            }
            let pages = hub.identityPages(for: unique)
            let size = pages.reduce(0) { $0 + $1.count }
            guard answerBytesPosted + size + transport.waitingBytes <= configuration.limits.maxQueuedBytes else {
                logger.notice("cut off: identity answers not read", metadata: ["waiting": "\(answerBytesPosted + transport.waitingBytes)"])
                return close(ServerError(.tooSlow, fatal: true), reason: "identity answers not read")
            }
            answerBytesPosted += size
            let mailbox = hub.mailbox(for: loop)
            for page in pages { mailbox.post(page, to: [self]) }
        case .relayedQuery(let ids):
            send(.relayed(hub.relayedAmong(ids, from: member)))
        case .confirm(let position):
            hub.confirm(member, through: position)
        case .leave:
            leave(member)
        case .prekey(let signed):
            publish(prekey: signed, of: member)
        }
    }

    /// `/leave`: the name is freed, the room told; the last record they get says so.
    private func leave(_ member: OnlineMember) {
        leaving = true
        hub.leaveForGood(member, on: loop).whenComplete { result in
            switch result {
            case .success(let removed?):
                self.finish(with: .presence(removed), reason: "left the room")
            case .success(nil):
                break  // replaced or closed meanwhile: that close speaks for itself
            case .failure(let error):
                self.logger.error("member store failed", metadata: ["error": "\(error)"])
                self.close(ServerError(.other, "The server could not free your name, so you are still a member; try again later.", fatal: true),
                           reason: "member store failed")
            }
        }
    }

    /// A session outliving the prekey rotation period publishes a new one: it must be signed
    /// by the member's identity and current; the hub lists it if it is newer than the one
    /// listed, one per name per `Hub.prekeyInterval`. Refused with a non-fatal error: only
    /// the member is hurt.
    private func publish(prekey signed: [UInt8], of member: OnlineMember) {
        func refuse(_ why: String) {
            logger.notice("new prekey refused", metadata: ["reason": "\(why)"])
            send(.error(ServerError(.invalidIdentity, "Your new prekey was refused: \(why).", fatal: false)))
        }
        guard let bundle = try? IdentityBundle(decodingUnverified: member.identity),
              let prekey = try? SignedPrekey(decoding: signed, signingKey: bundle.signingKey),
              !PrekeyPolicy().isExpired(prekey.created, now: Date(), skew: 600) else {
            return refuse("it is not signed by your identity, or not current")
        }
        switch hub.publish(prekey: signed, created: prekey.created, signingKey: bundle.signingKey, of: member) {
        case .published, .notInRoom: break
        case .notNewer: refuse("it is not newer than the one listed")
        case .tooSoon: refuse("one was published less than \(Hub.prekeyInterval.nanoseconds / 60_000_000_000) minutes ago")
        }
    }

    /// Runs `work` on this loop once what waits to be sent to this client is small again
    /// (a catch-up page is read before the next is fetched); never if the connection closes.
    func whenDrained(_ work: @escaping () -> Void) {
        loop.execute {
            guard self.context != nil, !self.isClosing else { return }
            if self.transport.waitingBytes <= Hub.pageBytes { return work() }
            self.loop.scheduleTask(in: .milliseconds(10)) { self.whenDrained(work) }
        }
    }

    /// Direct replies go through the mailbox too, so they stay in order with relayed records.
    private func send(_ record: ServerRecord) {
        hub.mailbox(for: loop).post(record.encoded(), to: [self])
    }

    private func startIdleCheck() {
        let idle = configuration.limits.idleTimeout
        let period = TimeAmount.nanoseconds(max(idle.nanoseconds / 4, 1_000_000))
        idleCheck = loop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            if NIODeadline.now() - self.lastInbound > idle {
                self.close(ServerError(.idleTimeout, fatal: true), reason: "idle timeout")
            }
        }
    }

    // MARK: Output, called on the loop by the mailbox

    /// Sends this session's share of a mailbox drain, framed by `RecordBatch`.
    func deliver(_ framedRecords: ArraySlice<UInt8>) {
        answerBytesPosted = 0  // the drain hands over everything posted for us so far
        guard context != nil, !isClosing else { return }
        transport.send(framedRecords: framedRecords)
    }

    private var isClosing: Bool { if case .closing = state { return true } else { return false } }

    /// From any thread: tell the client why, then close.
    func closeFromHub(_ error: ServerError) {
        loop.execute { self.close(error, reason: error.code.explanation) }
    }

    /// Sends a fatal error (when the transport is up) and closes.
    private func close(_ error: ServerError, reason: String) {
        finish(with: .error(error), reason: reason)
    }

    /// Sends `last` (when the transport is up) and closes.
    private func finish(with last: ServerRecord, reason: String) {
        guard let context, !isClosing else { return }
        if case .online(let member) = state { hub.leave(member) }
        state = .closing
        logger.info("closing connection", metadata: ["reason": "\(reason)"])
        // Once the transport is up (after message 3) the client can read why: a wrong schema
        // version or a malformed login is told so, not met with silence.
        if transport.handshakeHash != nil {
            context.writeAndFlush(wrapOutboundOut(.record(last.encoded())))
                .whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    private func violation(_ detail: String) {
        logger.notice("protocol violation", metadata: ["detail": "\(detail)"])
        close(ServerError(.protocolViolation, "Protocol error: \(detail).", fatal: true), reason: "protocol violation")
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Noise, framing and queue failures: the Noise handler already closes the channel.
        if error is OutboundQueueOverflow {
            logger.notice("cut off: not reading", metadata: ["detail": "\(error)"])
        } else {
            logger.notice("connection error", metadata: ["detail": "\(error)"])
        }
        if case .online(let member) = state { hub.leave(member) }
        state = .closing
        context.close(promise: nil)
    }

    // MARK: Read pacing

    /// Outbound `read` requests pass through here: while records wait for tokens the socket
    /// is not read, so a flooding client is slowed by TCP itself and costs bounded memory.
    func read(context: ChannelHandlerContext) {
        if backlog.isEmpty {
            context.read()
        } else {
            readRequested = true
        }
    }
}
