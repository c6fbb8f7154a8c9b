import Foundation
import Logging
import SottoCore

/// Keeps what a client shows: fed its events on the network thread, it writes messages to
/// the server's `HistoryStore` on a queue of its own, whatever arrived meanwhile in one
/// transaction (a burst of a hundred messages is one commit, not a hundred), so the network
/// thread never waits for the disk.
public final class HistoryRecorder: @unchecked Sendable {
    private let dataDirectory: URL
    private let identityFingerprint: String
    private let queue = DispatchQueue(label: "sotto.history")
    private let logger: Logger
    private let lock = NSLock()
    /// Guarded by `lock`.
    private var pending: [ReceivedMessage] = []
    private var flushScheduled = false
    /// Drafts as last typed, per conversation ("" deletes one), written once typing has
    /// paused for `draftDelay`: not a commit per keystroke, nor a snapshot of every half word
    /// (erased text would linger in the WAL). Guarded by `lock`.
    private var pendingDrafts: [Conversation: String] = [:]
    /// Bumped by every draft handed over: a scheduled write that finds it moved on leaves
    /// the drafts to the later one.
    private var draftGeneration = 0
    /// The conversation open in the window, to be written. Guarded by `lock`.
    private var pendingOpen: Conversation?
    private var pendingReadMarks: [Conversation: (sender: String, clientMessageID: UInt64)] = [:]
    private var pendingUnsent: [Conversation: (count: Int, mayHaveGone: Int)] = [:]
    private var pendingColors: [String: Int]?
    static let draftDelay: DispatchTimeInterval = .milliseconds(500)
    /// Touched on `queue` only.
    private var store: HistoryStore?
    private var storeFingerprint: String?
    /// Told, once, on the history queue, when history cannot be kept (a sentence for a person).
    private let onFailure: @Sendable (String) -> Void
    private var failed = false

    /// `dataDirectory`: Sotto's data directory (`$XDG_DATA_HOME/sotto`); one database per
    /// server key and identity below it.
    /// `maxBytes`: what the history of one server may hold (`HistoryStore.keepWithin`).
    public init(dataDirectory: URL, identityFingerprint: String, logger: Logger = Logger(label: "sotto.history"),
                maxBytes: Int = HistoryRecorder.defaultMaxBytes, onFailure: @escaping @Sendable (String) -> Void) {
        self.dataDirectory = dataDirectory
        self.identityFingerprint = identityFingerprint
        self.logger = logger
        self.maxBytes = maxBytes
        self.onFailure = onFailure
    }

    /// A history of 1 GiB holds about four million messages of a line each.
    public static let defaultMaxBytes = 1 << 30
    private let maxBytes: Int
    /// What the store keeps, as `HistoryStore.keptBytes` counts it (on `queue`; nil until
    /// first needed, and for a store just opened).
    private var keptBytes: Int?

    /// Call with every event, in order, from the thread that receives them.
    public func record(_ event: ClientEvent) {
        switch event {
        case .welcome(_, let fingerprint):
            queue.async { self.open(fingerprint) }
        case .message(let message):
            lock.lock()
            pending.append(message)
            let schedule = !flushScheduled
            flushScheduled = true
            lock.unlock()
            if schedule { queue.async { self.write() } }
        default:
            break
        }
    }

    /// Keeps what is typed in a conversation and not sent (the window, as it changes); an
    /// empty text deletes it.
    public func keepDraft(_ text: String, in conversation: Conversation) {
        let generation: Int = lock.withLock {
            pendingDrafts[conversation] = text
            draftGeneration += 1
            return draftGeneration
        }
        // A draft emptied (sent, most often) is deleted at once: a crash just after sending
        // would otherwise bring the sent text back as a draft, one Enter from a second send.
        queue.asyncAfter(deadline: .now() + (text.isEmpty ? .seconds(0) : Self.draftDelay)) {
            guard self.lock.withLock({ self.draftGeneration == generation }) else { return }
            self.write()
        }
    }

