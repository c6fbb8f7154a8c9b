import Crypto
import Foundation
import Testing
import SottoCore
@testable import SottoClient

/// A store in memory: pins and verifications as the file store keeps them.
final class MemoryStore: ClientStore, @unchecked Sendable {
    var servers: [String: String] = [:]
    var peers: [String: (fingerprint: String, verified: Bool)] = [:]
    var brokenBecause: String?

    func pinnedServer(host: String, port: Int) -> String? { servers["\(host):\(port)"] }
    func pinServer(host: String, port: Int, fingerprint: String) throws { servers["\(host):\(port)"] = fingerprint }
    func peerTrust(server: String, name: String, fingerprint: String) -> PeerTrust {
        guard let entry = peers["\(server) \(name)"] else {
            peers["\(server) \(name)"] = (fingerprint, false)
            return .unverified
        }
        if entry.fingerprint != fingerprint { return .changed(previous: entry.fingerprint) }
        return entry.verified ? .verified : .unverified
    }
    func markVerified(server: String, name: String, fingerprint: String) throws { peers["\(server) \(name)"] = (fingerprint, true) }
    func lookAlike(server: String, name: String) -> String? { nil }
    func problem() -> String? { brokenBecause }
    func flush() {}
}

/// Randomness from a counter: every run of a test sees the same bytes.
func countingRandom() -> ClientRandom {
    final class Counter: @unchecked Sendable { var value: UInt8 = 0 }
    let counter = Counter()
    return ClientRandom { count in (0..<count).map { _ in counter.value &+= 1; return counter.value } }
}

/// A server played by hand, the way wireguard-go's noise_test.go plays two peers: cores
/// log in, their effects are routed as the real relay would route them, and nothing
/// happens unless the test says so. No sockets, no threads, no waiting.
final class ScriptedServer {
    static let password = "scripted password"
    let key = Curve25519.KeyAgreement.PrivateKey()
    var fingerprint: String { Fingerprint.of(publicKey: Array(key.publicKey.rawRepresentation)) }
    let salt = Array("scripted-salt-16".utf8)
    var hello: ServerHello { ServerHello(serverName: "scripted", maxBodyBytes: UInt32(WireLimits.maxBodyBytes), passwordSalt: salt, scrypt: .testing) }
    var now = Date(timeIntervalSince1970: 1_800_000_000)
    /// A lying server: the time it stamps on every message it relays, whatever its clock says.
    var stampsTime: UInt64?

    final class Member {
        let core: ClientCore
        var name: String
        let identity: ClientIdentity
        var connection: Int?
        var online = false
        var user: OnlineUser?
        var events: [ClientEvent] = []
        /// Timers the core asked for, with their delays (those of 0 fire at once).
        var timers: [ClientCore.Timer: Double] = [:]
        /// Connections it asked to open that the test has not answered yet.
        var opening: [Int] = []
        /// Records it wrote, decoded, in order.
        var written: [ClientRecord] = []
        /// What its device keeps between sessions (prekeys, chains, its stream's position).
        let keyStore: InMemoryKeyStateStore
        /// Its signed prekey as published.
        var prekey: [UInt8] = []
        /// How far its device's clock is from the server's (a clock a day fast: 86,400).
        var clockOffset: TimeInterval = 0

        init(core: ClientCore, name: String, identity: ClientIdentity, keyStore: InMemoryKeyStateStore = InMemoryKeyStateStore()) {
            self.core = core
            self.name = name
            self.identity = identity
            self.keyStore = keyStore
        }

        var messages: [ReceivedMessage] { events.compactMap { if case .message(let m) = $0 { m } else { nil } } }
        var texts: [String] { messages.filter { !$0.isOwn }.map(\.text) }
        var states: [ConnectionState] { events.compactMap { if case .state(let s) = $0 { s } else { nil } } }
        var notices: [ClientNotice] { events.compactMap { if case .notice(let n) = $0 { n } else { nil } } }
    }

