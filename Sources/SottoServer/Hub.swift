import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SottoCore

/// A logged-in member as the hub knows them.
final class OnlineMember {
    let name: Username
    let staticKey: [UInt8]
    /// The identity bundle (checked at login), handed out on request; its digest is listed.
    let identity: [UInt8]
    let identityDigest: [UInt8]
    /// Chosen by the member's client for this session; listed so shares can be bound to it.
    let sessionNonce: [UInt8]
    /// The static key as the message ledger looks it up.
    let ledgerIdentity: MessageLedger.Identity
    let session: ServerSessionHandler
    let mailbox: LoopMailbox
    /// Whether the room has been told of this member (guarded by the hub's lock). Until then
    /// they are left out of lists and directory answers, and leave without a word.
    var announced = false

    init(name: Username, staticKey: [UInt8], identity: [UInt8], identityDigest: [UInt8], sessionNonce: [UInt8],
         session: ServerSessionHandler, mailbox: LoopMailbox) {
        self.name = name
        self.staticKey = staticKey
        self.identity = identity
        self.identityDigest = identityDigest
        self.sessionNonce = sessionNonce
        ledgerIdentity = MessageLedger.Identity(staticKey)
        self.session = session
        self.mailbox = mailbox
    }

    var onlineUser: OnlineUser {
        OnlineUser(name: name.display, staticKey: staticKey, identityDigest: identityDigest, sessionNonce: sessionNonce)
    }
}

/// The shared state of one server: who is online, admission counts, login throttling and
/// the relay. Everything that orders output (sequence numbers, presence) happens under one
/// lock, and posting to loop mailboxes under that lock keeps every recipient's view in the
/// same server order.
final class Hub {
    private let lock = NIOLock()
    private let limits: ServerLimits
    private let logger: Logger
    private let mailboxes: [ObjectIdentifier: LoopMailbox]

    private var members: [String: OnlineMember] = [:]
    /// The same members by the look-alike skeleton of their names as written.
    private var byDisplayKey: [String: OnlineMember] = [:]
    private var sequence: UInt64 = 0
    private var ledger: MessageLedger
    private var throttle: LoginThrottle
    private var loginBudget: TokenBucket
    private var connections = 0
    private var connectionsByAddress: [String: Int] = [:]
    /// Room recipients grouped by loop; rebuilt lazily after membership changes.
    private var roomTargets: [(LoopMailbox, [ServerSessionHandler])] = []
    private var roomTargetsStale = true
    private var shuttingDown = false
    /// Joins and departures so far (the memory trimmer waits for it to stop moving).
    private var membershipChanges: UInt64 = 0
    /// Test builds only: sees every relayed message and decides what is delivered instead
    /// (a recording, tampering, replaying or reordering server). Called under the lock.
    var relayHook: ((ChatMessage) -> [ChatMessage])?

    /// Registered members, and where calls to them run (off the loops).
    let memberStore: MemberStore
    let blocking: BlockingWork

    init(limits: ServerLimits, loops: [EventLoop], logger: Logger, members: MemberStore, blocking: BlockingWork) {
        self.limits = limits
        self.logger = logger
        memberStore = members
        self.blocking = blocking
        var boxes: [ObjectIdentifier: LoopMailbox] = [:]
        for loop in loops { boxes[ObjectIdentifier(loop)] = LoopMailbox(loop: loop) }
        mailboxes = boxes
        ledger = MessageLedger(maxIdentities: limits.maxConnections * 2)
        throttle = LoginThrottle(limits: limits)
        loginBudget = TokenBucket(rate: limits.loginsPerSecond, capacity: limits.loginBurst, now: .now())
    }

    /// Milliseconds since 1970; a clock set before 1970 reads as 0 rather than trapping.
    static func now() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    func mailbox(for loop: EventLoop) -> LoopMailbox {
        // Embedded test loops are not part of the group: give them a mailbox of their own.
        lock.withLock { mailboxes[ObjectIdentifier(loop)] } ?? LoopMailbox(loop: loop)
    }

