import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SottoCore
import SottoTransport

/// A Sotto client connection on its own network thread. Every public method may be called
/// from any thread; events arrive on the network thread through `onEvent`.
///
/// Messages handed to `send` go into an outbox with a client message id and leave it only
/// when the server acknowledges them, so a message typed while the connection is down is
/// sent once it is back, and a resend of one the server already relayed is not repeated.
public final class ChatClient: @unchecked Sendable {
    private struct Pending {
        let id: UInt64
        let to: String
        let text: [UInt8]
    }

    private let ownedGroup: MultiThreadedEventLoopGroup?
    private let loop: EventLoop
    private let identity: ClientIdentity
    private let knownServers: KnownServers
    private let peerKeys: PeerKeys
    private let onEvent: @Sendable (ClientEvent) -> Void
    private var logger: Logger

    // Confined to `loop`.
    private var configuration: ClientConfiguration
    private var channel: Channel?
    private var generation = 0
    private var state = ConnectionState.disconnected
    private var wantsConnection = false
    private var hasBeenOnline = false
    private var reconnectAttempt = 0
    private var reconnectTask: Scheduled<Void>?
    private var outbox: [Pending] = []
    /// Acknowledged in the last minute. The server acknowledges a message once it has queued
    /// it for everyone, not once everyone has it: if the server dies before a slow reader's
    /// queue drains, those copies are gone. So after a lost connection these are sent again;
    /// a server that already relayed one drops it (its ledger), and receivers of a restarted
    /// server's second copy drop it too (they remember what they showed).
    private var recentlyAcknowledged = CircularBuffer<(pending: Pending, at: Date)>()  // oldest first; trimmed per ack in O(1)
    private var resent: Set<UInt64> = []
    /// Who was here when the connection was lost: a safety resend goes only to them, never
    /// to someone who arrived since (they must not read what was said before they came).
    private var resendAudience: Set<String> = []
    static let resendWindow: TimeInterval = 60
    static let resendLimit = 1_000
    /// How many outbox entries (from the front) were written on the current connection.
    private var transmitted = 0
    private var pumping = false
    private var users: [String: OnlineUser] = [:]
    /// Names whose entry changed since the end-to-end layer last heard, in order; nil when
    /// the whole list was replaced (at login).
    private var changedUsers: [String]? = []
    /// Each online name's sort key, made when it arrives (lists of hundreds are re-published
    /// on every change).
    private var sortKeys: [String: String] = [:]
    private var userListParts: [OnlineUser] = []
    private var passwordKeyCache: (salt: [UInt8], scrypt: ScryptParameters, key: [UInt8])?
    /// Chosen afresh for each login; the end-to-end session accepts only shares bound to it.
    private var sessionNonce: [UInt8] = []
    /// This connection attempt got the server's hello (the server accepted it and is waiting
    /// for the login).
    private var helloThisAttempt = false
    /// A login hung up on after the hello was tried again once since `connect()`.
    private var loginRetried = false
    private var serverFingerprint = ""
    private var maxBodyBytes = WireLimits.maxBodyBytes
    /// The end-to-end layer of the current session (new chains on every connection).
    private var endToEnd: EndToEndSession?
    /// Messages are sealed and sent only once the first online list told us who to share with.
    private var membersKnown = false
    /// Membership changes not yet given to the end-to-end layer and the window: a burst of
    /// presence records (a hundred people arriving at once) is applied once, at the end of
    /// the read that brought it, or before anything that depends on the member list.
    private var membershipChanged = false
    private var expiryTask: RepeatedTask?
    /// After a lost connection: who was here, so resends wait (briefly) until they are back
    /// and can read them. A room has no history; a message relayed before they return would
    /// never reach them.
    private var peersBeforeLoss: Set<String> = []
    private var waitingForPeers = false
    private var peerWaitTask: Scheduled<Void>?
    /// Messages already shown, by sender and client message id (kept across reconnects).
    private var shown = ShownMessages()
    /// One identity request at a time: its answer is bounded (≤ 256 bundles), so a client
    /// fetching a room of thousands never piles more than that into its server queue.
    private var identityRequestInFlight = false
    /// Messages that may have been relayed on a lost connection without our hearing the
    /// ack (written and unacknowledged, or acknowledged and requeued). Before sealing them
    /// again the server is asked which it relayed: sealing one it then drops as a resend
    /// would burn an index of the new chain, and receivers would count a message lost.
    private var uncertain: Set<UInt64> = []
    private var checkingRelayed = false