    var members: [Member] = []
    private var sequence: UInt64 = 0
    /// What the relay has relayed, by sender and client message id (its ledger).
    private(set) var relayed: [String: Set<UInt64>] = [:]
    /// Every message relayed, as relayed (for a server that hands them over again).
    private(set) var log: [ChatMessage] = []
    /// Every key share relayed, to hand over again as a lying server would.
    private(set) var shares: [(from: String, to: String, payload: [UInt8], position: UInt64)] = []
    /// The relay's log id (a crash that loses the log would change it).
    var logID = [UInt8](repeating: 3, count: 16)
    /// When false, sends are held instead of relayed (a server about to crash).
    var relaying = true
    var held: [(from: String, request: SendRequest)] = []
    /// When true, relayed queries wait for `answerRelayedQueries` (a busy server).
    var holdsRelayedQueries = false
    private var heldQueries: [(member: Member, ids: [UInt64])] = []
    /// When true, identity requests are answered with no entries (a lying server).
    var omitsIdentities = false
    /// The name a login is welcomed under, from the one it asked for (a lying server).
    var welcomes: (String) -> String = { $0 }
    /// Devices' stores of their key state wait until the test lets them finish (`finishStores`).
    var holdsStores = false
    private var heldStores: [(member: Member, connection: Int, server: String, changes: KeyStateChanges, stream: String, position: UInt64)] = []
    /// When false, logins go unanswered (a server that hangs up on slow logins).
    var answersLogins = true
    /// When false, a member who leaves is not told it is done (the connection then drops).
    var leavesAnswered = true

    /// A core for `name`, not connected. `restarting`: the same device's app started again
    /// (its identity and key store, a new core with nothing in memory).
    func member(_ name: String, restarting device: Member? = nil, configure: (inout ClientConfiguration) -> Void = { _ in }) throws -> Member {
        var configuration = ClientConfiguration(host: "scripted", port: 1, username: name, password: Self.password,
                                                trust: TrustPolicy(vouched: fingerprint))
        configuration.minimumPasswordHashing = .testing
        configure(&configuration)
        let identity = try device?.identity ?? ClientIdentity.generate()
        let member = Member(core: ClientCore(configuration: configuration, identity: identity, store: MemoryStore(), random: countingRandom()),
                            name: name, identity: identity, keyStore: device?.keyStore ?? InMemoryKeyStateStore())
        if let device { members.removeAll { $0 === device } }
        members.append(member)
        return member
    }

    /// Feeds an input and routes everything that follows until all is quiet.
    func input(_ member: Member, _ input: ClientCore.Input) {
        member.core.handle(input, now: now.addingTimeInterval(member.clockOffset))
        settle()
    }

    /// Connects a member and answers its TCP connect; stops after the hello unless `login`.
    func connect(_ member: Member) {
        input(member, .connect)
        accept(member)
    }

    /// Answers the member's pending connection: TCP up, the server's hello.
    func accept(_ member: Member) {
        guard !member.opening.isEmpty else { return }
        let connection = member.opening.removeFirst()
        member.core.handle(.connected(connection: connection), now: now.addingTimeInterval(member.clockOffset))
        member.core.handle(.hello(connection: connection, hello, serverStatic: Array(key.publicKey.rawRepresentation),
                                  handshakeHash: Array(repeating: 7, count: 32)), now: now.addingTimeInterval(member.clockOffset))
        settle()
    }

    /// The connection drops (a crash, a cable): the member hears it closed, the others that it left.
    func drop(_ member: Member, because failure: ClientFailure? = nil) {
        guard let connection = member.connection else { return }
        leave(member)
        member.core.handle(.closed(connection: connection, failure), now: now.addingTimeInterval(member.clockOffset))
        settle()
    }

    func fire(_ timer: ClientCore.Timer, for member: Member) {
        member.timers[timer] = nil
        input(member, .timer(timer))
    }

    /// The relay restarts: everyone is cut off. What it acknowledged it had stored, and it
    /// still knows what it relayed (the real server reads that back from its log); what it
    /// held unacknowledged is lost.
    func crash() {
        held = []
        for member in members where member.connection != nil { drop(member, because: .connectionLost) }
    }

    // MARK: Routing

    func settle() {
        var quiet = false
        var rounds = 0
        while !quiet {
            rounds += 1
            // Cores that keep each other busy forever (asking again and again) are a bug.
            guard rounds < 10_000 else { Issue.record("the cores never went quiet"); return }
            quiet = true
            for member in members {
                let effects = member.core.takeEffects()
                if !effects.isEmpty { quiet = false }
                for effect in effects { perform(effect, of: member) }
            }
            for member in members {
                for (timer, delay) in member.timers where delay <= 0 {
                    member.timers[timer] = nil
                    member.core.handle(.timer(timer), now: now.addingTimeInterval(member.clockOffset))
                    quiet = false
                }
            }
        }
    }

