import Foundation

/// What a device keeps of its end-to-end state between runs, per server: so that messages
/// that waited on the server for it can still be opened after a restart, and so that what it
/// accepted once is never accepted again (a server replaying recorded ciphertext into a later
/// session gets nothing shown).
public struct KeyState: Equatable, Sendable {
    /// This device's prekeys with their private halves, newest last (the one published).
    public var prekeys: [PrekeyPair]
    /// Others' chains as far as followed.
    public var chains: [StoredChain]
    /// Every chain accepted within the window a share may be accepted in.
    public var accepted: [AcceptedChain]
    /// Per stream (`streamKey`: the server's log and the name logged in as), the last
    /// position whose effects are stored here: what the server hands over again at or below
    /// it (its confirmation was lost) is skipped.
    public var streams: [String: UInt64]

    public init(prekeys: [PrekeyPair] = [], chains: [StoredChain] = [], accepted: [AcceptedChain] = [], streams: [String: UInt64] = [:]) {
        self.prekeys = prekeys
        self.chains = chains
        self.accepted = accepted
        self.streams = streams
    }

    /// One stream: positions count in one log (a server whose database started afresh has
    /// another) for one name (an identity may hold several, each with its stream).
    public static func streamKey(log: [UInt8], name: String) -> String {
        Hex.encode(log) + "/" + name
    }
}

/// Someone's chain as stored: the next key and where it stands. Keys of skipped messages are
/// not stored (they expire within a minute anyway).
public struct StoredChain: Equatable, Sendable {
    public var sender: String
    /// "" for the room, "dm" for the direct conversation with `sender`.
    public var conversation: String
    public var chainID: [UInt8]
    public var chainKey: [UInt8]
    public var index: UInt32
    public var firstIndex: UInt32
    public var signingKey: [UInt8]
    /// The identity (bundle digest) the sender had when the chain was accepted: a chain is
    /// never read as another identity's that took the name later. Empty in a store written
    /// before it was kept.
    public var senderDigest: [UInt8]

    public init(sender: String, conversation: String, chainID: [UInt8], chainKey: [UInt8], index: UInt32, firstIndex: UInt32, signingKey: [UInt8],
                senderDigest: [UInt8] = []) {
        self.sender = sender
        self.conversation = conversation
        self.chainID = chainID
        self.chainKey = chainKey
        self.index = index
        self.firstIndex = firstIndex
        self.signingKey = signingKey
        self.senderDigest = senderDigest
    }
}

/// A chain id accepted from a sender, and when the sender made it.
public struct AcceptedChain: Equatable, Sendable {
    public var sender: String
    public var chainID: [UInt8]
    public var createdMillis: UInt64

    public init(sender: String, chainID: [UInt8], createdMillis: UInt64) {
        self.sender = sender
        self.chainID = chainID
        self.createdMillis = createdMillis
    }
}

/// What changed since the last `takeChanges()`, to be stored.
public struct KeyStateChanges: Equatable, Sendable {
    public struct ChainRef: Equatable, Sendable {
        public var sender: String
        public var chainID: [UInt8]
        public init(sender: String, chainID: [UInt8]) {
            self.sender = sender
            self.chainID = chainID
        }
    }
    public var chains: [StoredChain] = []
    public var removedChains: [ChainRef] = []
    public var accepted: [AcceptedChain] = []
    public init() {}
    public var isEmpty: Bool { chains.isEmpty && removedChains.isEmpty && accepted.isEmpty }
}