    private let idLock = NIOLock()
    private var isShutDown = false
    /// Client message ids: a random epoch per client instance in the upper 32 bits and a
    /// counter below, so the server can drop resends by remembering one number per epoch.
    private var nextID = UInt64(UInt32.random(in: 1...UInt32.max)) << 32

    /// With `group`, the connection runs on one of its loops (many clients can share a few
    /// threads, as the benchmark does); otherwise the client owns one network thread.
    public init(configuration: ClientConfiguration, identity: ClientIdentity, knownServers: KnownServers,
                peerKeys: PeerKeys? = nil, group sharedGroup: EventLoopGroup? = nil,
                logger: Logger = Logger(label: "sotto.client"), onEvent: @escaping @Sendable (ClientEvent) -> Void) {
        self.configuration = configuration
        self.identity = identity
        self.knownServers = knownServers
        self.peerKeys = peerKeys ?? PeerKeys(url: knownServers.url.deletingLastPathComponent().appendingPathComponent("peers.json"))
        self.logger = logger
        self.onEvent = onEvent
        ownedGroup = sharedGroup == nil ? MultiThreadedEventLoopGroup(numberOfThreads: 1) : nil
        loop = (sharedGroup ?? ownedGroup!).next()
    }

    // MARK: Commands (any thread)

    public func connect() {
        onLoop {
            if let problem = self.peerKeys.problem() {
                self.setState(.failed(.invalidSetting("Your pinned contact keys cannot be used: \(problem). Sotto does not start over silently, as that would forget every key you verified: fix the file, or move it away to start again.")))
                return
            }
            self.wantsConnection = true
            self.reconnectAttempt = 0
            self.loginRetried = false
            self.openConnection()
        }
    }

    /// Accepts the given server fingerprint for this connection (a person compared it), then connects.
    public func trustServer(fingerprint: String) {
        onLoop {
            self.configuration.trust.vouched = fingerprint
            self.wantsConnection = true
            self.loginRetried = false
            self.openConnection()
        }
    }

    /// Queues a message and returns its id; it is sent now if online, else once back online.
    @discardableResult
    public func send(_ text: String, to recipient: String = "") -> UInt64 {
        let id = idLock.withLock { () -> UInt64 in
            nextID &+= 1
            return nextID
        }
        onLoop {
            let pending = Pending(id: id, to: recipient, text: Array(text.utf8))
            self.outbox.append(pending)
            self.onEvent(.queued(id: id, to: recipient, text: text))
            if self.state == .online { self.pumpOutbox() }
        }
        return id
    }

    /// Stops (or resumes) reading from the socket, as a frozen laptop would: for load
    /// generators and tests of how the server treats a member that does not read.
    public func setReadingPaused(_ paused: Bool) {
        onLoop { _ = self.channel?.setOption(ChannelOptions.autoRead, value: !paused) }
    }

    public func disconnect() {
        onLoop { _ = self.closeConnection() }
    }

    /// Says goodbye (when online) and closes; the future completes once the socket is closed.
    private func closeConnection() -> EventLoopFuture<Void> {
        wantsConnection = false
        reconnectTask?.cancel()
        reconnectTask = nil
        guard let channel else {
            setState(.disconnected)
            return loop.makeSucceededVoidFuture()
        }
        if state == .online {
            channel.writeAndFlush(NoiseOutbound.record(ClientRecord.bye.encoded()), promise: nil)
        }
        channel.close(promise: nil)
        return channel.closeFuture
    }

    /// Disconnects and stops the network thread. The client cannot be used afterwards;
    /// calling it again does nothing.
    public func shutdown() {
        let first = idLock.withLock { () -> Bool in
            defer { isShutDown = true }
            return !isShutDown
        }
        guard first else { return }
        _ = try? loop.flatSubmit { self.closeConnection() }.wait()
        try? ownedGroup?.syncShutdownGracefully()
        peerKeys.flush()  // pins from the last second are not left behind
    }