    /// Keeps which conversation the window has open (written at once, off the caller's thread).
    public func keepOpenConversation(_ conversation: Conversation) {
        lock.withLock { pendingOpen = conversation }
        queue.async { self.write() }
    }

    /// Keeps which palette colour each name is drawn in (written off the caller's thread).
    public func keepColors(_ colors: [String: Int]) {
        lock.withLock { pendingColors = colors }
        queue.async { self.write() }
    }

    /// Notes how far a conversation was read (the newest message shown while it was open),
    /// written after the messages handed over before it.
    public func keepReadMark(_ conversation: Conversation, upTo sender: String, _ clientMessageID: UInt64) {
        lock.withLock { pendingReadMarks[conversation] = (sender, clientMessageID) }
        queue.async { self.write() }
    }

    /// Messages the app closed on before the server had them: their text goes back in the
    /// conversation's draft (`draft`: the whole of it, theirs first), and the next opening
    /// says so. Written at the next write (call `flush` after).
    public func keepUnsent(_ messages: [UnsentMessage], in conversation: Conversation, draft: String) {
        lock.withLock {
            pendingDrafts[conversation] = draft
            pendingUnsent[conversation] = (messages.count, messages.count { $0.mayHaveGone })
        }
    }

    /// Blocks until everything handed over is written (at exit, and for tests).
    public func flush() {
        queue.sync { self.write() }
    }

    /// Runs `work` with the current server's store on the history queue (nil before a login,
    /// or if it could not be opened); for reads that must follow the writes before them.
    public func withStore<T>(_ work: (HistoryStore?) throws -> T) rethrows -> T {
        try queue.sync { write(); return try work(store) }
    }

    private func open(_ fingerprint: String) {
        guard fingerprint != storeFingerprint else { return }
        do {
            store = try HistoryStore(url: HistoryStore.url(in: dataDirectory, serverFingerprint: fingerprint, identityFingerprint: identityFingerprint))
            storeFingerprint = fingerprint
            keptBytes = nil
        } catch {
            store = nil
            report("History is not being kept: \(error)")
        }
    }

    private func write() {
        lock.lock()
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        flushScheduled = false
        let drafts = pendingDrafts
        pendingDrafts = [:]
        let open = pendingOpen
        pendingOpen = nil
        let readMarks = pendingReadMarks
        pendingReadMarks = [:]
        let unsent = pendingUnsent
        pendingUnsent = [:]
        let colors = pendingColors
        pendingColors = nil
        lock.unlock()
        guard let store else { return }
        do {
            try store.append(batch)
            // What is kept, counted once, then by what is written: the table is read again
            // only once that passes the bound.
            let kept = try keptBytes ?? store.keptBytes()
            keptBytes = kept + batch.reduce(0) { $0 + $1.text.utf8.count + HistoryStore.rowOverhead }
            if let now = keptBytes, now > maxBytes {
                let removed = try store.keepWithin(bytes: maxBytes)
                keptBytes = try store.keptBytes()
                if removed > 0 { logger.info("the history reached its bound: the oldest messages of those with the most kept went", metadata: ["messages": "\(removed)"]) }
            }
            try store.saveDrafts(drafts)
            if let open { try store.saveOpenConversation(open) }
            if let colors { try store.saveColors(colors) }
            for (conversation, note) in unsent { try store.saveUnsentNote(conversation, count: note.count, mayHaveGone: note.mayHaveGone) }
            for (conversation, message) in readMarks where try !store.saveReadMark(conversation, upTo: message) {
                // Shown before it was handed over to be kept (the window shows first, then
                // keeps): tried again with the next write, unless a newer mark came meanwhile.
                lock.withLock { if pendingReadMarks[conversation] == nil { pendingReadMarks[conversation] = message } }
            }
        } catch { report("History could not be written: \(error)") }
    }

    private func report(_ text: String) {
        logger.error("\(text)")
        guard !failed else { return }
        failed = true
        onFailure(text)
    }
}