    // MARK: Admission

    enum Admission { case admitted, serverFull, tooManyFromAddress, shuttingDown }

    func admit(address: String) -> Admission {
        lock.withLock {
            if shuttingDown { return .shuttingDown }
            if connections >= limits.maxConnections { return .serverFull }
            if connectionsByAddress[address, default: 0] >= limits.maxConnectionsPerAddress { return .tooManyFromAddress }
            connections += 1
            connectionsByAddress[address, default: 0] += 1
            return .admitted
        }
    }

    func release(address: String) {
        lock.withLock {
            connections -= 1
            let n = connectionsByAddress[address, default: 1] - 1
            connectionsByAddress[address] = n > 0 ? n : nil
        }
    }

    var connectionCount: Int { lock.withLock { connections } }
    var memberCount: Int { lock.withLock { members.count } }
    var churn: UInt64 { lock.withLock { membershipChanges } }

    // MARK: Login

    enum LoginAdmission: Equatable {
        case examine
        /// This source failed recently: it may try again after this long.
        case throttled(TimeAmount)
        /// More logins arrive, from everywhere together, than the server examines per second.
        case busy
    }

    /// Whether a login arriving now is examined. Per source first (see `LoginThrottle`), then
    /// a budget for all sources together, so guesses spread over many addresses are bounded too.
    func admitLogin(address: String) -> LoginAdmission {
        let now = NIODeadline.now()
        return lock.withLock {
            if case .wait(let wait) = throttle.admit(address, now: now) { return .throttled(wait) }
            guard loginBudget.wait(now: now) == .zero else { return .busy }
            loginBudget.take(now: now)
            return .examine
        }
    }

    func recordLoginFailure(address: String) {
        lock.withLock { throttle.recordFailure(for: address, now: .now()) }
    }

    /// Binds the name to this identity at its first login, or checks it is theirs: on the
    /// blocking pool; the answer comes back on `loop`. `verifies` runs there too, and only
    /// when the name would be bound.
    func claim(_ name: Username, identity: [UInt8], on loop: EventLoop, verifies: @escaping @Sendable () -> Bool) -> EventLoopFuture<MemberClaim> {
        let store = memberStore
        return blocking.run(on: loop) { try store.claim(name, identity: identity, at: Self.now(), verifies: verifies) }
    }

    func withdraw(_ name: Username, identity: [UInt8]) {
        let store = memberStore, logger = self.logger
        logger.info("withdrew the registration of a refused login", metadata: ["user": "\(name.display)"])
        blocking.detach {
            do { try store.withdraw(name, identity: identity) } catch {
                logger.warning("could not withdraw a refused registration", metadata: ["error": "\(error)"])
            }
        }
    }

    enum JoinResult { case joined(OnlineMember), nameTaken, shuttingDown }

