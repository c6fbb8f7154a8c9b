import ArgumentParser
import Foundation
import SottoClient
import SottoCore

@main
struct SottoCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotto-cli",
        abstract: "A line-based Sotto client: each line of standard input is sent as a message.",
        discussion: """
        Received messages, online-list changes, notices and errors are printed one per line \
        (--json: one JSON object per line with a "type" of message, users, system or error). \
        Lines starting with / are commands: /msg NAME text, /users, /fingerprint [NAME] \
        (yours, or theirs with your safety number), /verify NAME (after comparing safety \
        numbers; also accepts a changed key), /history [N], /search WORDS, /forget (the history kept \
        on this device, one SQLite database per server under --data-dir), /leave YOURNAME \
        (leave the server for good: your name is freed), /quit.
        Exit status: 0 done, 3 server unreachable, 4 wrong password, 5 name taken or invalid, \
        6 server key changed or not as vouched, 7 server key not trusted yet, 1 other failures.
        """)

    @Option(help: "Server address (optional with --invite).")
    var host: String?

    @Option(help: "Server port (optional with --invite).")
    var port: Int?

    @Option(help: "Your username (1–32 visible characters).")
    var user: String

    @Option(help: "Read the server password from this file (first line). Otherwise SOTTO_PASSWORD is used.")
    var passwordFile: String?

    @Option(help: "An invite link sotto://HOST:PORT/#SHA256:… (sets host, port and the expected server key).")
    var invite: String?

    @Option(help: "Trust the server if its key has this fingerprint (SHA256:…).")
    var trust: String?

    @Flag(help: "Trust and remember an unknown server key without checking it (like ssh accept-new).")
    var trustOnFirstUse = false

    @Flag(help: "Print one JSON object per line.")
    var json = false

    @Option(help: "Where identity and known servers live (default: $XDG_CONFIG_HOME/sotto, or SOTTO_CONFIG_DIR).")
    var configDir: String?

    @Option(help: "Where the message history is kept, one database per server (default: $XDG_DATA_HOME/sotto, or SOTTO_DATA_DIR).")
    var dataDir: String?

    @Flag(help: "Keep no history on this device (/history and /search then have nothing to show).")
    var noHistory = false

    func validate() throws {
        if invite == nil, host == nil { throw ValidationError("Give --host (and --port), or an --invite link.") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be a number from 1 to 65535.") }
        if let trust, !Fingerprint.isWellFormed(trust) { throw ValidationError("--trust takes a fingerprint like SHA256:<43 base64 characters>.") }
        if [invite != nil, trust != nil, trustOnFirstUse].filter({ $0 }).count > 1 {
            throw ValidationError("Use only one of --invite, --trust and --trust-on-first-use.")
        }
    }

    func run() throws {
        let printer = EventPrinter(json: json)
        var host = self.host ?? ""
        var port = self.port ?? 8888
        var policy = TrustPolicy(vouched: trust, trustOnFirstUse: trustOnFirstUse)
        if let invite {
            do {
                let link = try InviteLink(parsing: invite)
                host = self.host ?? link.host
                port = self.port ?? link.port
                policy.vouched = link.fingerprint
            } catch {
                throw ValidationError("The invite link is not valid: \(error).")
            }
        }
        let password: String
        if let passwordFile {
            guard let line = PasswordFile.read(passwordFile) else { throw ValidationError("Cannot read a password from \(passwordFile).") }
            password = line
        } else if let env = ProcessInfo.processInfo.environment["SOTTO_PASSWORD"] {
            password = env
        } else {
            throw ValidationError("Give the server password with --password-file FILE or the SOTTO_PASSWORD environment variable.")
        }

        let directory = XDG.sottoConfigDirectory(configDir.map { URL(fileURLWithPath: $0) })
        let identity: ClientIdentity
        do { identity = try ClientIdentity.loadOrCreate(in: directory) } catch {
            printer.fatal("\(error)")
            throw ExitCode(1)
        }
        let dataDirectory = XDG.sottoDataDirectory(dataDir.map { URL(fileURLWithPath: $0) })
        let history = noHistory ? nil : HistoryRecorder(dataDirectory: dataDirectory,
                                                        identityFingerprint: identity.fingerprint, onFailure: { printer.warning($0) })
        let session = CLISession(printer: printer, history: history)
        let client = ChatClient(
            configuration: ClientConfiguration(host: host, port: port, username: user, password: password, trust: policy),
            identity: identity, knownServers: KnownServers(url: KnownServers.defaultURL(in: directory)),
            // Kept even without history: what waited on the server is read with it.
            keyStore: SQLiteKeyStateStore(dataDirectory: dataDirectory, identityFingerprint: identity.fingerprint),
            beforeStore: { history?.flush() },
            onEvent: { session.handle($0) })
        session.client = client
        client.connect()

        let input = Thread {
            while let line = readLine(strippingNewline: true) {
                if session.submit(line) == .quit { break }
            }
            session.inputEnded()
        }
        input.start()
        let code = session.waitForExit()
        client.shutdown()
        history?.flush()
        if code != 0 { throw ExitCode(code) }
    }
}
