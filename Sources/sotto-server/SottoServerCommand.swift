import ArgumentParser
import Dispatch
import Foundation
import Logging
import NIOCore
import SottoCore
import SottoServer

@main
struct SottoServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotto-server",
        abstract: "Host a password-protected, end-to-end encrypted Sotto chat on this network.",
        discussion: """
        Without a subcommand it serves. The password comes from --password, --password-file or \
        SOTTO_PASSWORD, in that order; with none of them, one is generated on first start and \
        kept in the data directory.
        """,
        subcommands: [Serve.self, MembersCommand.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Host a password-protected, end-to-end encrypted Sotto chat on this network (the default).")

    @Option(help: "Address to listen on (0.0.0.0 = every IPv4 address of this machine).")
    var host = "0.0.0.0"

    @Option(help: "TCP port to listen on (0: any free port, printed in the banner).")
    var port = 8888

    @Option(help: "Server password (visible to other local users in the process list; prefer --password-file or SOTTO_PASSWORD).")
    var password: String?

    @Option(help: "Read the server password from this file (first line).")
    var passwordFile: String?

    @Option(help: "Where the server key, password salt and generated password live (default: $XDG_DATA_HOME/sotto-server).")
    var dataDir: String?

    @Option(help: "Days that messages wait on the server for a member who is away, before they are dropped (they are kept as ciphertext).")
    var retentionDays = 30.0

    @Option(help: "Most bytes of waiting messages the server keeps in all; past it the oldest are dropped.")
    var retentionBytes = Retention().maxTotalBytes

    @Option(help: "New names that may be registered from one address (or IPv6 /64) per hour.")
    var registrationsPerHour = 20

    @Option(help: "Most bytes of messages that may wait for one member; past it their oldest are dropped (and they are told how many). One sender's direct messages may fill a quarter of it.")
    var retentionBytesPerMember = Retention().maxBytesPerMember

    @Option(help: "Name shown to clients.")
    var name = "Sotto"

    @Option(help: "Most connections at once.")
    var maxConnections = ServerLimits().maxConnections

    @Option(help: "Most connections from one address.")
    var maxConnectionsPerAddress = ServerLimits().maxConnectionsPerAddress

    @Option(help: "Largest message body in bytes (at most \(WireLimits.maxBodyBytes)).")
    var maxMessageBytes = ServerLimits().maxBodyBytes

    @Option(help: "Records per second each connection may send (sustained); beyond it the socket is read more slowly.")
    var recordsPerSecond = ServerLimits().recordsPerSecond

    @Option(help: "Records a connection may send in a burst above the sustained rate.")
    var recordBurst = ServerLimits().recordBurst

    @Option(help: "Bytes queued for a member that does not read before it is cut off.")
    var maxQueuedBytes = ServerLimits().maxQueuedBytes

    @Option(help: "Network threads (default: one per core).")
    var threads = System.coreCount

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be a number from 1 to 65535 (0: any free port).") }
        guard (1...WireLimits.maxBodyBytes).contains(maxMessageBytes) else {
            throw ValidationError("--max-message-bytes must be from 1 to \(WireLimits.maxBodyBytes).")
        }
        guard maxConnections > 0, maxConnectionsPerAddress > 0 else { throw ValidationError("connection limits must be positive.") }
        guard maxConnections <= WireLimits.maxListedMembers else { throw ValidationError("--max-connections is at most \(WireLimits.maxListedMembers) (the longest online list a client accepts).") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be from 1 to 256.") }
        guard maxQueuedBytes >= 64 * 1024 else { throw ValidationError("--max-queued-bytes must be at least 65536 (one full transport message).") }
        guard recordsPerSecond > 0, recordBurst >= 1 else { throw ValidationError("--records-per-second and --record-burst must be positive.") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error.") }
        if password != nil && passwordFile != nil { throw ValidationError("Give either --password or --password-file, not both.") }
    }

    func run() async throws {
        let signals = TerminationSignals()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let data = ServerDataDirectory(url: dataDir.map { URL(fileURLWithPath: $0) } ?? ServerDataDirectory.defaultURL)
        let lock: ServerDataDirectory.DirectoryLock
        do { lock = try data.lockForServer() } catch let error as SecureFile.Failure {
            FileHandle.standardError.write(Data("sotto-server: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        defer { withExtendedLifetime(lock) {} }
        let password: String
        let passwordNote: String
        var showPassword = true
        do {
            if let given = self.password {
                password = given
                passwordNote = "(from --password)"
            } else if let file = passwordFile {
                guard let line = PasswordFile.read(file) else { throw ValidationError("Cannot read a password from \(file).") }
                password = line
                passwordNote = "(from \(file))"
                showPassword = false
            } else if let env = ProcessInfo.processInfo.environment["SOTTO_PASSWORD"], !env.isEmpty {
                password = env
                passwordNote = "(from SOTTO_PASSWORD)"
                showPassword = false
            } else {
                let stored = try data.loadOrCreatePassword()
                password = stored.password
                passwordNote = stored.created ? "(generated; kept in \(data.passwordURL.path))" : "(kept in \(data.passwordURL.path))"
            }
        } catch let error as SecureFile.Failure {
            throw ValidationError(error.description)
        }

        let members: SQLiteMemberStore, deliveries: SQLiteDeliveryStore
        do {
            let database = try ServerDatabase(url: data.databaseURL)
            members = SQLiteMemberStore(database)
            deliveries = SQLiteDeliveryStore(database)
        } catch let error as SecureFile.Failure {
            throw ValidationError(error.description)
        }
        guard retentionDays > 0, retentionDays.isFinite, retentionBytes > 0, retentionBytesPerMember > 0 else {
            throw ValidationError("--retention-days, --retention-bytes and --retention-bytes-per-member must be positive.")
        }
        // One sender may fill a quarter of it: less than a message, and nobody could write to someone away.
        guard retentionBytesPerMember / 4 >= maxMessageBytes else {
            throw ValidationError("--retention-bytes-per-member must be at least four times --max-message-bytes (\(4 * maxMessageBytes)): one sender may fill a quarter of what waits for a member.")
        }

        var limits = ServerLimits()
        limits.maxConnections = maxConnections
        limits.maxConnectionsPerAddress = maxConnectionsPerAddress
        limits.maxBodyBytes = maxMessageBytes
        limits.recordsPerSecond = recordsPerSecond
        limits.recordBurst = recordBurst
        limits.maxQueuedBytes = maxQueuedBytes
        guard registrationsPerHour > 0 else { throw ValidationError("--registrations-per-hour must be positive.") }
        limits.registrationBurst = registrationsPerHour
        limits.registrationInterval = 3_600 / Double(registrationsPerHour)
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(
                host: host, port: port, serverName: name, staticKey: try data.loadOrCreateStaticKey(),
                password: password, passwordSalt: try data.loadOrCreateSalt(), limits: limits, threads: threads,
                members: members, deliveries: deliveries,
                retention: Retention(maxAge: retentionDays * 86_400, maxTotalBytes: retentionBytes, maxBytesPerMember: retentionBytesPerMember))
        } catch let error as SecureFile.Failure {
            throw ValidationError(error.description)
        }

        let server: ChatServer
        do { server = try ChatServer(configuration: configuration) } catch {
            FileHandle.standardError.write(Data("sotto-server: cannot read the delivery log in \(data.databaseURL.path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        do {
            try await server.start()
        } catch let error as ChatServer.StartError {
            FileHandle.standardError.write(Data("sotto-server: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(Banner(configuration: configuration, boundPort: server.port ?? port, password: showPassword ? password : nil,
                     passwordNote: passwordNote, addresses: ListeningAddresses.forBinding(host: host)).text)
        fflush(stdout)

        await signals.wait()
        print("Shutting down: telling clients...")
        try await server.shutdown()
        print("Stopped.")
    }
}