    /// Adds a member and sends them the welcome and the online list; the room hears of them
    /// at `announce`. A live session under the same name is refused unless it belongs to
    /// the same client identity, in which case the new session replaces the stale one (and
    /// is announced already unless its identity changed).
    func join(name: Username, staticKey: [UInt8], identity: [UInt8], identityDigest: [UInt8], sessionNonce: [UInt8],
              session: ServerSessionHandler, address: String) -> JoinResult {
        let mailbox = self.mailbox(for: session.loop)
        return lock.withLock {
            if shuttingDown { return .shuttingDown }
            let member = OnlineMember(name: name, staticKey: staticKey, identity: identity, identityDigest: identityDigest,
                                sessionNonce: sessionNonce, session: session, mailbox: mailbox)
            let replaced = members[name.key]
            if let replaced {
                guard replaced.staticKey == staticKey else { return .nameTaken }
            }
            // A name that reads as someone else's as written (aIice beside alice).
            if let holder = byDisplayKey[name.displayKey], holder !== replaced, holder.staticKey != staticKey { return .nameTaken }
            if let replaced {
                replaced.session.closeFromHub(ServerError(.replaced, fatal: true))
            }
            throttle.recordSuccess(for: address)
            let now = Self.now()
            if let replaced, replaced.announced, replaced.identityDigest != identityDigest {
                // The old identity leaves before the new session is in the room (it hears
                // nothing before its welcome); the new one is announced once verified.
                broadcastDeparture(of: replaced, time: now)
            }
            members[name.key] = member
            if let old = replaced, byDisplayKey[old.name.displayKey] === old { byDisplayKey[old.name.displayKey] = nil }
            byDisplayKey[name.displayKey] = member
            roomTargetsStale = true
            membershipChanges &+= 1
            // The room knows this identity already when it replaces its own stale session.
            member.announced = replaced?.announced == true && replaced?.identityDigest == identityDigest
            mailbox.post(ServerRecord.welcome(name: name.display, time: now).encoded(), to: [session])
            for page in userListPages(including: member) { mailbox.post(page, to: [session]) }
            return .joined(member)
        }
    }

    /// Tells the room a member joined (once their identity has been checked).
    func announce(_ member: OnlineMember) {
        lock.withLock {
            guard members[member.name.key] === member, !member.announced else { return }
            member.announced = true
            broadcast(ServerRecord.presence(Presence(event: .joined, user: member.onlineUser, time: Self.now())).encoded())
        }
    }

