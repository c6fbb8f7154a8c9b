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
    weak var client: ChatClient?

    init(printer: EventPrinter) { self.printer = printer }

    func handle(_ event: ClientEvent) {
        printer.print(event)
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .state(let s):
            state = s
            if case .failed(let failure) = s {
                printer.fatal(failure.description)
                exitCode = Self.exitCode(for: failure)
            }
        case .queued: pending += 1
        case .delivered, .rejected: pending -= 1
        case .users(let list): users = list
        default: break
        }
        checkDone()
        lock.broadcast()
    }

    func submit(_ line: String) -> Submission {
        if line.hasPrefix("/") {
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            switch parts.first {
            case "/quit": return .quit
            case "/users":
                lock.lock(); let list = users; lock.unlock()
                printer.print(.users(list))
            case "/msg" where parts.count == 3:
                client?.send(String(parts[2]), to: String(parts[1]))
            case "/fingerprint":
                let name = parts.count > 1 ? String(line.dropFirst("/fingerprint ".count)) : nil
                if let info = client?.identityInfo(of: name) {
                    let who = name ?? "you"
                    let safety = info.safetyNumber.map { "; safety number with you: \($0)" } ?? ""
                    printer.print(.system("\(who): \(info.fingerprint)\(safety)"))
                } else {
                    printer.print(.error("\(name ?? "?") is not online."))
                }
            case "/verify" where parts.count > 1:
                let name = String(line.dropFirst("/verify ".count))
                if client?.verify(name) != true { printer.print(.error("\(name) is not online.")) }
            default:
                printer.print(.error("Unknown command. Commands: /msg NAME text, /users, /fingerprint [NAME], /verify NAME, /quit"))
            }
            return .command
        }
        guard !line.isEmpty else { return .command }
        client?.send(line)
        return .sent
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
