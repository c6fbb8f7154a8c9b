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
    /// Chosen by the member's client for this session; listed so a new session is told apart.
    let sessionNonce: [UInt8]
    /// Their current signed prekey (checked at login, or when they published a newer one:
    /// guarded by the hub's lock), handed out with their bundle.
    var prekey: [UInt8]
    /// The static key as the message ledger looks it up.
    let ledgerIdentity: MessageLedger.Identity
    let session: ServerSessionHandler
    let mailbox: LoopMailbox
    /// Whether the room has been told of this member (guarded by the hub's lock). Until then
    /// they are left out of lists and directory answers, and leave without a word.
    var announced = false
    /// Whether what waited for them has been handed over (guarded by the hub's lock): from
    /// then on new entries of their stream are posted to them as they are stored.
    var live = false
    /// Whether handing over their stream has begun (once per session).
    var streaming = false
    /// The last position given out when the room was told of them (guarded by the hub's
    /// lock): a new member's stream starts after it. Everything stored later is theirs,
    /// their own first messages included, however soon those are committed.
    var streamFloor: UInt64 = 0
    /// They asked to leave the room for good (guarded by the hub's lock): their close says
    /// nothing to the room, which hears `removed` once the name is freed.
    var leaving = false
    /// Whether where their stream starts is known (guarded by the hub's lock): a confirmation
    /// before it could make a newcomer's stream start at 1 instead of now, and hand them the
    /// log's past.
    var streamStarted = false
    /// This login registered the name: their stream starts at this session's floor, recorded
    /// as they are announced, whatever happens to the session afterwards.
    var registeredNow = false
    /// Acks of messages they sent while catching up: their own copies come with the stream,
    /// so the acks follow it (an ack before its copy would make the copy look forged).
    var deferredAcks: [[UInt8]] = []
    /// Their bytes: counted against the per-connection bound like anything else that waits.
    var deferredAckBytes = 0

    init(name: Username, staticKey: [UInt8], identity: [UInt8], identityDigest: [UInt8], sessionNonce: [UInt8], prekey: [UInt8],
         session: ServerSessionHandler, mailbox: LoopMailbox) {
        self.prekey = prekey
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

    var directoryEntry: DirectoryEntry {
        DirectoryEntry(key: name.key, name: name.display, staticKey: staticKey, bundle: identity, digest: identityDigest, prekey: prekey, lastSeen: 0)
    }
}

