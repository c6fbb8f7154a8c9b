import Crypto
import Foundation

/// The end-to-end layer of one connection, as a state machine with no I/O: membership
/// and received records go in, sealed bodies, key shares and decrypted messages come out,
/// and what must outlive the connection is taken out with `takeChanges()` to be stored.
///
/// Sender keys as in Signal's groups: each member has a sending chain per conversation,
/// delivered to each member, online or away, sealed with HPKE to their current signed X-Wing
/// prekey and signed by the sender's identity key. A chain is made and shared when its first
/// message is sealed (so a join costs nothing end to end in a room where nobody speaks), and
/// given to each newcomer while it lasts. A newcomer gets chains at their current position,
/// never earlier keys; when anyone leaves the room (is no longer listed) or comes back with
/// another identity, every member starts a new chain and gives it only to those who remain.
/// Going offline is not leaving: the server keeps what they miss. Chains also end with the
/// connection and after `Limits.chainMessages` messages or `Limits.chainAge`.
public final class EndToEndSession {
    public struct Limits: Sendable {
        public var maxSkip = 256
        public var maxPendingPerSender = 32
        public var maxPendingTotal = 256
        public var pendingTimeout: TimeInterval = 10
        public var skippedKeyTimeout: TimeInterval = 60
        public var chainMessages: UInt32 = 1_000
        public var chainAge: TimeInterval = 3_600
        public var chainsKeptPerSender = 4
        /// How far a sender's clock may be ahead of ours, or behind it beyond `chainAge`,
        /// before a share's creation time is refused as stale.
        public var clockSkew: TimeInterval = 600
        /// Chain ids remembered per sender, to refuse one delivered again. They age out after
        /// the acceptance window (30 days and an hour): an honest sender makes a few a day per
        /// conversation (an hour's chain, a new one per connection), far fewer than this.
        public var chainsRememberedPerSender = 16_384
        /// Prekey lifetime: also how old a chain may be when its share arrives (it may have
        /// waited on the server while we were away).
        public var prekeys = PrekeyPolicy()
        public init() {}

        /// How long ago a chain may have been made when its share arrives: it may have waited
        /// on the server while we were away, as long as the prekey it was sealed to was current.
        public var acceptanceWindow: TimeInterval { prekeys.maxAge + chainAge + clockSkew }
    }

    public struct Message: Equatable, Sendable {
        public var from: String
        public var conversation: Conversation
        public var text: [UInt8]
        public var trust: PeerTrust
        public var relayed: ChatMessage
        /// The sender's identity fingerprint when it was opened (kept with the history).
        public var senderFingerprint: String = ""
        /// When the sender sealed it, on their clock (authenticated with it); nil from a
        /// version-1 sender.
        public var sentMillis: UInt64?
    }

    public enum Event: Equatable, Sendable {
        case keyShare(to: String, payload: [UInt8])
        case message(Message)
        /// A known person now presents another identity key.
        case identityChanged(name: String, previous: String, current: String)
        /// A member without a valid identity: they can neither read nor send.
        case noValidIdentity(String)
        /// Messages whose keys never arrived in time.
        case undecryptable(from: String, count: Int)
        /// A member without a current prekey: nothing can be shared with them until they
        /// return (said once per session of theirs).
        case noCurrentPrekey(String)
        case rejected(from: String, EndToEndError)
    }

    public struct Peer: Equatable, Sendable {
        public var name: String
        public var staticKey: [UInt8]
        /// `IdentityBundle.digest`, as the online list announced it.
        public var digest: [UInt8]
        /// Computed once: lists of hundreds of members are published on every change.
        public let fingerprint: String
        public var trust: PeerTrust
        /// The nonce their client chose for this session: a new one means their device started
        /// a new session (and may have published a new prekey, fetched when next needed).
        public var sessionNonce: [UInt8]
        /// Their keys, once needed: fetched before we first seal a chain to them, or taken
        /// from their first key share. Always checked against `digest`, `staticKey` and
        /// its self-signature before it is stored here.
        public var bundle: IdentityBundle?
        /// Their current signed prekey (checked against `bundle`), fetched with it.
        public var prekey: SignedPrekey?
        public var online: Bool = true
    }

    public let me: String
    private let identity: IdentityKeys
    /// Ours, by id: shares are sealed to them. The newest is the one published.
    private var prekeys: [[UInt8]: PrekeyPair] = [:]
    private let myDigest: [UInt8]
    private let trustOf: (String, String) -> PeerTrust
    public var limits: Limits