    /// Runs on the network thread unless the client was shut down (then nothing happens).
    private func onLoop(_ work: @escaping () -> Void) {
        guard !idLock.withLock({ isShutDown }) else { return }
        loop.execute(work)
    }

    private func onLoop<T>(_ work: @escaping () -> T) -> T? {
        guard !idLock.withLock({ isShutDown }) else { return nil }
        return try? loop.submit(work).wait()
    }

    /// Messages not yet acknowledged by the server (for tests and the UI's pending marks).
    public func pendingCount() -> Int {
        onLoop { self.outbox.count } ?? 0
    }

    /// Tests only: the current end-to-end session (to prove what its keys can and cannot open).
    func endToEndSessionForTesting() -> EndToEndSession? {
        onLoop { self.endToEnd } ?? nil
    }

    /// Tests only: runs work on the network thread, where the session lives.
    func onNetworkThreadForTesting<T>(_ work: @escaping () -> T) async throws -> T {
        try await loop.submit(work).get()
    }

    /// Your identity fingerprint, or a member's with the safety number you share.
    public func identityInfo(of name: String? = nil) -> (fingerprint: String, safetyNumber: String?)? {
        guard let name else { return (identity.fingerprint, nil) }
        return onLoop { () -> (String, String?)? in
            self.applyMembershipChange()
            guard let member = self.endToEnd?.members[name] else { return nil }
            return (member.fingerprint, self.endToEnd?.safetyNumber(with: name))
        } ?? nil
    }

    /// Marks a member's current identity key as verified (after comparing safety numbers);
    /// this also accepts a changed key. Returns false if they are not online.
    @discardableResult
    public func verify(_ name: String) -> Bool {
        onLoop { () -> Bool in
            self.applyMembershipChange()
            guard let session = self.endToEnd, let member = session.members[name] else { return false }
            do {
                try self.peerKeys.markVerified(server: self.serverFingerprint, name: name, fingerprint: member.fingerprint)
            } catch {
                self.onEvent(.error("Could not save the verification: \(error)"))
                return false
            }
            self.process(session.updateTrust(of: name, to: .verified, now: Date()))
            self.publishUsers()
            self.onEvent(.system("You verified \(name) (\(member.fingerprint))."))
            return true
        } ?? false
    }

    // MARK: Connection lifecycle (on loop)

    private func setState(_ new: ConnectionState) {
        guard new != state else { return }
        state = new
        onEvent(.state(new))
    }