    private func perform(_ effect: ClientCore.Effect, of member: Member) {
        switch effect {
        case .open(let connection, _, _):
            member.opening.append(connection)
        case .sendLogin(let connection, let payload):
            guard answersLogins, let login = try? LoginRequest(decoding: payload) else { return }
            logIn(member, login, connection: connection)
        case .write(let connection, let bytes):
            guard connection == member.connection, let record = try? ClientRecord(decoding: bytes) else { return }
            member.written.append(record)
            handle(record, from: member)
        case .flush:
            break
        case .close(let connection), .abort(let connection, _):
            let failure: ClientFailure? = if case .abort(_, let f) = effect { f } else { nil }
            if connection == member.connection { leave(member) }
            member.opening.removeAll { $0 == connection }
            member.core.handle(.closed(connection: connection, failure), now: now.addingTimeInterval(member.clockOffset))
        case .loadKeyState(let connection, let server):
            let state = try! member.keyStore.load(server: server, identity: member.identity.keys, policy: PrekeyPolicy(), now: now)
            member.core.handle(.keyState(connection: connection, state), now: now.addingTimeInterval(member.clockOffset))
        case .storeKeyState(let connection, let server, let changes, let stream, let position):
            guard !holdsStores else { return heldStores.append((member, connection, server, changes, stream, position)) }
            try! member.keyStore.save(server: server, changes, stream: stream, through: position)
            member.core.handle(.stored(connection: connection, position: position), now: now.addingTimeInterval(member.clockOffset))
        case .rewindStream(let server, let stream, let position):
            // At once: no test here holds stores across a log going back.
            try! member.keyStore.rewindStream(server: server, stream: stream, to: position)
        case .rotatePrekeys(let connection, let server):
            let state = try! member.keyStore.load(server: server, identity: member.identity.keys, policy: PrekeyPolicy(), now: now)
            member.core.handle(.prekeysRotated(connection: connection, state.prekeys), now: now.addingTimeInterval(member.clockOffset))
        case .schedule(let timer, let delay):
            member.timers[timer] = delay
        case .cancel(let timer):
            member.timers[timer] = nil
        case .event(let event):
            member.events.append(event)
        }
    }

    private var onlineMembers: [Member] { members.filter(\.online) }

    /// The server's database started afresh (its key kept): positions count from 1 again, in
    /// a log with another id.
    func resetLog() {
        sequence = 0
        log = []
        logID = [UInt8](repeating: logID[0] &+ 1, count: 16)
    }

    /// The held stores complete now, in order (or are lost, as in a crash: `finish` false).
    func finishStores(_ finish: Bool = true) {
        let stores = heldStores
        heldStores = []
        guard finish else { return }
        for s in stores {
            try! s.member.keyStore.save(server: s.server, s.changes, stream: s.stream, through: s.position)
            s.member.core.handle(.stored(connection: s.connection, position: s.position), now: now.addingTimeInterval(s.member.clockOffset))
        }
        settle()
    }

    /// The held stores fail (a full disk, a busy database): nothing of them is saved.
    func failStores(_ reason: String = "disk full") {
        let stores = heldStores
        heldStores = []
        for s in stores { s.member.core.handle(.storeFailed(connection: s.connection, reason), now: now.addingTimeInterval(s.member.clockOffset)) }
        settle()
    }

    /// Hands a record to a member's current connection, as a (possibly lying) server would.
    func deliver(_ record: ServerRecord, to member: Member) {
        member.core.handle(.record(connection: member.connection!, record), now: now.addingTimeInterval(member.clockOffset))
        settle()
    }

    private func logIn(_ member: Member, _ login: LoginRequest, connection: Int) {
        let user = OnlineUser(name: login.username, staticKey: Array(member.identity.noiseStatic.publicKey.rawRepresentation),
                              identityDigest: member.identity.bundle.digest, sessionNonce: login.sessionNonce)
        member.connection = connection
        member.user = user
        member.prekey = login.prekey
        member.core.handle(.record(connection: connection, .welcome(name: welcomes(login.username), time: millis, log: logID)), now: now.addingTimeInterval(member.clockOffset))
        for other in onlineMembers {
            other.core.handle(.record(connection: other.connection!, .presence(Presence(event: .joined, user: user, time: millis))), now: now.addingTimeInterval(other.clockOffset))
        }
        member.online = true
        member.core.handle(.record(connection: connection, .users(onlineMembers.compactMap(\.user), final: true)), now: now.addingTimeInterval(member.clockOffset))
    }