    public private(set) var members: [String: Peer] = [:]
    /// Members whose bundle or prekey we do not have yet: usually empty once a room has
    /// talked, so checking before each message costs nothing in a room of thousands.
    private var withoutBundle: Set<String> = []
    /// Members the server had no current prekey for (not asked again until they return).
    private var withoutPrekey: Set<String> = []
    /// What changed since `takeChanges()`: chains by receiving key, removed chains, accepted ids.
    private var changedChains: Set<[UInt8]> = []
    private var changes = KeyStateChanges()
    /// Members without a usable identity, by the digest that failed (not re-announced).
    private var invalid: [String: [UInt8]] = [:]
    private var sending: [Conversation: SendingChain] = [:]
    private var receiving: [[UInt8]: ReceivingChain] = [:]  // by sender name bytes + chain id
    private var chainArrival: [String: [[UInt8]]] = [:]       // per sender: receiving keys, oldest first
    /// Per sender, every chain id accepted this session, with its creation time: a chain is
    /// accepted once (evicted or not), and forgotten only once it is too old to be accepted.
    private var acceptedChains: [String: [[UInt8]: Date]] = [:]
    private var pending: [(message: ChatMessage, envelope: MessageEnvelope, since: Date)] = []
    /// Rejections by kind, never shown as messages.
    public private(set) var rejections: [String: Int] = [:]

    /// `trustOf(name, fingerprint)` says whether a member's identity is new, pinned or changed.
    /// `restored`: what this device stored of earlier sessions with this server.
    public init(me: String, identity: IdentityKeys, restored: KeyState, limits: Limits = Limits(),
                trustOf: @escaping (String, String) -> PeerTrust) {
        self.me = me
        self.identity = identity
        self.limits = limits
        self.trustOf = trustOf
        myDigest = identity.bundle.digest
        for prekey in restored.prekeys { prekeys[prekey.signed.id] = prekey }
        for stored in restored.chains {
            guard let signingKey = try? Curve25519.Signing.PublicKey(rawRepresentation: stored.signingKey),
                  stored.chainKey.count == 32, stored.chainID.count == MessageEnvelope.chainIDLength else { continue }
            let key = chainKey(stored.sender, stored.chainID)
            receiving[key] = ReceivingChain(sender: stored.sender, conversation: stored.conversation == "dm" ? .direct(stored.sender) : .room,
                                            id: stored.chainID, chainKey: ChainKey(key: stored.chainKey, index: stored.index),
                                            signingKey: signingKey, firstIndex: stored.firstIndex, senderDigest: stored.senderDigest)
            chainArrival[stored.sender, default: []].append(key)
        }
        for accepted in restored.accepted {
            acceptedChains[accepted.sender, default: [:]][accepted.chainID] = Date(timeIntervalSince1970: Double(accepted.createdMillis) / 1000)
        }
    }

    /// Everything to store since the last call: chains that moved, chains let go, chains accepted.
    public func takeChanges() -> KeyStateChanges {
        var out = changes
        for key in changedChains {
            guard let chain = receiving[key] else { continue }
            out.chains.append(StoredChain(sender: chain.sender, conversation: chain.conversation.wireName, chainID: chain.id,
                                          chainKey: chain.chainKey.key, index: chain.chainKey.index, firstIndex: chain.firstIndex,
                                          signingKey: Array(chain.signingKey.rawRepresentation), senderDigest: chain.senderDigest))
        }
        changedChains = []
        changes = KeyStateChanges()
        return out
    }

    /// Changes taken for a save that failed: saved with the next ones. A chain still held is
    /// saved as it is then (never an older snapshot over a newer state); one dropped since is
    /// removed by the removal that dropping it noted.
    public func restoreChanges(_ failed: KeyStateChanges) {
        changes.removedChains = failed.removedChains + changes.removedChains
        changes.accepted = failed.accepted + changes.accepted
        for chain in failed.chains {
            let key = chainKey(chain.sender, chain.chainID)
            if receiving[key] != nil { changedChains.insert(key) }
        }
    }

    private func dropChain(_ key: [UInt8]) -> ReceivingChain? {
        guard let chain = receiving.removeValue(forKey: key) else { return nil }
        changedChains.remove(key)
        changes.removedChains.append(.init(sender: chain.sender, chainID: chain.id))
        return chain
    }