    func leave(_ member: OnlineMember) {
        lock.withLock {
            guard members[member.name.key] === member else { return }
            members[member.name.key] = nil
            if byDisplayKey[member.name.displayKey] === member { byDisplayKey[member.name.displayKey] = nil }
            roomTargetsStale = true
            membershipChanges &+= 1
            guard member.announced else { return }
            broadcastDeparture(of: member, time: Self.now())
        }
        let store = memberStore, name = member.name, logger = self.logger
        blocking.detach {
            do { try store.noteSeen(name, at: Self.now()) } catch {
                logger.warning("could not note when a member was last seen", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Caller holds the lock. A `left` presence carries no digest and no session nonce.
    private func broadcastDeparture(of member: OnlineMember, time: UInt64) {
        var user = member.onlineUser
        user.identityDigest = []
        user.sessionNonce = []
        broadcast(ServerRecord.presence(Presence(event: .left, user: user, time: time)).encoded())
    }

    /// The online list in records that each fit one transport message: everyone announced,
    /// and the newcomer it is for.
    private func userListPages(including newcomer: OnlineMember) -> [[UInt8]] {
        let users = members.values.lazy.filter { $0.announced || $0 === newcomer }.map(\.onlineUser).sorted { $0.name < $1.name }
        return Self.pages(of: users, length: \.encodedLength,
                          record: { ServerRecord.users($0, final: $1) })
    }

    /// Identity bundles of the named members (empty for anyone not online), in records that
    /// each fit one transport message, the last marked final.
    func identityPages(for names: [String]) -> [[UInt8]] {
        let entries: [IdentityEntry] = lock.withLock {
            names.map { name in
                IdentityEntry(name: name, bundle: (try? Username(name)).flatMap { members[$0.key] }.flatMap { $0.announced ? $0.identity : nil } ?? [])
            }
        }
        return Self.pages(of: entries, length: \.encodedLength, record: { ServerRecord.identities($0, final: $1) })
    }

    /// Splits a list into records that each fit one transport message (`length` is an
    /// entry's encoded size); the last one is marked final, and an empty list is one record.
    private static func pages<Entry>(of entries: [Entry], length: (Entry) -> Int, record: ([Entry], Bool) -> ServerRecord) -> [[UInt8]] {
        // What a page costs besides its entries, from the writer itself.
        let header = record([], true).encoded().count, limit = WireLimits.maxRecordLength - 16
        var pages: [[UInt8]] = []
        var current: [Entry] = []
        var size = header
        for entry in entries {
            let n = length(entry)
            if size + n > limit, !current.isEmpty {
                pages.append(record(current, false).encoded())
                current = []
                size = header
            }
            current.append(entry)
            size += n
        }
        pages.append(record(current, true).encoded())
        return pages
    }

    // MARK: Relay

    func relay(from member: OnlineMember, _ request: SendRequest) {
        lock.withLock {
            guard members[member.name.key] === member else {
                logger.debug("dropped a message from a session that already left", metadata: ["user": "\(member.name.display)"])
                return
            }
            if ledger.isDuplicate(request.clientMessageID, from: member.ledgerIdentity) {
                logger.debug("acknowledged a resent message without relaying it", metadata: ["user": "\(member.name.display)", "id": "\(request.clientMessageID & 0xffff_ffff)"])
                member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: ServerRecord.alreadyRelayed).encoded(), to: [member.session])
                return
            }
            var recipient: OnlineMember?
            if !request.to.isEmpty {
                recipient = (try? Username(request.to)).flatMap { members[$0.key] }
                guard recipient != nil else {
                    member.mailbox.post(ServerRecord.error(ServerError(.unknownRecipient, "\(request.to) is not online.", fatal: false)).encoded(), to: [member.session])
                    member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: 0).encoded(), to: [member.session])
                    return
                }
            }
            sequence += 1
            ledger.record(request.clientMessageID, from: member.ledgerIdentity)
            let message = ChatMessage(
                sequence: sequence, time: Self.now(), from: member.name.display, to: recipient?.name.display ?? "",
                clientMessageID: request.clientMessageID, body: request.body)
            for message in relayHook?(message) ?? [message] {
                let record = ServerRecord.message(message).encoded()
                if let recipient {
                    recipient.mailbox.post(record, to: [recipient.session])
                    if recipient !== member { member.mailbox.post(record, to: [member.session]) }
                } else {
                    broadcast(record)
                }
            }
            member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: sequence).encoded(), to: [member.session])
        }
    }

    /// Which of these ids from this member's identity were relayed already (the ledger's view).
    func relayedAmong(_ ids: [UInt64], from member: OnlineMember) -> [UInt64] {
        lock.withLock { ids.filter { ledger.isDuplicate($0, from: member.ledgerIdentity) } }
    }

    /// Passes a sealed chain to its one recipient; silently dropped if they are gone (the
    /// sender learns of departures from presence, and starts new chains anyway).
    func relayKeyShare(from member: OnlineMember, to recipientName: String, payload: [UInt8]) {
        lock.withLock {
            guard members[member.name.key] === member,
                  let recipient = (try? Username(recipientName)).flatMap({ members[$0.key] }), recipient !== member
            else { return }
            recipient.mailbox.post(ServerRecord.keyShare(from: member.name.display, payload: payload).encoded(), to: [recipient.session])
        }
    }

    /// Caller holds the lock.
    private func broadcast(_ record: [UInt8]) {
        if roomTargetsStale {
            var grouped: [ObjectIdentifier: (LoopMailbox, [ServerSessionHandler])] = [:]
            for m in members.values {
                grouped[ObjectIdentifier(m.mailbox), default: (m.mailbox, [])].1.append(m.session)
            }
            roomTargets = Array(grouped.values)
            roomTargetsStale = false
        }
        for (mailbox, sessions) in roomTargets { mailbox.post(record, to: sessions) }
    }

    // MARK: Shutdown

    /// Refuses new logins and tells every member the server is going away.
    func beginShutdown() {
        let everyone: [OnlineMember] = lock.withLock {
            shuttingDown = true
            return Array(members.values)
        }
        for m in everyone { m.session.closeFromHub(ServerError(.shuttingDown, fatal: true)) }
    }
}