    private func leave(_ member: Member) {
        guard member.online, let user = member.user else { member.connection = nil; return }
        member.online = false
        member.connection = nil
        for other in onlineMembers {
            other.core.handle(.record(connection: other.connection!, .presence(Presence(event: .left, user: user, time: millis))), now: now.addingTimeInterval(other.clockOffset))
        }
    }

    private var millis: UInt64 { UInt64(now.timeIntervalSince1970 * 1000) }

    private func handle(_ record: ClientRecord, from member: Member) {
        switch record {
        case .send(let request):
            guard relaying else { return held.append((member.name, request)) }
            relay(request, from: member)
        case .keyShare(let to, let payload):
            guard let recipient = onlineMembers.first(where: { $0.name == to }) else { return }
            sequence += 1
            shares.append((member.name, to, payload, sequence))
            recipient.core.handle(.record(connection: recipient.connection!, .keyShare(from: member.name, payload: payload, position: sequence)), now: now.addingTimeInterval(recipient.clockOffset))
        case .identityRequest(let names):
            let entries = omitsIdentities ? [] : names.compactMap { name in
                onlineMembers.first { $0.name == name }.map { IdentityEntry(name: name, bundle: $0.identity.keys.encodedBundle, prekey: $0.prekey) }
            }
            member.core.handle(.record(connection: member.connection!, .identities(entries, final: true)), now: now.addingTimeInterval(member.clockOffset))
        case .relayedQuery(let ids):
            guard !holdsRelayedQueries else { return heldQueries.append((member, ids)) }
            let known = relayed[member.name] ?? []
            member.core.handle(.record(connection: member.connection!, .relayed(ids.filter(known.contains))), now: now.addingTimeInterval(member.clockOffset))
        case .bye:
            leave(member)
        case .ping(let token):
            member.core.handle(.record(connection: member.connection!, .pong(token)), now: now.addingTimeInterval(member.clockOffset))
        case .confirm:
            break
        case .leave:
            // Freed: the member hears it last, the others that they are no longer a member.
            guard let user = member.user, let connection = member.connection else { return }
            member.online = false
            member.connection = nil
            let removed = Presence(event: .removed, user: OnlineUser(name: user.name, staticKey: user.staticKey, online: false), time: millis)
            for other in onlineMembers { other.core.handle(.record(connection: other.connection!, .presence(removed)), now: now.addingTimeInterval(other.clockOffset)) }
            if leavesAnswered { member.core.handle(.record(connection: connection, .presence(removed)), now: now.addingTimeInterval(member.clockOffset)) }
        case .prekey(let signed):
            member.prekey = signed
            guard let user = member.user else { return }
            for other in onlineMembers where other !== member {
                other.core.handle(.record(connection: other.connection!, .presence(Presence(event: .newPrekey, user: user, time: millis))), now: now.addingTimeInterval(other.clockOffset))
            }
        }
    }

    /// What the real relay does with a send: drop a resend it relayed already, else number
    /// it, copy it to everyone it is for (the sender too), and acknowledge it.
    func relay(_ request: SendRequest, from member: Member, acknowledge: Bool = true) {
        guard relayed[member.name, default: []].insert(request.clientMessageID).inserted else {
            return member.core.handle(.record(connection: member.connection!, .ack(clientMessageID: request.clientMessageID, sequence: sequence)), now: now.addingTimeInterval(member.clockOffset))
        }
        sequence += 1
        let message = ChatMessage(sequence: sequence, time: stampsTime ?? millis, from: member.name, to: request.to,
                                  clientMessageID: request.clientMessageID, body: request.body)
        log.append(message)
        for recipient in onlineMembers where request.to.isEmpty || recipient.name == request.to || recipient === member {
            recipient.core.handle(.record(connection: recipient.connection!, .message(message)), now: now.addingTimeInterval(recipient.clockOffset))
        }
        if acknowledge {
            member.core.handle(.record(connection: member.connection!, .ack(clientMessageID: request.clientMessageID, sequence: sequence)), now: now.addingTimeInterval(member.clockOffset))
        }
    }

    func answerRelayedQueries() {
        holdsRelayedQueries = false
        let waiting = heldQueries
        heldQueries = []
        for (member, ids) in waiting where member.online { handle(.relayedQuery(ids), from: member) }
        settle()
    }

    /// Relays what was held (the server did not crash after all).
    func releaseHeld() {
        let waiting = held
        held = []
        for (name, request) in waiting {
            guard let member = onlineMembers.first(where: { $0.name == name }) else { continue }
            relay(request, from: member)
        }
        settle()
    }
}