    // MARK: Membership

    /// The server's whole online list (at login). Shares our chains with newcomers whose keys
    /// we have; on any departure starts new chains for those who remain. An entry that did
    /// not change costs a comparison.
    public func updateMembers(_ users: [OnlineUser], now: Date) -> [Event] {
        var changes: [(name: String, user: OnlineUser?)] = []
        var listed = Set<String>()
        for user in users where user.name != me {
            listed.insert(user.name)
            if let m = members[user.name], m.digest == user.identityDigest, m.staticKey == user.staticKey,
               m.sessionNonce == user.sessionNonce, m.online == user.online { continue }
            changes.append((user.name, user))
        }
        for name in members.keys.sorted() where !listed.contains(name) { changes.append((name, nil)) }
        invalid = invalid.filter { listed.contains($0.key) }
        // Chains kept from earlier sessions of someone no longer a member go with them.
        for (sender, keys) in chainArrival where !listed.contains(sender) && members[sender] == nil {
            for key in keys { _ = dropChain(key) }
            chainArrival[sender] = nil
        }
        return updateMembers(changes: changes, now: now)
    }

    /// Members who joined, left (`user` nil) or were listed again, in the order the server
    /// said so. Costs O(changes): a join in a room of thousands does not walk everyone.
    public func updateMembers(changes: [(name: String, user: OnlineUser?)], now: Date) -> [Event] {
        var events: [Event] = []
        var departed: [String] = []
        var arrived: [String] = []
        for (name, user) in changes where name != me {
            let previous = members[name]
            guard let user else {
                invalid[name] = nil
                if previous != nil { remove(name, departed: &departed) }
                continue
            }
            if let previous, previous.digest == user.identityDigest, previous.staticKey == user.staticKey,
               previous.sessionNonce == user.sessionNonce {
                members[name]!.online = user.online
                continue
            }
            if invalid[name] == user.identityDigest { continue }  // said so already
            guard user.identityDigest.count == WireLimits.identityDigestLength else {
                events.append(noValidIdentity(name))
                invalid[name] = user.identityDigest
                if previous != nil { remove(name, departed: &departed) }
                continue
            }
            invalid[name] = nil
            let sameIdentity = previous?.digest == user.identityDigest
            let fingerprint = Fingerprint.of(digest: user.identityDigest)
            let trust = sameIdentity ? previous!.trust : trustOf(name, fingerprint)
            if case .changed(let old) = trust, !sameIdentity {
                events.append(.identityChanged(name: name, previous: old, current: fingerprint))
            }
            let bundle = sameIdentity ? previous?.bundle : nil
            // A new session may have published a new prekey: fetched again when next needed
            // (the old one stays usable while it is current).
            let newSession = !user.sessionNonce.isEmpty && previous?.sessionNonce != user.sessionNonce
            let prekey = sameIdentity && !newSession ? previous?.prekey : nil
            members[name] = Peer(name: name, staticKey: user.staticKey, digest: user.identityDigest,
                                 fingerprint: fingerprint, trust: trust, sessionNonce: user.sessionNonce, bundle: bundle,
                                 prekey: prekey, online: user.online)
            if newSession { withoutPrekey.remove(name) }
            if bundle == nil || (prekey == nil && !withoutPrekey.contains(name)) { withoutBundle.insert(name) } else { withoutBundle.remove(name) }
            if previous != nil, !sameIdentity { departed.append(name) }  // the old identity's chains go
            arrived.append(name)
        }
        for name in departed { forget(name) }
        if !departed.isEmpty, sending[.room] != nil {
            // Whoever left holds our room chain: a new one, for those who remain.
            sending[.room] = nil
        }
        events += shareChains(now: now, with: arrived)
        return events
    }

    private func remove(_ name: String, departed: inout [String]) {
        members[name] = nil
        withoutBundle.remove(name)
        withoutPrekey.remove(name)
        departed.append(name)
    }

    /// The member published a newer prekey (the server says so): fetched with their keys
    /// when we next seal to them. A server that says so falsely only makes us fetch again:
    /// what it hands over is checked as ever.
    public func prekeyReplaced(by name: String) {
        guard members[name] != nil else { return }
        members[name]!.prekey = nil
        withoutPrekey.remove(name)
        withoutBundle.insert(name)
    }