/// The shared state of one server: its members and who is online, admission counts, login
/// throttling and the relay. Everything that orders output (positions, presence) happens
/// under one lock, and posting to loop mailboxes under that lock keeps every recipient's view
/// in the same server order.
///
/// What is relayed to members is stored first: each message and key share gets the next
/// position of the delivery log, the writer commits whatever piled up in one transaction (on
/// its own thread), and only then are the entries posted to the members who are live and the
/// sender acknowledged. A member who logs in is handed what waited for them from the log,
/// page by page, and becomes live once they have caught up with what is committed.
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
    /// The delivery log, written by `writer` alone (one thread: commits in position order).
    let deliveries: DeliveryStore
    private let writer: BatchWorker?
    let retention: Retention
    /// Registered members the list shows, by `Username.key` (loaded at start, kept here).
    private var directory: [String: DirectoryEntry] = [:]
    /// What waits for each member from each sender's device (`DirectBudget`): a sender may
    /// fill a quarter of what may wait for a member, so that it takes four devices sending
    /// past it to push out what others sent.
    private var directBudget: DirectBudget
    private var roomBudget: RoomBudget
    /// Names whose members are leaving (`leaveForGood`): nobody joins under them until the
    /// store has freed them.
    private var namesBeingFreed: Set<String> = []
    /// When each member last published a prekey during a session (`publish`).
    private var lastPrekeyPublished: [String: NIODeadline] = [:]
    /// Positions are durable through here.
    private var committed: UInt64 = 0
    /// The delivery log's id, told in the welcome.
    private let log: [UInt8]
    /// What the next commit writes, and what is posted once it is durable.
    private var batch = DeliveryBatch()
    private var afterCommit: [AfterCommit] = []
    private var writeScheduled = false
    /// Confirmations wait up to `confirmationDelay` for a commit with more to write, then go
    /// on their own: 1,000 members confirming as they read each made a commit of their own,
    /// most of the writer's work at 1,000 messages a second. A confirmation lost to a crash
    /// only means a client is handed again what it stored (and skips it).
    private var confirmationsDue = false
    private var confirmationTimerSet = false
    static let confirmationDelay = TimeAmount.milliseconds(250)
    /// The last entries committed, in position order: a member whose last page was read while
    /// more was committed is handed those from here, and goes live without another read
    /// (under steady traffic, another read would find more again, and again).
    private var recent = CircularBuffer<(position: UInt64, recipient: String?, record: [UInt8])>()
    private var recentBytes = 0
    static let recentEntries = 4_096
    /// Group commits: how many entries a busy writer waits for, and for how long (µs).
    static let groupCommitEntries = 64
    static let groupCommitLinger: UInt32 = 300
    static let recentMaxBytes = 8 << 20

    private enum AfterCommit {
        /// A stored entry: to every live member (nil) or to one, by key.
        case entry([UInt8], recipient: String?)
        case ack(OnlineMember, [UInt8])
        /// A left member's name, free for a login once the commit that drops what waited for
        /// them is done (a newcomer under it could otherwise have theirs dropped with it).
        case nameFreed(String)
    }

    /// A catch-up page: at most this many entries, or this many bytes (a whole page fits the
    /// per-connection queue with room to spare).
    static let pageEntries = 256
    static let pageBytes = 256 * 1024

    init(limits: ServerLimits, loops: [EventLoop], logger: Logger, members: MemberStore, deliveries: DeliveryStore,
         retention: Retention = Retention(), blocking: BlockingWork) throws {
        self.limits = limits
        self.logger = logger
        memberStore = members
        self.deliveries = deliveries
        self.retention = retention
        self.blocking = blocking
        writer = blocking.isInline ? nil : BatchWorker(name: "sotto-writer")
        var boxes: [ObjectIdentifier: LoopMailbox] = [:]
        for loop in loops { boxes[ObjectIdentifier(loop)] = LoopMailbox(loop: loop) }
        mailboxes = boxes
        ledger = MessageLedger(maxIdentities: limits.maxConnections * 2)
        throttle = LoginThrottle(limits: limits)
        loginBudget = TokenBucket(rate: limits.loginsPerSecond, capacity: limits.loginBurst, now: .now())
        let startup = try deliveries.startup()
        log = startup.log
        committed = startup.lastPosition
        sequence = startup.lastPosition
        for entry in startup.directory { directory[entry.key] = entry }
        directBudget = DirectBudget(share: retention.maxBytesPerMember / 4, stored: startup.waitingDirect)
        // Every member is away at the start: what the room stores waits for them from where each stands.
        let positions = try deliveries.confirmedPositions()
        roomBudget = RoomBudget(share: retention.maxBytesPerMember / 4,
                                away: Dictionary(uniqueKeysWithValues: startup.directory.map { ($0.key, positions[$0.key] ?? 0) }))
        // What was relayed before a restart is still known: a resend is acknowledged, not relayed twice.
        for sent in startup.sent {
            ledger.record(UInt64(sent.epoch) << 32 | UInt64(sent.highest), from: MessageLedger.Identity(sent.sender))
        }
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
    func claim(_ name: Username, identity: [UInt8], address: String, on loop: EventLoop,
               verifies: @escaping @Sendable () -> Bool) -> EventLoopFuture<MemberClaim> {
        let store = memberStore
        return blocking.run(on: loop) {
            try store.claim(name, identity: identity, at: Self.now(), mayRegister: { self.mayRegister(from: address) }, verifies: verifies)
        }
    }

    /// Registrations per source (an address, or an IPv6 /64): a few at once, then one every
    /// `registrationInterval`; the member list every login receives cannot be grown by one
    /// password holder minting identities.
    private var registrations: [String: TokenBucket] = [:]
    private func mayRegister(from address: String) -> Bool {
        let now = NIODeadline.now(), source = LoginThrottle.source(address)
        return lock.withLock {
            var bucket = registrations[source] ?? TokenBucket(rate: 1 / limits.registrationInterval, capacity: Double(limits.registrationBurst), now: now)
            guard bucket.wait(now: now) == .zero else { return false }
            bucket.take(now: now)
            registrations[source] = bucket
            // Forget full buckets now and then: sources come and go.
            if registrations.count > 4_096 {
                registrations = registrations.filter { entry in
                    var bucket = entry.value
                    return bucket.wait(now: now) > .zero || entry.key == source
                }
            }
            return true
        }
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
    func join(name: Username, staticKey: [UInt8], identity: [UInt8], identityDigest: [UInt8], sessionNonce: [UInt8], prekey: [UInt8],
              session: ServerSessionHandler, address: String, registered: Bool = false, returning: Bool = false) -> JoinResult {
        let mailbox = self.mailbox(for: session.loop)
        return lock.withLock {
            if shuttingDown { return .shuttingDown }
            // Its member is leaving: the name is free in a moment, not yet.
            if namesBeingFreed.contains(name.key) { return .nameTaken }
            let member = OnlineMember(name: name, staticKey: staticKey, identity: identity, identityDigest: identityDigest,
                                      sessionNonce: sessionNonce, prekey: prekey, session: session, mailbox: mailbox)
            member.registeredNow = registered
            let replaced = members[name.key]
            if let replaced {
                guard replaced.staticKey == staticKey else { return .nameTaken }
            }
            // A name that reads as someone else's as written (aIice beside alice). Not for a
            // name the member store found registered to this identity: its own, though a
            // look-alike registered before keys were folded may be online.
            if !returning, let holder = byDisplayKey[name.displayKey], holder !== replaced, holder.staticKey != staticKey { return .nameTaken }
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
            roomBudget.returned(name.key)
            if let old = replaced, byDisplayKey[old.name.displayKey] === old { byDisplayKey[old.name.displayKey] = nil }
            byDisplayKey[name.displayKey] = member
            roomTargetsStale = true
            liveTargetsStale = true
            membershipChanges &+= 1
            // The room knows this identity already when it replaces its own stale session.
            member.announced = replaced?.announced == true && replaced?.identityDigest == identityDigest
            mailbox.post(ServerRecord.welcome(name: name.display, time: now, log: log).encoded(), to: [session])
            for page in userListPages(including: member) { mailbox.post(page, to: [session]) }
            return .joined(member)
        }
    }

    /// Tells the room a member is online (once their identity has been checked), keeps their
    /// keys for the member list, and starts handing them what waited for them.
    func announce(_ member: OnlineMember) {
        let first: Bool = lock.withLock {
            guard members[member.name.key] === member, !member.streaming else { return false }
            member.streaming = true
            member.streamFloor = sequence
            if member.registeredNow {
                // Recorded now, not once the log says their stream never started: a first
                // session closed before that answer kept no start, and the next login began
                // the stream anew, past everything sent to them meanwhile.
                batch.positions[member.name.key] = sequence
                confirmationsDue = true
                scheduleWrite()
            }
            // A session replacing its own stale one was announced already.
            guard !member.announced else { return true }
            member.announced = true
            var entry = member.directoryEntry
            if let known = directory[member.name.key] {
                entry.lastSeen = known.lastSeen
                // A prekey belongs to the identity that signed it.
                if entry.prekey.isEmpty, known.digest == entry.digest { entry.prekey = known.prekey }
            }
            if directory[member.name.key] != entry {
                directory[member.name.key] = entry
                batch.entries.append(entry)
                scheduleWrite()
            }
            broadcast(ServerRecord.presence(Presence(event: .joined, user: member.onlineUser, time: Self.now())).encoded())
            return true
        }
        kickWriter()
        if first { startStream(member) }
    }

    // MARK: A member's stream

    /// Where the member's stream stands (a new member's starts now), then what waited.
    private func startStream(_ member: OnlineMember) {
        let store = deliveries, key = member.name.key
        blocking.run(on: member.session.loop) { try store.stream(of: key) }.whenComplete { result in
            switch result {
            case .failure(let error):
                self.logger.error("delivery log failed", metadata: ["error": "\(error)"])
                member.session.closeFromHub(ServerError(.other, "The server could not read what waited for you; try again later.", fatal: true))
            case .success(let (position, dropped)):
                guard let position else {
                    // Registered just now: nothing before the room heard of them is theirs.
                    // (Not what is committed by now: their own first message may be.)
                    let start: UInt64? = self.lock.withLock {
                        // Gone or leaving meanwhile: no position for a name being freed.
                        guard self.members[key] === member, !member.leaving else { return nil }
                        member.streamStarted = true
                        self.batch.positions[key] = member.streamFloor
                        self.confirmationsDue = true  // where a new member's stream starts does not wait
                        self.scheduleWrite()
                        return member.streamFloor
                    }
                    self.kickWriter()
                    guard let start else { return }
                    return self.catchUp(member, after: start, dropped: 0)
                }
                self.lock.withLock { member.streamStarted = true }
                self.catchUp(member, after: position, dropped: dropped)
            }
        }
    }

    /// One page of what is committed and not yet handed over; then, once nothing more was
    /// committed meanwhile, the member is live. Pages wait for the member to read the last.
    private func catchUp(_ member: OnlineMember, after position: UInt64, dropped: UInt64) {
        let store = deliveries, key = member.name.key
        let through = lock.withLock { committed }
        blocking.run(on: member.session.loop) {
            try store.pending(for: key, after: position, through: through, limit: Self.pageEntries, maxBytes: Self.pageBytes)
        }.whenComplete { result in
            switch result {
            case .failure(let error):
                self.logger.error("delivery log failed", metadata: ["error": "\(error)"])
                member.session.closeFromHub(ServerError(.other, "The server could not read what waited for you; try again later.", fatal: true))
            case .success(let page):
                let stillHere = self.lock.withLock { self.members[key] === member }
                guard stillHere else { return }
                for entry in page.entries { member.mailbox.post(entry.record, to: [member.session]) }
                if !page.complete, let last = page.entries.last {
                    return member.session.whenDrained { self.catchUp(member, after: last.position, dropped: dropped) }
                }
                let live: Bool = self.lock.withLock {
                    guard self.members[key] === member else { return true }
                    // A newcomer's stream starts at a position given out before it was
                    // committed: live only once it is, or what the room said before they
                    // joined would reach them as it is committed.
                    if self.committed < position { return false }
                    if self.committed != through {
                        guard let oldest = self.recent.first?.position, oldest <= through + 1 else { return false }
                        for entry in self.recent where entry.position > max(through, position) && (entry.recipient == nil || entry.recipient == key) {
                            member.mailbox.post(entry.record, to: [member.session])
                        }
                    }
                    member.live = true
                    member.mailbox.post(ServerRecord.caughtUp(position: self.committed, dropped: dropped).encoded(), to: [member.session])
                    for ack in member.deferredAcks { member.mailbox.post(ack, to: [member.session]) }
                    member.deferredAcks = []
                    member.deferredAckBytes = 0
                    self.liveTargetsStale = true
                    if dropped > 0 {
                        self.batch.droppedReported.insert(key)
                        self.scheduleWrite()
                    }
                    return true
                }
                self.kickWriter()
                guard !live else { return }
                if self.lock.withLock({ self.committed < position }) {
                    return self.whenCommitted(through: position, member: member, dropped: dropped,
                                              deadline: .now() + Self.startCommitWait)
                }
                self.catchUp(member, after: max(through, position), dropped: dropped)
            }
        }
    }

    /// A newcomer's stream starts at a position whose commit is on its way: looked at again
    /// shortly, on their loop, without reading the store. A commit that does not come (the
    /// log failing, and nothing after it succeeding) closes them rather than keep them waiting.
    private func whenCommitted(through position: UInt64, member: OnlineMember, dropped: UInt64, deadline: NIODeadline) {
        member.session.loop.scheduleTask(in: .milliseconds(2)) {
            let (here, done): (Bool, Bool) = self.lock.withLock { (self.members[member.name.key] === member, self.committed >= position) }
            guard here else { return }
            if done { return self.catchUp(member, after: position, dropped: dropped) }
            guard NIODeadline.now() < deadline else {
                return member.session.closeFromHub(ServerError(.other, "The server could not store what was sent to the room just now; try again later.", fatal: true))
            }
            self.whenCommitted(through: position, member: member, dropped: dropped, deadline: deadline)
        }
    }

    static let startCommitWait = TimeAmount.seconds(10)

    /// The member's client stored its stream through `position`: the log may let go of it.
    func confirm(_ member: OnlineMember, through position: UInt64) {
        let setTimer: Bool = lock.withLock {
            guard members[member.name.key] === member, member.streamStarted else { return false }
            // Nobody confirms what was never committed.
            let position = min(position, committed)
            let key = member.name.key
            guard position > batch.positions[key] ?? 0 else { return false }
            batch.positions[key] = position
            // What they read of each sender's is no longer that sender's to count.
            directBudget.confirmed(key, through: position)
            guard !confirmationTimerSet else { return false }
            confirmationTimerSet = true
            return true
        }
        guard setTimer else { return }
        member.session.loop.scheduleTask(in: Self.confirmationDelay) {
            self.lock.withLock {
                self.confirmationTimerSet = false
                self.confirmationsDue = true
                self.scheduleWrite()
            }
            self.kickWriter()
        }
    }

    // MARK: The writer

    /// Caller holds the lock: a commit will run (`kickWriter` starts it, after unlocking).
    private func scheduleWrite() {
        guard !writeScheduled else { return }
        writeScheduled = true
        needsKick = true
    }
    private var needsKick = false

    /// Starts the writer if `scheduleWrite` asked for it. Never called under the lock.
    private func kickWriter() {
        let start: Bool = lock.withLock {
            defer { needsKick = false }
            return needsKick
        }
        guard start else { return }
        if let writer { writer.submit { self.writeBatches() } } else { writeBatches() }
    }

    /// Commits what piled up, posts it, and again while more came meanwhile.
    private func writeBatches() {
        var lastCommit: UInt64 = 0
        while true {
            // Busy (the last commit just ended) and little waiting: a moment more gathers a
            // larger group, so a commit's fixed cost is shared by more entries (a saturated
            // fan-out committed 1.9 entries at a time without it, 8–25 with it). (Waiting only
            // when entries came fast enough to gather more was tried: at 1,000 messages a
            // second the smaller commits cost more than the sleeps they saved.)
            if writer != nil, lastCommit > 0, DispatchTime.now().uptimeNanoseconds &- lastCommit < 2_000_000,
               lock.withLock({ batch.deliveries.count }) < Self.groupCommitEntries {
                usleep(Self.groupCommitLinger)
            }
            let taken: (batch: DeliveryBatch, posts: [AfterCommit])? = lock.withLock {
                guard batch.hasMoreThanConfirmations || !afterCommit.isEmpty || (confirmationsDue && !batch.isEmpty) else {
                    writeScheduled = false
                    return nil
                }
                defer { batch = DeliveryBatch(); afterCommit = []; confirmationsDue = false }
                return (batch, afterCommit)
            }
            guard let (next, posts) = taken else { return }
            var failed = false
            defer { lastCommit = DispatchTime.now().uptimeNanoseconds }
            do { try deliveries.commit(next) } catch {
                failed = true
                logger.critical("could not store to the delivery log: messages are refused", metadata: ["error": "\(error)"])
            }
            lock.withLock {
                if !failed, let last = next.deliveries.last?.position {
                    committed = max(committed, last)
                    for d in next.deliveries {
                        recent.append((d.position, d.recipient, d.record))
                        recentBytes += d.record.count
                    }
                    while recent.count > Self.recentEntries || recentBytes > Self.recentMaxBytes, let oldest = recent.popFirst() {
                        recentBytes -= oldest.record.count
                    }
                }
                for post in posts {
                    switch post {
                    case .entry(let record, let recipient):
                        guard !failed else { continue }
                        if let recipient {
                            if let m = members[recipient], m.live { m.mailbox.post(record, to: [m.session]) }
                        } else {
                            broadcastLive(record)
                        }
                    case .nameFreed(let key):
                        namesBeingFreed.remove(key)
                    case .ack(let sender, let ack):
                        guard members[sender.name.key] === sender else { continue }
                        let record = failed ? ServerRecord.ack(clientMessageID: Self.ackID(ack), sequence: 0).encoded() : ack
                        if sender.live {
                            sender.mailbox.post(record, to: [sender.session])
                        } else if sender.deferredAckBytes + record.count > limits.maxQueuedBytes {
                            // Sending on and on while not reading what waited for them.
                            sender.deferredAcks = []
                            sender.session.closeFromHub(ServerError(.tooSlow, fatal: true))
                        } else {
                            sender.deferredAcks.append(record)
                            sender.deferredAckBytes += record.count
                        }
                    }
                }
            }
        }
    }

    private static func ackID(_ ack: [UInt8]) -> UInt64 {
        if case .ack(let id, _)? = try? ServerRecord(decoding: ack) { return id }
        return 0
    }

    /// Names the operator released (`sotto-server members release`, perhaps from another
    /// process) leave the member list: the room is told, so every member starts new chains
    /// for those who remain, and what waited for them is dropped. A member online keeps their
    /// session until it ends.
    func syncMembers() {
        let store = memberStore, logger = self.logger
        blocking.detach {
            let registered: Set<String>
            do { registered = Set(try store.members().map(\.key)) } catch {
                return logger.warning("could not read the members", metadata: ["error": "\(error)"])
            }
            self.lock.withLock {
                for (key, entry) in self.directory where !registered.contains(key) && self.members[key] == nil {
                    self.directory[key] = nil
                    self.roomBudget.returned(key)
                    self.batch.released.insert(key)
                    self.scheduleWrite()
                    logger.info("a released member left the room", metadata: ["user": "\(entry.name)"])
                    let user = OnlineUser(name: entry.name, staticKey: entry.staticKey, online: false, lastSeen: entry.lastSeen)
                    self.broadcast(ServerRecord.presence(Presence(event: .removed, user: user, time: Self.now())).encoded())
                }
            }
            self.kickWriter()
        }
    }

    /// Drops what every member confirmed and what retention no longer keeps (on the writer);
    /// `then` runs once it is done.
    func prune(then done: (@Sendable () -> Void)? = nil) {
        // Confirmations waiting for a commit go first: the prune counts from them.
        lock.withLock {
            guard !batch.positions.isEmpty else { return }
            confirmationsDue = true
            scheduleWrite()
        }
        kickWriter()
        let work = {
            do {
                try self.deliveries.prune(now: Self.now(), retention: self.retention)
                // What retention gave up no longer waits for anyone: room shares count from there.
                let positions = try self.deliveries.confirmedPositions()
                self.lock.withLock { self.roomBudget.positionsMoved(positions) }
            } catch {
                self.logger.warning("could not prune the delivery log", metadata: ["error": "\(error)"])
            }
            done?()
        }
        if let writer { writer.submit(work) } else { work() }
    }

    func leave(_ member: OnlineMember) {
        let wasHere: Bool = lock.withLock {
            guard members[member.name.key] === member else { return false }
            // What they confirmed goes now: they come back to what they have not stored.
            if batch.positions[member.name.key] != nil {
                confirmationsDue = true
                scheduleWrite()
            }
            members[member.name.key] = nil
            if byDisplayKey[member.name.displayKey] === member { byDisplayKey[member.name.displayKey] = nil }
            roomTargetsStale = true
            liveTargetsStale = true
            membershipChanges &+= 1
            // Leaving for good: the room hears `removed` once the name is freed.
            if member.leaving { return false }
            // Away from now: what the room stores waits for them.
            roomBudget.wentAway(member.name.key, at: sequence)
            guard member.announced else { return true }
            let now = Self.now()
            directory[member.name.key]?.lastSeen = now
            broadcastDeparture(of: member, time: now)
            return true
        }
        kickWriter()
        // A session replaced by a newer one, or a member who left for good: nothing to note.
        guard wasHere else { return }
        let store = memberStore, name = member.name, logger = self.logger
        blocking.detach {
            do { try store.noteSeen(name, at: Self.now()) } catch {
                logger.warning("could not note when a member was last seen", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The member leaves the room for good (`/leave`). Their name is marked as being freed
    /// first (no session may join under it meanwhile, and a close says nothing to the room),
    /// then freed in the store (only if it is still theirs); then they leave the list, what
    /// waited for them is dropped and the room hears `removed`, so every member starts new
    /// chains for those who remain, whether or not their connection lasted that long.
    /// Answered on `loop` with that presence, for the one who left; nil if they were not in
    /// the room (or already leaving). Failed if the store failed: they are still a member.
    func leaveForGood(_ member: OnlineMember, on loop: EventLoop) -> EventLoopFuture<Presence?> {
        let store = memberStore, name = member.name, key = name.key
        let binding = member.identityDigest.isEmpty ? member.staticKey : member.identityDigest
        let leaving: Bool = lock.withLock {
            guard members[key] === member, !member.leaving else { return false }
            member.leaving = true
            namesBeingFreed.insert(key)
            return true
        }
        guard leaving else { return loop.makeSucceededFuture(nil) }
        return blocking.run(on: loop) { try store.withdraw(name, identity: binding) }
            .flatMapErrorThrowing { error in
                self.lock.withLock {
                    self.namesBeingFreed.remove(key)
                    member.leaving = false
                    // Closed meanwhile: the room hears now that they went away, as they did.
                    if self.members[key] !== member, member.announced { self.broadcastDeparture(of: member, time: Self.now()) }
                }
                throw error
            }
            .map { () -> Presence? in self.freed(member) }
    }

    /// The store let go of a leaving member's name: the hub does too.
    private func freed(_ member: OnlineMember) -> Presence {
        let name = member.name, key = name.key
        let removed: Presence = lock.withLock {
            // Free for a login once the release below is committed.
            afterCommit.append(.nameFreed(key))
            if members[key] === member {
                members[key] = nil
                roomTargetsStale = true
                liveTargetsStale = true
                membershipChanges &+= 1
            }
            if byDisplayKey[name.displayKey] === member { byDisplayKey[name.displayKey] = nil }
            // Their own confirmations go with everything else of theirs.
            batch.positions[key] = nil
            directBudget.released(key)
            roomBudget.returned(key)
            directory[key] = nil
            lastPrekeyPublished[key] = nil
            batch.released.insert(key)
            scheduleWrite()
            let now = Self.now()
            let user = OnlineUser(name: name.display, staticKey: member.staticKey, online: false, lastSeen: now)
            let presence = Presence(event: .removed, user: user, time: now)
            if member.announced { broadcast(ServerRecord.presence(presence).encoded()) }
            return presence
        }
        kickWriter()
        logger.info("a member left the room", metadata: ["user": "\(name.display)"])
        return removed
    }

    enum PrekeyPublication: Equatable { case published, notNewer, tooSoon, notInRoom }

    /// A member's prekey, checked by their session (signed by their identity, current): listed
    /// from now on if it is newer than the one listed, kept, and announced so members fetch it
    /// when they next seal to them. One per name per `prekeyInterval`: each is announced to
    /// the whole room, and a new session (a reconnect) must not reset that.
    func publish(prekey: [UInt8], created: Date, signingKey: [UInt8], of member: OnlineMember) -> PrekeyPublication {
        let key = member.name.key
        let outcome: PrekeyPublication = lock.withLock {
            guard members[key] === member, member.announced, !member.leaving else { return .notInRoom }
            let now = NIODeadline.now()
            if let last = lastPrekeyPublished[key], now - last < Self.prekeyInterval { return .tooSoon }
            // The one listed: the directory's, which may be newer than this login's.
            var listed = member.prekey
            if let entry = directory[key], entry.digest == member.identityDigest, !entry.prekey.isEmpty { listed = entry.prekey }
            if let current = try? SignedPrekey(decoding: listed, signingKey: signingKey), created <= current.created { return .notNewer }
            lastPrekeyPublished[key] = now
            member.prekey = prekey
            if var entry = directory[key], entry.digest == member.identityDigest {
                entry.prekey = prekey
                directory[key] = entry
                batch.entries.append(entry)
                scheduleWrite()
            }
            broadcast(ServerRecord.presence(Presence(event: .newPrekey, user: member.onlineUser, time: Self.now())).encoded())
            return .published
        }
        kickWriter()
        return outcome
    }

    static let prekeyInterval = TimeAmount.minutes(10)

    /// Caller holds the lock. Going offline is not leaving: the member stays listed, away
    /// since `time` (no session nonce: that session is over).
    private func broadcastDeparture(of member: OnlineMember, time: UInt64) {
        var user = member.onlineUser
        user.sessionNonce = []
        user.online = false
        user.lastSeen = time
        broadcast(ServerRecord.presence(Presence(event: .left, user: user, time: time)).encoded())
    }

    /// The member list in records that each fit one transport message: every registered
    /// member, online (announced, and the newcomer it is for) or away.
    private func userListPages(including newcomer: OnlineMember) -> [[UInt8]] {
        var users: [OnlineUser] = []
        var listed = Set<String>()
        for m in members.values where m.announced || m === newcomer {
            users.append(m.onlineUser)
            listed.insert(m.name.key)
        }
        for entry in directory.values where !listed.contains(entry.key) {
            users.append(OnlineUser(name: entry.name, staticKey: entry.staticKey, identityDigest: entry.digest, sessionNonce: [],
                                    online: false, lastSeen: entry.lastSeen))
        }
        // Unsorted: clients order the list for people themselves, and sorting hundreds of
        // names (Unicode string comparisons) under the lock delayed every welcome by ~1 ms.
        return Self.pages(of: users, length: \.encodedLength,
                          record: { ServerRecord.users($0, final: $1) })
    }

    /// A name asked about, parsed by the session (nil key: not a valid name). Names are parsed
    /// on the asker's loop, never under the hub's lock: a parse runs ICU's confusable checks,
    /// and a member asking for 256 unknown names at the allowed rate held the lock that
    /// every relay and login waits for (review finding).
    struct NameLookup { let name: String; let key: String? }

    /// Identity bundles and prekeys of the named members, online or away (empty for anyone
    /// who is not a member), in records that each fit one transport message, the last final.
    func identityPages(for names: [NameLookup]) -> [[UInt8]] {
        let entries: [IdentityEntry] = lock.withLock {
            names.map { lookup in
                let name = lookup.name
                guard let key = lookup.key, let entry = directory[key] else { return IdentityEntry(name: name, bundle: []) }
                // An online session of another identity not yet announced: not listed yet.
                if let online = members[key], !online.announced, online.identityDigest != entry.digest { return IdentityEntry(name: name, bundle: []) }
                return IdentityEntry(name: name, bundle: entry.bundle, prekey: entry.prekey)
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

    /// Stores a message for everyone it is for (the room's members, or one member and the
    /// sender's own copy), online or away; it is delivered and acknowledged once durable.
    func relay(from member: OnlineMember, _ request: SendRequest) {
        let recipientKey = request.to.isEmpty ? nil : (try? Username(request.to))?.key  // parsed before the lock (`NameLookup`)
        lock.withLock {
            guard members[member.name.key] === member else {
                logger.debug("dropped a message from a session that already left", metadata: ["user": "\(member.name.display)"])
                return
            }
            if ledger.isDuplicate(request.clientMessageID, from: member.ledgerIdentity) {
                logger.debug("acknowledged a resent message without relaying it", metadata: ["user": "\(member.name.display)", "id": "\(request.clientMessageID & 0xffff_ffff)"])
                let ack = ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: ServerRecord.alreadyRelayed).encoded()
                // Behind whatever of theirs is still being stored.
                afterCommit.append(.ack(member, ack))
                scheduleWrite()
                return
            }
            var recipient: DirectoryEntry?
            if !request.to.isEmpty {
                recipient = recipientKey.flatMap { directory[$0] }
                guard recipient != nil else {
                    member.mailbox.post(ServerRecord.error(ServerError(.unknownRecipient, "\(request.to) is not a member of this server.", fatal: false)).encoded(), to: [member.session])
                    member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: 0).encoded(), to: [member.session])
                    return
                }
            }
            if let recipient, recipient.key != member.name.key,
               !directBudget.admits(request.body.count, from: member.ledgerIdentity, to: recipient.key) {
                member.mailbox.post(ServerRecord.error(tooMuchWaiting(for: recipient.name)).encoded(), to: [member.session])
                member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: 0).encoded(), to: [member.session])
                return
            }
            if recipient == nil, !roomBudget.admits(request.body.count, from: member.ledgerIdentity) {
                member.mailbox.post(ServerRecord.error(ServerError(.other, "Too much from you is already waiting in the room for members who are away (\(roomBudget.shareText)): the rest can go once they have read it.", fatal: false)).encoded(), to: [member.session])
                member.mailbox.post(ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: 0).encoded(), to: [member.session])
                return
            }
            ledger.record(request.clientMessageID, from: member.ledgerIdentity)
            let time = Self.now()
            let message = ChatMessage(
                sequence: sequence &+ 1, time: time, from: member.name.display, to: recipient?.name ?? "",
                clientMessageID: request.clientMessageID, body: request.body)
            var first: UInt64 = 0
            for var message in relayHook?(message) ?? [message] {
                if let recipient {
                    message.sequence = store(message, for: recipient.key, time: time, sender: member)
                    if recipient.key != member.name.key {
                        directBudget.stored(batch.deliveries.last?.record.count ?? 0, at: message.sequence, from: member.ledgerIdentity, to: recipient.key)
                        // The sender's own copy is part of their stream too (it shows the message in server order).
                        _ = store(message, for: member.name.key, time: time, sender: nil)
                    }
                } else {
                    message.sequence = store(message, for: nil, time: time, sender: member)
                    roomBudget.stored(batch.deliveries.last?.record.count ?? 0, at: message.sequence, from: member.ledgerIdentity)
                }
                if first == 0 { first = message.sequence }
            }
            afterCommit.append(.ack(member, ServerRecord.ack(clientMessageID: request.clientMessageID, sequence: first).encoded()))
            scheduleWrite()
        }
        kickWriter()
    }

    /// Caller holds the lock. The message at the next position, for one member or (nil) all.
    private func store(_ message: ChatMessage, for recipient: String?, time: UInt64, sender: OnlineMember?) -> UInt64 {
        sequence += 1
        var message = message
        message.sequence = sequence
        let record = ServerRecord.message(message).encoded()
        batch.deliveries.append(StoredDelivery(position: sequence, recipient: recipient, time: time, sender: sender?.staticKey,
                                               clientMessageID: sender == nil ? nil : message.clientMessageID, record: record))
        afterCommit.append(.entry(record, recipient: recipient))
        return sequence
    }

    /// What a sender past their share for `recipient` is told.
    private func tooMuchWaiting(for recipient: String) -> ServerError {
        ServerError(.other, "Too much from you is already waiting for \(recipient) (\(directBudget.shareText)): the rest can go once \(recipient) has read it.", fatal: false)
    }

    /// Which of these ids from this member's identity were relayed already (the ledger's view).
    func relayedAmong(_ ids: [UInt64], from member: OnlineMember) -> [UInt64] {
        lock.withLock { ids.filter { ledger.isDuplicate($0, from: member.ledgerIdentity) } }
    }

    /// Stores a sealed chain for its one recipient, online or away; dropped if they are not a
    /// member (the sender learns of that from the member list).
    func relayKeyShare(from member: OnlineMember, to recipientName: String, payload: [UInt8]) {
        let recipientKey = (try? Username(recipientName))?.key  // parsed before the lock (`NameLookup`)
        lock.withLock {
            guard members[member.name.key] === member, let key = recipientKey, let entry = directory[key],
                  key != member.name.key else { return }
            guard directBudget.admits(payload.count, from: member.ledgerIdentity, to: key) else {
                // Said, not dropped unseen: without it the member cannot read what they send.
                return member.mailbox.post(ServerRecord.error(tooMuchWaiting(for: entry.name)).encoded(), to: [member.session])
            }
            sequence += 1
            let record = ServerRecord.keyShare(from: member.name.display, payload: payload, position: sequence).encoded()
            directBudget.stored(record.count, at: sequence, from: member.ledgerIdentity, to: key)
            batch.deliveries.append(StoredDelivery(position: sequence, recipient: key, time: Self.now(), sender: nil, clientMessageID: nil, record: record))
            afterCommit.append(.entry(record, recipient: key))
            scheduleWrite()
        }
        kickWriter()
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

    private var liveTargets: [(LoopMailbox, [ServerSessionHandler])] = []
    private var liveTargetsStale = true

    /// Caller holds the lock. To every member who has caught up (the others read it from the log).
    private func broadcastLive(_ record: [UInt8]) {
        if liveTargetsStale {
            var grouped: [ObjectIdentifier: (LoopMailbox, [ServerSessionHandler])] = [:]
            for m in members.values where m.live {
                grouped[ObjectIdentifier(m.mailbox), default: (m.mailbox, [])].1.append(m.session)
            }
            liveTargets = Array(grouped.values)
            liveTargetsStale = false
        }
        for (mailbox, sessions) in liveTargets { mailbox.post(record, to: sessions) }
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