    private func openConnection() {
        guard wantsConnection, channel == nil else { return }
        reconnectTask?.cancel()
        reconnectTask = nil
        generation += 1
        helloThisAttempt = false
        let generation = self.generation
        let configuration = self.configuration
        let handshake: HandshakeState
        do {
            handshake = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity.noiseStatic)
        } catch {
            return finish(.protocolError("\(error)"), generation: generation)
        }
        setState(.connecting)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.milliseconds(Int64(configuration.connectTimeout * 1000)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let noise = NoiseChannelHandler(handshake: handshake)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: .milliseconds(Int64(configuration.deadAfter * 1000)),
                                         writeTimeout: .milliseconds(Int64(configuration.pingInterval * 1000))),
                        ByteToMessageHandler(FrameDecoder()),
                        noise,
                        ClientSessionHandler(client: self, noise: noise, generation: generation),
                    ])
                }
            }
        // An address typed as digits needs no resolver: NIO's getaddrinfo runs on a dispatch
        // queue and Happy Eyeballs waits on it, a thread hop each way before the SYN.
        let connected = if let address = try? SocketAddress(ipAddress: configuration.host, port: configuration.port) {
            bootstrap.connect(to: address)
        } else {
            bootstrap.connect(host: configuration.host, port: configuration.port)
        }
        connected.whenComplete { result in
            switch result {
            case .success(let channel):
                guard generation == self.generation, self.wantsConnection else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                self.setState(.loggingIn)
            case .failure(let error):
                guard generation == self.generation else { return }
                self.finish(.unreachable(host: configuration.host, port: configuration.port, reason: Self.describe(error)), generation: generation)
            }
        }
    }

    private static func describe(_ error: Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case EHOSTUNREACH: return "host unreachable"
            case ENETUNREACH: return "network unreachable"
            default: return String(cString: strerror(io.errnoCode))
            }
        }
        if case ChannelError.connectTimeout = error { return "timed out" }
        if error is NIOConnectionError || "\(error)".contains("connectionRefused") { return "connection refused" }
        return "\(error)"
    }

    /// The end of one connection attempt or session: reconnect, or report and stop.
    private func finish(_ failure: ClientFailure?, generation: Int) {
        guard generation == self.generation else { return }
        channel = nil
        endToEnd = nil
        expiryTask?.cancel()
        expiryTask = nil
        let wasOnline = state == .online
        if !wantsConnection {
            setState(.disconnected)
            return
        }
        let failure = failure ?? (wasOnline ? .connectionLost : .closedDuringLogin)
        if wasOnline {
            peersBeforeLoss = Set(users.keys).subtracting([configuration.username])
            resendAudience = peersBeforeLoss
        }
        uncertain.formUnion(outbox.prefix(transmitted).map(\.id))
        requeueRecentlyAcknowledged()
        if wasOnline, !users.isEmpty {
            users = [:]
            onEvent(.users([]))
        }
        sortKeys = [:]
        changedUsers = nil
        // The server waits 10 s for a login; on a slow or busy machine, deriving the password
        // key the first time (or a network thread busy with other clients' derivations) can
        // take longer, and the server hangs up before reading it. The key is kept now, so
        // one more attempt is quick.
        if !hasBeenOnline, helloThisAttempt, !loginRetried, failure == .closedDuringLogin {
            loginRetried = true
            onEvent(.system("The server hung up while this device was still preparing the login (deriving the password key can take longer than the server waits); logging in again."))
            openConnection()
            return
        }
        if hasBeenOnline, configuration.reconnect, failure.isTransient {
            reconnectAttempt += 1
            let delay = configuration.backoff(attempt: reconnectAttempt)
            if wasOnline { onEvent(.system(failure.description + " Reconnecting…")) }
            setState(.reconnecting(attempt: reconnectAttempt, delay: delay))
            reconnectTask = loop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in
                self?.reconnectTask = nil
                self?.openConnection()
            }
        } else {
            wantsConnection = false
            setState(.failed(failure))
        }
    }

    // MARK: Called by the session handler (on loop)

    func sessionEnded(_ failure: ClientFailure?, generation: Int) {
        finish(failure, generation: generation)
    }

    /// Message 2 arrived: check the server key, then build the login for message 3.
    func loginRequest(for hello: ServerHello, serverStatic: [UInt8], handshakeHash: [UInt8]) throws -> LoginRequest {
        helloThisAttempt = true
        let fingerprint = Fingerprint.of(publicKey: serverStatic)
        let host = configuration.host, port = configuration.port
        switch configuration.trust.decide(pinned: knownServers.fingerprint(host: host, port: port), actual: fingerprint) {
        case .trusted(let pinNow):
            if pinNow {
                do { try knownServers.pin(host: host, port: port, fingerprint: fingerprint) } catch {
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
        serverFingerprint = fingerprint
        maxBodyBytes = Int(hello.maxBodyBytes)
        guard hello.scrypt.isAtLeast(configuration.minimumPasswordHashing) else {
            throw ClientFailure.protocolError("the server asks for password hashing weaker than this client accepts (scrypt N=2^\(hello.scrypt.log2N), r=\(hello.scrypt.r), p=\(hello.scrypt.p))")
        }
        let key: [UInt8]
        if let cached = passwordKeyCache, cached.salt == hello.passwordSalt, cached.scrypt == hello.scrypt {
            key = cached.key
        } else if let shared = configuration.sharedPasswordKeys?.key(salt: hello.passwordSalt, scrypt: hello.scrypt, password: configuration.password) {
            key = shared
            passwordKeyCache = (hello.passwordSalt, hello.scrypt, key)
        } else {
            key = try PasswordKey.derive(password: configuration.password, salt: hello.passwordSalt, parameters: hello.scrypt)
            passwordKeyCache = (hello.passwordSalt, hello.scrypt, key)
            configuration.sharedPasswordKeys?.store(key, salt: hello.passwordSalt, scrypt: hello.scrypt, password: configuration.password)
        }
        sessionNonce = (0..<WireLimits.sessionNonceLength).map { _ in UInt8.random(in: 0...255) }
        return LoginRequest(username: configuration.username, proof: PasswordKey.proof(key: key, handshakeHash: handshakeHash),
                            identity: identity.keys.encodedBundle, sessionNonce: sessionNonce)
    }

    /// A newcomer whose name reads as that of someone met before (their skeletons match, the
    /// names do not) is pointed out: the server keeps such names apart only while both are online.
    private func warnIfLookAlike(_ name: String) {
        guard let other = peerKeys.resembles(server: serverFingerprint, name: name) else { return }
        onEvent(.error("WARNING: \(name) looks like \(other), whom you have met here before, but is a different name, and may be someone else passing for them. Compare safety numbers before you trust them."))
    }

    /// Names the server lists are held to the rules the server itself must apply: an entry
    /// whose name would be refused at login (control or invisible characters, empty, not
    /// NFC, too long) is left out, loudly, so a lying server cannot show one.
    private func isAcceptableListing(_ user: OnlineUser) -> Bool {
        switch Username.validate(listed: user.name) {
        case .success:
            return true
        case .failure(let problem):
            onEvent(.error("The server listed a member whose name is not allowed (\(problem)); it was left out. The server may be misbehaving."))
            return false
        }
    }

    func received(_ record: ServerRecord) throws {
        switch record {
        case .welcome(let name, _):
            hasBeenOnline = true
            reconnectAttempt = 0
            configuration.username = name
            let server = serverFingerprint, peers = peerKeys
            endToEnd = EndToEndSession(me: name, identity: identity.keys, sessionNonce: sessionNonce) { peer, fingerprint in
                peers.trust(server: server, name: peer, fingerprint: fingerprint)
            }
            membersKnown = false
            identityRequestInFlight = false
            checkingRelayed = false
            let ask = Array(outbox.lazy.map(\.id).filter { self.uncertain.contains($0) }.prefix(WireLimits.maxRelayedQuery))
            if ask.isEmpty {
                uncertain = []  // all acknowledged meanwhile: nothing left to ask about
            } else if let channel {
                checkingRelayed = true
                channel.writeAndFlush(NoiseOutbound.record(ClientRecord.relayedQuery(ask).encoded()), promise: nil)
            }
            transmitted = 0
            waitingForPeers = !peersBeforeLoss.isEmpty
            peerWaitTask?.cancel()
            if waitingForPeers {
                peerWaitTask = loop.scheduleTask(in: .milliseconds(Int64(configuration.peerReturnGrace * 1000))) { [weak self] in
                    self?.waitingForPeers = false
                    self?.pumpOutbox()
                }
            }
            expiryTask?.cancel()
            expiryTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
                guard let self, let session = self.endToEnd else { return }
                self.process(session.expire(now: Date()))
            }
            setState(.online)
            onEvent(.welcome(name: name, serverFingerprint: serverFingerprint))
        case .users(let part, let final):
            // A hostile server could send parts without end: the list is bounded.
            guard userListParts.count + part.count <= WireLimits.maxListedMembers else {
                throw ClientFailure.protocolError("the server's online list has more than \(WireLimits.maxListedMembers) members")
            }
            userListParts += part.filter(isAcceptableListing)
            if final {
                users = Dictionary(userListParts.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
                for name in users.keys.sorted() where name != configuration.username { warnIfLookAlike(name) }
                sortKeys = Dictionary(uniqueKeysWithValues: users.keys.map { ($0, $0.lowercased()) })
                userListParts = []
                changedUsers = nil
                noteMembershipChange()
                membersKnown = true
                pumpOutbox()
            }
        case .presence(let presence):
            guard isAcceptableListing(presence.user) else { return }
            switch presence.event {
            case .joined:
                let previous = users[presence.user.name]
                users[presence.user.name] = presence.user
                if previous == presence.user { return }
                if previous == nil {
                    sortKeys[presence.user.name] = presence.user.name.lowercased()
                    if presence.user.name != configuration.username {
                        onEvent(.system("\(presence.user.name) joined"))
                        warnIfLookAlike(presence.user.name)
                    }
                }
            case .left:
                users[presence.user.name] = nil
                sortKeys[presence.user.name] = nil
                onEvent(.system("\(presence.user.name) left"))
            }
            changedUsers?.append(presence.user.name)
            noteMembershipChange()
        case .message(let m):
            if m.from == configuration.username {
                // Our own copy, in server order: we know what we wrote, and to whom (its key is
                // already gone). One this device did not send is the server's invention (no
                // other session of ours can be online with our name): not shown.
                guard let pending = outbox.first(where: { $0.id == m.clientMessageID }) else {
                    logger.notice("ignored a message in our name that this device did not send")
                    onEvent(.error("The server relayed a message in your name that this device did not send; it was not shown. The server may be misbehaving."))
                    return
                }
                guard shown.insert(from: m.from, id: m.clientMessageID) else { return }
                var copy = m
                copy.to = pending.to
                onEvent(.message(received(copy, text: String(decoding: pending.text, as: UTF8.self), trust: .verified)))
            } else if let tap = configuration.relayedMessageTap, !tap(m) {
                return
            } else if let session = endToEnd {
                applyMembershipChange()
                process(session.open(m, now: Date()))
            }
        case .keyShare(let from, let payload):
            applyMembershipChange()
            if let session = endToEnd { process(session.receiveKeyShare(from: from, payload: payload, now: Date())) }
        case .relayed(let ids):
            guard checkingRelayed else { return }
            checkingRelayed = false
            uncertain = []
            let relayed = Set(ids)
            // Relayed before the connection was lost: done. An ack we never heard is reported
            // now; a requeued one was reported already.
            let done = outbox.filter { relayed.contains($0.id) }
            outbox.removeAll { relayed.contains($0.id) }
            for m in done where resent.remove(m.id) == nil { onEvent(.delivered(id: m.id)) }
            pumpOutbox()
        case .identities(let entries, let final):
            applyMembershipChange()
            if let session = endToEnd { process(session.receiveIdentities(entries, now: Date())) }
            if final {
                identityRequestInFlight = false
                pumpOutbox()
            }
        case .ack(let id, let sequence):
            guard let index = outbox.firstIndex(where: { $0.id == id }) else { return }
            let acknowledged = outbox.remove(at: index)
            if index < transmitted { transmitted -= 1 }
            if sequence != 0 { rememberAcknowledged(acknowledged) }
            if resent.remove(id) != nil { return }  // told once already
            onEvent(sequence == 0 ? .rejected(id: id) : .delivered(id: id))
        case .error(let error):
            onEvent(.error(error.text))
        case .pong:
            break
        }
    }

    private func received(_ m: ChatMessage, text: String, trust: PeerTrust) -> ReceivedMessage {
        // The server's clock, clamped to year 9999: a lying server cannot push a date where
        // calendars and formatters misbehave.
        let millis = min(m.time, 253_402_300_799_000)
        return ReceivedMessage(sequence: m.sequence, time: Date(timeIntervalSince1970: Double(millis) / 1000), from: m.from, to: m.to,
                        text: text, isOwn: m.from == configuration.username, clientMessageID: m.clientMessageID, trust: trust)
    }

    private func noteMembershipChange() {
        guard !membershipChanged else { return }
        membershipChanged = true
        loop.execute { self.applyMembershipChange() }
    }

    private func applyMembershipChange() {
        guard membershipChanged else { return }
        membershipChanged = false
        membersChanged()
    }

    /// The online list changed: let the end-to-end layer share or renew chains, then show it.
    private func membersChanged() {
        if waitingForPeers, peersBeforeLoss.isSubset(of: users.keys) {
            waitingForPeers = false
            peersBeforeLoss = []
            peerWaitTask?.cancel()
            loop.execute { self.pumpOutbox() }
        }
        let changed = changedUsers
        changedUsers = []
        if let session = endToEnd {
            // Only the names that changed are looked at, unless the whole list was replaced.
            let names = changed ?? Array(Set(session.members.keys).union(users.keys))
            let before = Dictionary(names.map { ($0, session.members[$0]?.digest) }, uniquingKeysWith: { $1 })
            if let changed {
                process(session.updateMembers(changes: changed.map { ($0, users[$0]) }, now: Date()))
            } else {
                process(session.updateMembers(Array(users.values), now: Date()))
            }
            for name in before.keys.sorted() {
                if let member = session.members[name], case .changed(let previous) = member.trust, before[name] != member.digest {
                    onEvent(.peerKeyChanged(name: name, previous: previous, current: member.fingerprint))
                }
            }
        }
        publishUsers()
    }

    private func publishUsers() {
        let members = endToEnd?.members ?? [:]
        // Sort keys made once per user, not twice per comparison (lists of hundreds change often).
        let sorted = users.values.map { (key: sortKeys[$0.name] ?? $0.name.lowercased(), user: $0) }.sorted { $0.key < $1.key }.map(\.user)
        onEvent(.users(sorted.map { user in
            if user.name == configuration.username {
                return Member(name: user.name, fingerprint: identity.fingerprint, trust: .verified, isMe: true)
            }
            guard let member = members[user.name] else {
                return Member(name: user.name, fingerprint: Fingerprint.of(publicKey: user.staticKey))
            }
            return Member(name: user.name, fingerprint: member.fingerprint, trust: member.trust)
        }))
    }

    /// Carries out what the end-to-end layer asks: key shares go out, messages and notices come up.
    private func process(_ events: [EndToEndSession.Event]) {
        var wrote = false
        for event in events {
            switch event {
            case .keyShare(let to, let payload):
                channel?.write(NoiseOutbound.record(ClientRecord.keyShare(to: to, payload: payload).encoded()), promise: nil)
                wrote = true
            case .message(let m):
                // Shown once, even if a restarted server relays a resend again.
                guard shown.insert(from: m.from, id: m.relayed.clientMessageID) else { continue }
                let text = String(validating: m.text, as: UTF8.self) ?? "(a message that is not valid text)"
                onEvent(.message(received(m.relayed, text: text, trust: m.trust)))
            case .notice(let text):
                onEvent(.system(text))
            case .rejected(let from, let error):
                logger.notice("rejected an end-to-end message", metadata: ["from": "\(TerminalText.escaped(from))", "reason": "\(error)"])
                onEvent(.system("Rejected a message from \(from): \(error)."))
            }
        }
        if wrote { channel?.flush() }
    }

    private func rememberAcknowledged(_ pending: Pending) {
        let now = Date()
        recentlyAcknowledged.append((pending, now))
        while let oldest = recentlyAcknowledged.first,
              recentlyAcknowledged.count > Self.resendLimit || now.timeIntervalSince(oldest.at) > Self.resendWindow {
            recentlyAcknowledged.removeFirst()
        }
    }

    /// Puts the last minute's acknowledged messages back in front of the outbox, in order.
    private func requeueRecentlyAcknowledged() {
        let now = Date()
        let again = recentlyAcknowledged.filter { now.timeIntervalSince($0.at) <= Self.resendWindow }.map(\.pending)
        recentlyAcknowledged.removeAll()
        guard !again.isEmpty else { return }
        resent.formUnion(again.map(\.id))
        uncertain.formUnion(again.map(\.id))
        outbox = again + outbox
        transmitted = 0
    }

    /// Writes unsent outbox entries while the socket keeps up; the rest wait for
    /// `channelWritable`, so a long outbox never piles up in memory below the outbox.
    /// Each turn writes one slice and yields, so replies keep being read meanwhile.
    /// Not re-entrant: a write can flush, and a flush can report writability, which calls
    /// back here; that inner call is refused and the scheduled next turn carries on.
    func pumpOutbox() {
        applyMembershipChange()
        guard !pumping, let channel, state == .online, membersKnown, !waitingForPeers, !checkingRelayed, let session = endToEnd,
              transmitted < outbox.count, channel.isWritable else { return }
        pumping = true
        defer { pumping = false }
        var sliceBytes = 0
        var withheld = 0
        var awaitingIdentities = false
        while transmitted < outbox.count, sliceBytes < 64 * 1024 {
            let m = outbox[transmitted]
            if resent.contains(m.id) {
                let others = Set(session.members.keys)
                let safe = m.to.isEmpty ? others.isSubset(of: resendAudience) : resendAudience.contains(m.to)
                if !safe {
                    outbox.remove(at: transmitted)
                    resent.remove(m.id)
                    withheld += 1
                    continue
                }
            }
            // Everyone it is for must get our chain before it: fetch missing keys first.
            let needed = session.identitiesNeeded(for: m.to)
            if !needed.isEmpty {
                requestIdentities(needed, on: channel)
                awaitingIdentities = true
                break
            }
            // Too long for this server once sealed: refused before it takes a chain index
            // (which receivers would later report as a lost message).
            guard MessageEnvelope.encodedLength(textLength: m.text.count, direct: !m.to.isEmpty) <= maxBodyBytes else {
                outbox.remove(at: transmitted)
                onEvent(.error("Not sent: the message is too long for this server (its limit is \(maxBodyBytes) bytes, encrypted)."))
                onEvent(.rejected(id: m.id))
                continue
            }
            // Sealed now, under this session's chains; a resend after a reconnect is sealed anew.
            let sealed: (body: [UInt8], events: [EndToEndSession.Event])
            do { sealed = try session.seal(m.text, to: m.to, now: Date()) } catch {
                outbox.remove(at: transmitted)
                if resent.remove(m.id) != nil { continue }  // a safety resend (its recipient left): it was delivered once
                onEvent(.error("Not sent: \(error)."))
                onEvent(.rejected(id: m.id))
                continue
            }
            guard sealed.body.count <= maxBodyBytes else {
                outbox.remove(at: transmitted)
                onEvent(.error("Not sent: the message is too long for this server (its limit is \(maxBodyBytes) bytes, encrypted)."))
                onEvent(.rejected(id: m.id))
                continue
            }
            transmitted += 1
            process(sealed.events)
            let record = ClientRecord.send(SendRequest(clientMessageID: m.id, to: m.to, body: sealed.body)).encoded()
            sliceBytes += record.count
            channel.write(NoiseOutbound.record(record), promise: nil)
        }
        channel.flush()
        if withheld > 0 {
            onEvent(.system("\(withheld == 1 ? "A message" : "\(withheld) messages") from just before the connection was lost may not have reached everyone, and \(withheld == 1 ? "was" : "were") not sent again: someone new has joined since."))
        }
        // Waiting for identities: their answer pumps again.
        if transmitted < outbox.count, !awaitingIdentities { loop.execute { self.pumpOutbox() } }
    }

    private func requestIdentities(_ names: [String], on channel: Channel) {
        guard !identityRequestInFlight else { return }
        identityRequestInFlight = true
        // As many names as fit one record (long names in other scripts take up to 512
        // bytes each); the rest are asked for once this answer is in.
        var batch: [String] = []
        var size = ClientRecord.identityRequest([]).encoded().count
        for name in names.prefix(WireLimits.maxIdentityRequest) {
            let entry = 2 + name.utf8.count
            guard size + entry <= WireLimits.maxRecordLength else { break }
            batch.append(name)
            size += entry
        }
        let request = ClientRecord.identityRequest(batch)
        channel.write(NoiseOutbound.record(request.encoded()), promise: nil)
    }
}

/// The last few thousand (sender, client message id) pairs shown. A server that crashed
/// after relaying a message but before acknowledging it relays the client's resend again
/// after its restart; this is what makes that second copy invisible.
struct ShownMessages {
    private var seen: Set<String> = []
    private var order: [String] = []
    private var head = 0
    static let capacity = 10_000

    /// False if it was shown already.
    mutating func insert(from: String, id: UInt64) -> Bool {
        let key = "\(from)\u{0}\(id)"
        guard seen.insert(key).inserted else { return false }
        if order.count < Self.capacity {
            order.append(key)
        } else {
            seen.remove(order[head])
            order[head] = key
            head = (head + 1) % Self.capacity
        }
        return true
    }
}
