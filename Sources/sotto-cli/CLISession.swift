import Foundation
import SottoClient
import SottoCore

/// Joins the client's events, standard input and the process exit status.
final class CLISession: @unchecked Sendable {
    enum Submission { case sent, command, quit }

    private let printer: EventPrinter
    private let lock = NSCondition()
    private var exitCode: Int32?
    private var inputDone = false
    private var state = ConnectionState.disconnected
    private var pending = 0
    private var users: [Member] = []
    /// Whether a room message calls you, made once per member list.
    private var mention: Mention?
    private var welcomed = false
    /// Messages that arrived between the welcome and `caughtUp`: they waited for us.
    private var waited: Int?
    /// Said once per stretch offline that what is typed is kept (200 lines piped in before the
    /// login printed it 200 times).
    private var toldKept = false
    /// When a first /forget asked; a second within `forgetConfirmSeconds` deletes, as in the window.
    private var forgetAsked: Date?
    static let forgetConfirmSeconds = 60.0
    weak var client: ChatClient?
    /// nil with --no-history.
    let history: HistoryRecorder?

    init(printer: EventPrinter, history: HistoryRecorder?) {
        self.printer = printer
        self.history = history
    }

    func handle(_ event: ClientEvent) {
        history?.record(event)
        // A room message calling you is marked for scripts (`"mentionsYou": true`), read as
        // the window reads it (`Mention`, with the member list).
        if case .message(let m) = event, !m.isOwn, m.conversation == .room {
            printer.print(event, mentionsYou: lock.withLock { mention }?.calls(in: m.text) ?? false)
        } else {
            printer.print(event)
        }
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .state(let s):
            state = s
            if s == .online { toldKept = false }
            if case .failed(let failure) = s {
                printer.fatal(failure.description)
                exitCode = Self.exitCode(for: failure)
            }
        case .queued:
            if state != .online, !toldKept {
                toldKept = true
                printer.note(welcomed ? "kept: what you type is sent when you are back online" : "kept: what you type is sent once connected")
            }
        case .message(let m) where !m.isOwn:
            waited? += 1
            // Printed is read: the window, opened later on this device, does not count it new.
            history?.keepReadMark(m.conversation, upTo: m.from, m.clientMessageID)
        case .caughtUp:
            if let waited, waited > 0 { printer.note("\(waited) \(waited == 1 ? "message" : "messages") waited for you (above); live from here") }
            waited = nil
        case .delivered, .rejected, .notice(.notSentAfterLeaving): pending -= 1
        case .users(let list):
            users = list
            mention = list.first(where: \.isMe).map { Mention(name: $0.name, members: list.map(\.name)) }
        case .notice(.youLeft):
            // Nothing more to do here: a new login would make this a member again.
            exitCode = 0
        case .welcome:
            welcomed = true
            waited = 0
        default: break
        }
        checkDone()
        lock.broadcast()
    }

    func submit(_ line: String) -> Submission {
        lock.lock(); let list = users; lock.unlock()
        switch ChatInput(parsing: line, members: list.map(\.name)) {
        case .nothing:
            return .command
        case .text(let text):
            handingOver { client?.send(text) }
            return .sent
        case .invalid(let problem):
            printer.warning(problem.description)
            return .command
        case .command(let command):
            // A name as listed (any case); one that only looks like a listed name is refused.
            func resolve(_ typed: String) -> String? {
                switch Member.match(typed, in: list).name(typed: typed) {
                case .success(let name): return name
                case .failure(let refusal):
                    printer.warning(refusal.description)
                    return nil
                }
            }
            switch command {
            case .quit:
                return .quit
            case .help:
                for line in ChatCommand.helpLines { printer.info(line) }
            case .users:
                printer.print(.users(list))
            case .directMessage(let to, let text):
                guard let name = resolve(to) else { return .command }
                handingOver { client?.send(text, to: name) }
                return .sent
            case .open(let to):
                printer.warning("Nothing was sent: write to \(to) on one line, /msg \(to) and the text after it.")
            case .fingerprint(nil):
                client?.showIdentity(of: nil)  // answered by an event
            case .fingerprint(let typed?):
                guard let name = resolve(typed) else { return .command }
                client?.showIdentity(of: name)
            case .verify(let typed):
                guard let name = resolve(typed) else { return .command }
                client?.verify(name)  // answered by a notice
            case .history(let count):
                kept { store in
                    let messages = try store.recent(in: .room, limit: count)
                    if messages.isEmpty { printer.info("Nothing kept for this conversation yet.") }
                    for m in messages { printer.message(m.received, marks: ["history": true]) }
                }
            case .search(let words):
                kept { store in
                    let found = try store.search(words, limit: 100)
                    printer.info(found.isEmpty ? "No kept message contains \(words)." : "\(found.count == 100 ? "The newest 100" : "\(found.count)") kept message\(found.count == 1 ? "" : "s") containing \(words), newest first:")
                    for m in found { printer.message(m.received, marks: ["history": true, "search": true]) }
                }
            case .leave(let name):
                client?.leave(confirming: name)  // answered by a notice
            case .reconnect:
                lock.lock(); let now = state; lock.unlock()
                switch ChatCommand.reconnectDecision(in: now) {
                case .connectNow:
                    printer.info("Connecting now.")
                    client?.connect()
                case .alreadyOnline: printer.info("Already connected.")
                case .alreadyConnecting: printer.info("Already connecting.")
                case .notConnected: printer.info("Not connected.")
                }
            case .forget:
                let now = Date()
                guard let asked = forgetAsked, now.timeIntervalSince(asked) < Self.forgetConfirmSeconds else {
                    forgetAsked = now
                    printer.warning("This deletes everything of the room kept on this device, and cannot be undone. Type /forget again within a minute to do it.")
                    return .command
                }
                forgetAsked = nil
                kept { store in
                    let n = try store.forget(.room)
                    printer.info("Deleted \(n) kept message\(n == 1 ? "" : "s") of this conversation from this device.")
                }
            }
            return .command
        }
    }

    /// Runs a history command on the history's own queue, after the writes before it.
    private func kept(_ work: (HistoryStore) throws -> Void) {
        guard let history else { return printer.warning("History is off (--no-history): nothing is kept on this device.") }
        // The history is the server's: a command typed (or piped) before the login waits for it.
        lock.lock()
        while !welcomed && exitCode == nil { lock.wait() }
        lock.unlock()
        history.withStore { store in
            guard let store else { return printer.warning("Nothing is kept yet: history starts once you are logged in.") }
            do { try work(store) } catch { printer.warning("The history could not be read: \(error)") }
        }
    }

    /// Counted before the client has it: the end of input may come right after, before the
    /// client says `queued` (counted there, `echo hi | sotto-cli` left without sending it).
    /// Each message handed over ends as delivered, rejected or not sent after leaving.
    private func handingOver(_ send: () -> Void) {
        lock.lock()
        pending += 1
        lock.unlock()
        send()
    }

    /// End of input: leave once everything typed has been acknowledged.
    func inputEnded() {
        lock.lock()
        inputDone = true
        checkDone()
        lock.broadcast()
        lock.unlock()
    }

    /// Caller holds the lock.
    private func checkDone() {
        if exitCode == nil, inputDone, pending == 0, state == .online {
            exitCode = 0
        }
    }

    func waitForExit() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        while exitCode == nil { lock.wait() }
        return exitCode!
    }

    static func exitCode(for failure: ClientFailure) -> Int32 {
        switch failure {
        case .unreachable: return 3
        case .server(let e) where e.code == .wrongPassword: return 4
        case .server(let e) where e.code == .nameTaken || e.code == .invalidName: return 5
        case .serverKeyChanged, .serverKeyNotVouched: return 6
        case .serverKeyUnknown: return 7
        default: return 1
        }
    }
}