    /// This device's prekeys after a rotation during the session (the store made a new one,
    /// deleted those past their grace): shares open with these from now on.
    public func replacePrekeys(_ pairs: [PrekeyPair]) {
        prekeys = Dictionary(pairs.map { ($0.signed.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The person accepted (or verified) a peer's current key.
    public func updateTrust(of name: String, to trust: PeerTrust, now: Date) -> [Event] {
        guard members[name] != nil else { return [] }
        members[name]!.trust = trust
        return shareChains(now: now)
    }

    /// Members whose keys must be fetched before a message to `recipient` ("" for the room)
    /// can be sealed for everyone it is for. The caller fetches them (`identityRequest`)
    /// and holds the message until `receiveIdentities`; sealing first would give them our
    /// chain only later, past the messages they should have read.
    public func identitiesNeeded(for recipient: String) -> [String] {
        if !recipient.isEmpty {
            guard let member = members[recipient], withoutBundle.contains(recipient), isSendable(member.trust) else { return [] }
            return [recipient]
        }
        return withoutBundle.filter { members[$0].map { isSendable($0.trust) } ?? false }.sorted()
    }

    /// Bundles and prekeys the server sent for `identitiesNeeded`. Each bundle must hash to
    /// the announced digest, carry the member's device key and be self-signed; one that does
    /// not (or is missing for someone still listed) leaves that member out, loudly. A prekey
    /// must be signed by the bundle's key and current; without one the member cannot be
    /// shared with until they publish another (they are told apart, once).
    public func receiveIdentities(_ entries: [IdentityEntry], now: Date) -> [Event] {
        var events: [Event] = []
        for entry in entries {
            guard let member = members[entry.name], withoutBundle.contains(entry.name) else { continue }
            var bundle = member.bundle
            if bundle == nil {
                guard let verified = verifiedBundle(entry.bundle, for: member) else {
                    events.append(refuseIdentity(of: member))
                    continue
                }
                bundle = verified
                members[entry.name]!.bundle = verified
            }
            withoutBundle.remove(entry.name)
            if let prekey = try? SignedPrekey(decoding: entry.prekey, signingKey: bundle!.signingKey),
               !limits.prekeys.isExpired(prekey.created, now: now, skew: limits.clockSkew) {
                members[entry.name]!.prekey = prekey
            } else {
                members[entry.name]!.prekey = nil
                withoutPrekey.insert(entry.name)
                events.append(.noCurrentPrekey(entry.name))
            }
        }
        return events + shareChains(now: now)
    }

    /// The bundle, if it is the one the list announced for this member and self-signed.
    private func verifiedBundle(_ bytes: [UInt8], for member: Peer) -> IdentityBundle? {
        guard let bundle = try? IdentityBundle(decoding: bytes), bundle.noiseKey == member.staticKey,
              bundle.digest == member.digest else { return nil }
        return bundle
    }

    private func refuseIdentity(of member: Peer) -> Event {
        members[member.name] = nil
        withoutBundle.remove(member.name)
        withoutPrekey.remove(member.name)
        invalid[member.name] = member.digest
        forget(member.name)
        return noValidIdentity(member.name)
    }

    private func noValidIdentity(_ name: String) -> Event {
        .noValidIdentity(name)
    }

    private func forget(_ name: String) {
        sending[.direct(name)] = nil
        for key in chainArrival.removeValue(forKey: name) ?? [] { _ = dropChain(key) }
        // Accepted ids are kept: a departed identity's chains must not be accepted again.
        pending.removeAll { $0.message.from == name }
        for conv in sending.keys { sending[conv]?.holders.remove(name) }
    }

    /// Gives every chain we send on to each trusted member of its conversation who lacks it
    /// (among `names`, when only they can be new to it).
    private func shareChains(now: Date, with names: [String]? = nil) -> [Event] {
        var events: [Event] = []
        if names?.isEmpty == true { return events }
        for conversation in Array(sending.keys) {
            let recipients: [String]
            switch conversation {
            case .room: recipients = (names ?? Array(members.keys)).filter { members[$0] != nil }.sorted()
            case .direct(let peer): recipients = members[peer] == nil || names?.contains(peer) == false ? [] : [peer]
            }
            for name in recipients where sending[conversation]?.holders.contains(name) == false {
                // Without their keys yet: they get the chain once fetched (the caller holds
                // new messages until then).
                guard let member = members[name], member.bundle != nil, let prekey = member.prekey, isSendable(member.trust),
                      !limits.prekeys.isExpired(prekey.created, now: now, skew: limits.clockSkew) else { continue }
                if let share = try? seal(sending[conversation]!, conversation: conversation, to: member, prekey: prekey) {
                    events.append(.keyShare(to: name, payload: share))
                    sending[conversation]!.holders.insert(name)
                }
            }
        }
        return events
    }

    private func isSendable(_ trust: PeerTrust) -> Bool {
        if case .changed = trust { return false }
        return true
    }

    private func seal(_ chain: SendingChain, conversation: Conversation, to member: Peer, prekey: SignedPrekey) throws -> [UInt8] {
        let content = KeyShare.Chain(conversation: conversation.wireName, chainID: chain.id, chainKey: chain.chainKey,
                                     signingKey: Array(chain.signing.publicKey.rawRepresentation), created: chain.created)
        return try KeyShare.seal(content, from: me, to: member.name, prekey: prekey, sender: identity).encoded()
    }

    // MARK: Sending

    /// Encrypts a message for the room or one member. Events (key shares for a new chain)
    /// must be sent before the returned body.
    public func seal(_ text: [UInt8], to recipient: String, now: Date) throws -> (body: [UInt8], events: [Event]) {
        let conversation: Conversation = recipient.isEmpty ? .room : .direct(recipient)
        if case .direct(let peer) = conversation {
            if invalid[peer] != nil { throw EndToEndError.invalidIdentity(peer) }
            guard let member = members[peer] else { throw EndToEndError.noSuchRecipient(peer) }
            guard isSendable(member.trust) else { throw EndToEndError.untrustedRecipient(peer) }
            guard member.bundle != nil else { throw EndToEndError.identityNotFetched(peer) }
            guard let prekey = member.prekey, !limits.prekeys.isExpired(prekey.created, now: now, skew: limits.clockSkew) else {
                throw EndToEndError.noPrekey(peer)
            }
        }
        var events: [Event] = []
        if let chain = sending[conversation],
           chain.chainKey.index >= min(limits.chainMessages, ChainKey.maxShareIndex) || now.timeIntervalSince(chain.created) >= limits.chainAge {
            sending[conversation] = nil
        }
        if sending[conversation] == nil { sending[conversation] = SendingChain(now: now) }
        events += shareChains(now: now)
        var chain = sending[conversation]!
        let messageKey = chain.chainKey.messageKey
        chain.chainKey = try chain.chainKey.next()
        sending[conversation] = chain
        let sent = KeyShare.Chain.millis(now)
        let header = MessageEnvelope.header(conversation: conversation.wireName, from: me, to: recipient, chainID: chain.id,
                                            index: messageKey.index, sentMillis: sent)
        let ciphertext = try messageKey.seal(text, header: header)
        let signature = Array(try chain.signing.signature(for: header + ciphertext))
        let envelope = MessageEnvelope(conversation: conversation.wireName, chainID: chain.id, index: messageKey.index, sentMillis: sent,
                                       ciphertext: ciphertext, signature: signature)
        return (envelope.encoded(), events)
    }

    // MARK: Receiving

    /// A relayed message from someone else. Returns it decrypted, or nothing yet (waiting
    /// for its chain), or a rejection, never an unauthenticated text.
    public func open(_ relayed: ChatMessage, now: Date) -> [Event] {
        guard members[relayed.from] != nil else { return [reject(relayed.from, .notAMember)] }
        let envelope: MessageEnvelope
        do { envelope = try MessageEnvelope(decoding: relayed.body) } catch {
            return [reject(relayed.from, .malformed("\(error)"))]
        }
        // A direct message must be to us; a room message to nobody in particular.
        guard envelope.conversation == (relayed.to.isEmpty ? "" : "dm"), relayed.to.isEmpty || relayed.to == me else {
            return [reject(relayed.from, .malformed("conversation does not match its addressing"))]
        }
        guard receiving[chainKey(relayed.from, envelope.chainID)] != nil else {
            guard pending.count < limits.maxPendingTotal,
                  pending.filter({ $0.message.from == relayed.from }).count < limits.maxPendingPerSender
            else { return [reject(relayed.from, .unknownChain)] }
            pending.append((relayed, envelope, now))
            return []
        }
        return [decrypt(relayed, envelope, now: now)]
    }

    private func decrypt(_ relayed: ChatMessage, _ envelope: MessageEnvelope, now: Date) -> Event {
        let key = chainKey(relayed.from, envelope.chainID)
        guard var chain = receiving[key], let member = members[relayed.from] else { return reject(relayed.from, .unknownChain) }
        let conversation: Conversation = envelope.conversation == "dm" ? .direct(relayed.from) : .room
        guard chain.conversation == conversation else { return reject(relayed.from, .malformed("chain used in another conversation")) }
        // Only the identity it was accepted from writes on a chain: a name that passed to
        // another identity (released, a new device) does not inherit its predecessor's chains,
        // nor what the server delayed on them (review finding: shown under the new key, as
        // verified once that was). A chain stored before digests were kept is bound now, but
        // never to a key that differs from the one pinned for the name (it may be its
        // earlier holder's; SECURITY.md: what does not hold yet).
        if chain.senderDigest.isEmpty {
            if case .changed = member.trust { return reject(relayed.from, .notTheListedIdentity) }
            chain.senderDigest = member.digest
            changedChains.insert(key)
        }
        guard chain.senderDigest == member.digest else { return reject(relayed.from, .notTheListedIdentity) }
        let header = MessageEnvelope.header(conversation: envelope.conversation, from: relayed.from, to: relayed.to,
                                            chainID: envelope.chainID, index: envelope.index, sentMillis: envelope.sentMillis)
        // The signature first: a forgery must not move the ratchet.
        guard chain.signingKey.isValidSignature(envelope.signature, for: header + envelope.ciphertext) else {
            return reject(relayed.from, .badSignature)
        }
        do {
            let messageKey = try chain.key(for: envelope.index, maxSkip: limits.maxSkip, now: now)
            receiving[key] = chain
            changedChains.insert(key)
            let text = try messageKey.open(envelope.ciphertext, header: header)
            return .message(Message(from: relayed.from, conversation: conversation, text: text, trust: member.trust, relayed: relayed,
                                    senderFingerprint: member.fingerprint, sentMillis: envelope.sentMillis))
        } catch let error as EndToEndError {
            return reject(relayed.from, error)
        } catch {
            return reject(relayed.from, .decryptionFailed)
        }
    }

    /// A sealed chain from a member. Releases messages that were waiting for it.
    public func receiveKeyShare(from sender: String, payload: [UInt8], now: Date) -> [Event] {
        guard let member = members[sender] else { return [reject(sender, .notAMember)] }
        var events: [Event] = []
        let content: KeyShare.Chain
        do {
            let share = try KeyShare(decoding: payload)
            var bundle = member.bundle
            if bundle == nil {
                // Their first share tells us their keys: accepted only if they are the ones
                // the list announced (and self-signed), so nobody can swap them in transit.
                // Only the share is refused, not the member: it may be an earlier holder's of
                // the name, stored while they were a member and handed over after it passed on.
                guard let carried = verifiedBundle(share.senderBundle, for: member) else {
                    return [reject(sender, .notTheListedIdentity)]
                }
                members[sender]!.bundle = carried
                bundle = carried
            }
            let prekeys = self.prekeys
            content = try share.open(from: sender, to: me, senderSigningKey: bundle!.signingKey, prekey: { prekeys[$0]?.privateKey })
        } catch let error as EndToEndError {
            return [reject(sender, error)]
        } catch {
            return [reject(sender, .malformed("\(error)"))]
        }
        let key = chainKey(sender, content.chainID)
        if receiving[key] != nil { return events }  // delivered twice while we hold it: nothing new
        if let refusal = acceptChain(content, from: sender, now: now) { return events + [reject(sender, refusal)] }
        guard let signingKey = try? Curve25519.Signing.PublicKey(rawRepresentation: content.signingKey) else {
            return events + [reject(sender, .malformed("chain signing key"))]
        }
        receiving[key] = ReceivingChain(sender: sender, conversation: content.conversation == "dm" ? .direct(sender) : .room,
                                        id: content.chainID, chainKey: content.chainKey, signingKey: signingKey,
                                        firstIndex: content.chainKey.index, senderDigest: member.digest)
        changedChains.insert(key)
        chainArrival[sender, default: []].append(key)
        if chainArrival[sender]!.count > limits.chainsKeptPerSender {
            let evicted = chainArrival[sender]!.removeFirst()
            if let old = dropChain(evicted), !old.skipped.isEmpty {
                events.append(gapNotice(old.skipped.count, from: sender))
            }
        }
        let ready = pending.filter { $0.message.from == sender && $0.envelope.chainID == content.chainID }
        pending.removeAll { $0.message.from == sender && $0.envelope.chainID == content.chainID }
        for p in ready.sorted(by: { $0.message.sequence < $1.message.sequence }) {
            events.append(decrypt(p.message, p.envelope, now: now))
        }
        return events
    }

    private var acceptanceWindow: TimeInterval { limits.acceptanceWindow }

    /// Whether a chain may be accepted now: never one this device accepted before (even once
    /// evicted, even in an earlier run: the accepted ids are stored), never one made longer
    /// ago than the acceptance window (or in the future, beyond the clocks' skew). Remembers
    /// it if so; nil means accepted.
    private func acceptChain(_ content: KeyShare.Chain, from sender: String, now: Date) -> EndToEndError? {
        let age = now.timeIntervalSince(content.created)
        guard age >= -limits.clockSkew else { return .chainFromTheFuture(seconds: Int(-age < 1e9 ? -age : 1e9)) }
        guard age <= acceptanceWindow else { return .staleChain }
        var seen = acceptedChains[sender, default: [:]]
        if seen[content.chainID] != nil { return .replayedChain }
        if seen.count >= limits.chainsRememberedPerSender {
            seen = seen.filter { now.timeIntervalSince($0.value) <= acceptanceWindow }
            guard seen.count < limits.chainsRememberedPerSender else { return .tooManyChains }
        }
        seen[content.chainID] = content.created
        acceptedChains[sender] = seen
        changes.accepted.append(AcceptedChain(sender: sender, chainID: content.chainID, createdMillis: content.createdMillis))
        return nil
    }

    /// Gives up on messages whose chain never came and on keys of messages that never came.
    public func expire(now: Date) -> [Event] {
        var lost: [String: Int] = [:]
        pending.removeAll { p in
            guard now.timeIntervalSince(p.since) >= limits.pendingTimeout else { return false }
            lost[p.message.from, default: 0] += 1
            rejections["unknown chain", default: 0] += 1
            return true
        }
        for (key, chain) in receiving {
            let stale = chain.skipped.filter { now.timeIntervalSince($0.value.since) >= limits.skippedKeyTimeout }
            guard !stale.isEmpty else { continue }
            for index in stale.keys { receiving[key]?.skipped[index] = nil }
            lost[chain.sender, default: 0] += stale.count
        }
        return lost.sorted { $0.key < $1.key }.map { gapNotice($0.value, from: $0.key) }
    }

    private func gapNotice(_ n: Int, from sender: String) -> Event {
        .undecryptable(from: sender, count: n)
    }

    private func reject(_ sender: String, _ error: EndToEndError) -> Event {
        let kind: String
        switch error {
        case .malformed: kind = "malformed"
        case .decryptionFailed: kind = "decryption failed"
        case .badSignature: kind = "bad signature"
        case .reusedIndex: kind = "reused index"
        case .beforeJoining: kind = "before joining"
        case .tooFarAhead: kind = "too far ahead"
        case .chainExhausted: kind = "chain exhausted"
        case .replayedChain: kind = "replayed chain"
        case .staleChain: kind = "stale chain"
        case .chainFromTheFuture: kind = "chain from the future"
        case .tooManyChains: kind = "too many chains"
        case .unknownChain: kind = "unknown chain"
        case .notAMember: kind = "not a member"
        case .unknownPrekey: kind = "unknown prekey"
        case .notTheListedIdentity: kind = "not the listed identity"
        case .untrustedRecipient, .noSuchRecipient, .invalidIdentity, .identityNotFetched, .noPrekey: kind = "other"
        }
        rejections[kind, default: 0] += 1
        return .rejected(from: sender, error)
    }

    private func chainKey(_ sender: String, _ id: [UInt8]) -> [UInt8] { Array(sender.utf8) + [0] + id }

    /// Safety number between us and a member, if they are here.
    public func safetyNumber(with name: String) -> String? {
        members[name].map { IdentityBundle.safetyNumber(digests: myDigest, $0.digest) }
    }
}
