import Foundation
import SottoClient
import SottoCore
import Testing

/// The real executables, run as a person runs them.
@Suite(.takesTurns) struct ProcessTests {
    /// Starts sotto-server on a free port and returns it with its banner facts.
    static func startServer(dataDir: URL, port: Int = 0, extra: [String] = []) async throws -> (ChildProcess, port: Int, fingerprint: String, password: String) {
        let server = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", dataDir.path] + extra)
        try await eventually("banner", timeout: 20) { server.stdout.contains("Waiting for connections...") }
        let lines = server.stdout.split(separator: "\n").map(String.init)
        let port = Int(lines.first { $0.hasPrefix("Listening on port ") }!.dropFirst("Listening on port ".count).prefix { $0.isNumber })!
        let fingerprint = String(lines.first { $0.hasPrefix("Fingerprint:") }!.split(separator: " ").last!)
        let password = String(lines.first { $0.hasPrefix("Password:") }!.split(separator: " ", omittingEmptySubsequences: true)[1])
        return (server, port, fingerprint, password)
    }

    @Test func bannerShowsAddressesPasswordFingerprintAndInvite() async throws {
        let data = temporaryDirectory("server-data")
        let (server, port, fingerprint, password) = try await Self.startServer(dataDir: data)
        let banner = server.stdout
        #expect(Fingerprint.isWellFormed(fingerprint))
        #expect(banner.contains("sotto://127.0.0.1:\(port)/#\(fingerprint)"))
        #expect(banner.contains("(generated; kept in"))
        #expect(password == (try String(contentsOf: data.appendingPathComponent("password"), encoding: .utf8)).trimmingCharacters(in: .newlines))
        // The invite link parses back to this server.
        let invite = banner.split(separator: "\n").first { $0.contains("sotto://") }!.trimmingCharacters(in: .whitespaces)
        #expect(try InviteLink(parsing: invite) == InviteLink(host: "127.0.0.1", port: port, fingerprint: fingerprint))
        // Logs never carry the password.
        #expect(!server.stderr.contains(password))
        server.signal(SIGTERM)
        #expect(await server.waitForExit() == 0, "stdout: \(server.stdout.replacingOccurrences(of: password, with: "<password>"))\nstderr: \(server.stderr)")

        // Second start: same key, same password, now "kept" rather than "generated".
        let (again, _, fingerprint2, password2) = try await Self.startServer(dataDir: data)
        #expect(fingerprint2 == fingerprint && password2 == password)
        #expect(again.stdout.contains("(kept in"))
        again.signal(SIGINT)
        #expect(await again.waitForExit() == 0, "stdout: \(again.stdout.replacingOccurrences(of: password, with: "<password>"))\nstderr: \(again.stderr)")
    }

    @Test func aPortInUseIsOneClearSentenceAndAFailingExit() async throws {
        let data = temporaryDirectory("server-busy")
        let (first, port, _, _) = try await Self.startServer(dataDir: data)
        let second = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", temporaryDirectory("server-busy-2").path])
        let status = await second.waitForExit()
        #expect(status == 1)
        #expect(second.stderr.contains("Port \(port) on 127.0.0.1 is already in use"), "\(second.stderr)")
        let bad = try ChildProcess(Products.url("sotto-server"), ["--port", "70000"])
        #expect(await bad.waitForExit() == 64)
        #expect(bad.stderr.contains("--port must be a number from 1 to 65535"))
        first.signal(SIGTERM)
        _ = await first.waitForExit()
    }

    /// Two servers on one data directory (each on its own port) would give the same
    /// delivery-log positions twice: the second is refused before it opens the database.
    @Test func aSecondServerOnTheSameDataDirectoryIsRefused() async throws {
        let data = temporaryDirectory("server-shared")
        let (first, _, _, _) = try await Self.startServer(dataDir: data)
        let second = try ChildProcess(Products.url("sotto-server"), ["--host", "127.0.0.1", "--port", "0", "--data-dir", data.path])
        #expect(await second.waitForExit() == 1)
        #expect(second.stderr.contains("another sotto-server is running on \(data.path)"), "\(second.stderr)")
        #expect(!second.stdout.contains("Waiting for connections"))
        // The operator's command is made to run beside the server: it takes no lock.
        let members = try ChildProcess(Products.url("sotto-server"), ["members", "list", "--data-dir", data.path])
        #expect(await members.waitForExit() == 0, "\(members.stderr)")
        // Once the first has stopped, however it stopped, the directory is free again.
        first.signal(SIGKILL)
        _ = await first.waitForExit()
        let (again, _, _, _) = try await Self.startServer(dataDir: data)
        again.signal(SIGTERM)
        #expect(await again.waitForExit() == 0)
    }

    @Test func sigtermTellsConnectedClientsThenExitsCleanly() async throws {
        let data = temporaryDirectory("server-term")
        let (server, port, fingerprint, password) = try await Self.startServer(dataDir: data)
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, username: "witness", password: password,
                                                trust: TrustPolicy(vouched: fingerprint), reconnect: false)
        configuration.backoffBase = 0.05
        let dir = temporaryDirectory("witness")
        let events = EventLog()
        let client = ChatClient(configuration: configuration, identity: try ClientIdentity.loadOrCreate(in: dir),
                                knownServers: KnownServers(url: KnownServers.defaultURL(in: dir)), onEvent: { events.append($0) })
        client.connect()
        try await eventually("online") { events.contains(.state(.online)) }
        server.signal(SIGTERM)
        try await eventually("told") { events.contains(.state(.failed(.server(ServerError(.shuttingDown, fatal: true))))) }
        #expect(await server.waitForExit() == 0)
        #expect(server.stdout.contains("Stopped."))
        client.shutdown()
    }

    /// Issue 15: `/leave` typed on sotto-cli's input, as a person would: alone it says how,
    /// with your name it leaves the server, and the CLI is done (exit 0) without its input closing.
    @Test func sottoCLILeavesTheServerWithItsOwnNameAndExits() async throws {
        let data = temporaryDirectory("server-cli-leave")
        let (server, port, fingerprint, password) = try await Self.startServer(dataDir: data)
        let cli = Products.url("sotto-cli")
        let env = { (dir: String) in ["SOTTO_CONFIG_DIR": temporaryDirectory(dir).path, "SOTTO_PASSWORD": password] }
        let args = { (user: String) in ["--host", "127.0.0.1", "--port", "\(port)", "--user", user, "--trust", fingerprint] }
        let listener = try ChildProcess(cli, args("listener") + ["--json"], environment: env("cli-leave-l"))
        try await eventually("listener online") { listener.stdout.contains("online as listener") }
        let leaver = try ChildProcess(cli, args("leaver"), environment: env("cli-leave-x"))
        try await eventually("leaver online") { leaver.stdout.contains("* online: leaver, listener") }
        leaver.write("/leave\n")
        try await eventually("how to confirm") { (leaver.stdout + leaver.stderr).contains("type /leave leaver") }
        leaver.write("/leave leaver\n")
        #expect(await leaver.waitForExit(timeout: 20) == 0, "\(leaver.stdout)\(leaver.stderr)")
        #expect(leaver.stdout.contains("You left this server: the name leaver is free again"))
        try await eventually("listener told") { listener.stdout.contains("leaver is no longer a member of this server") }
        listener.signal(SIGTERM)
        server.signal(SIGTERM)
        _ = await server.waitForExit()
    }

    /// The wait between attempts grows to 30 s; `/reconnect` typed on sotto-cli's input tries
    /// at once (before, it was an unknown command and the wait stood).
    @Test func sottoCLIReconnectsAtOnceWhenAsked() async throws {
        let data = temporaryDirectory("server-cli-reconnect")
        let (server, port, fingerprint, password) = try await Self.startServer(dataDir: data)
        let proxy = try await TCPProxy(targetPort: port)
        let cli = try ChildProcess(Products.url("sotto-cli"), ["--host", "127.0.0.1", "--port", "\(proxy.port)", "--user", "rin", "--trust", fingerprint],
                                   environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("cli-reconnect").path, "SOTTO_PASSWORD": password])
        try await eventually("online") { cli.stdout.contains("online as rin") }
        cli.write("/reconnect\n")
        try await eventually("already") { cli.stdout.contains("Already connected.") }
        // The server "goes down": every attempt is refused; the fourth wait is at least 3.2 s.
        proxy.refuse(true)
        proxy.cutAll()
        try await eventually("the fourth wait", timeout: 20) { cli.stdout.contains("(attempt 4)") }
        proxy.refuse(false)
        cli.write("/reconnect\n")
        // Whichever wait it is in by now (a loaded machine may have let the fourth go by), it
        // connects at the command; only an attempt already under way is left to finish.
        try await eventually("connecting now") {
            let out = cli.stdout + cli.stderr
            return out.contains("Connecting now.") || out.contains("Already connecting.")
        }
        try await eventually("back online") { cli.stdout.components(separatedBy: "online as rin").count == 3 }
        // (Its end of input, not SIGTERM: children of the test runner start with SIGTERM blocked.)
        cli.closeInput()
        #expect(await cli.waitForExit() == 0)
        await proxy.stop()
        server.signal(SIGTERM)
        _ = await server.waitForExit()
    }

    @Test func sottoCLIChatsInJSONAndExitsWithClearStatuses() async throws {
        let data = temporaryDirectory("server-cli")
        let (server, port, fingerprint, password) = try await Self.startServer(dataDir: data)
        let passwordFile = data.appendingPathComponent("copy-of-password")
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        let cli = Products.url("sotto-cli")
        let invite = "sotto://127.0.0.1:\(port)/#\(fingerprint)"

        let listener = try ChildProcess(cli, ["--invite", invite, "--user", "listener", "--password-file", passwordFile.path, "--json"],
                                        environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("cli-l").path])
        try await eventually("listener online") { listener.stdout.contains("online as listener") }
        let talker = try ChildProcess(cli, ["--host", "127.0.0.1", "--port", "\(port)", "--user", "talker", "--trust", fingerprint],
                                      environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("cli-t").path, "SOTTO_PASSWORD": password])
        try await eventually("talker sees listener") { talker.stdout.contains("* online: listener, talker") }
        // Lines piped in before the login go once it is up, and that is said once (a newcomer's
        // run: 200 lines printed "kept: sent when you are back online" 200 times, "back" before
        // ever being online).
        let early = try ChildProcess(cli, ["--host", "127.0.0.1", "--port", "\(port)", "--user", "early", "--trust", fingerprint],
                                     environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("cli-e").path, "SOTTO_PASSWORD": password])
        early.write("one\ntwo\nthree\n")
        early.closeInput()
        #expect(await early.waitForExit() == 0)
        #expect(early.stdout.components(separatedBy: "* kept:").count - 1 == 1, "\(early.stdout)")
        #expect(early.stdout.contains("* kept: what you type is sent once connected"))
        try await eventually("listener got the early lines") { listener.stdout.contains("three") }
        // A message of several lines (from a window, Shift-Enter) prints under its first line,
        // each behind a bar: none can pass for a message of someone else's.
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port, username: "writer", password: password,
                                                trust: TrustPolicy(vouched: fingerprint), reconnect: false)
        configuration.backoffBase = 0.05
        let writerDir = temporaryDirectory("cli-w")
        let writerEvents = EventLog()
        let writer = ChatClient(configuration: configuration, identity: try ClientIdentity.loadOrCreate(in: writerDir),
                                knownServers: KnownServers(url: KnownServers.defaultURL(in: writerDir)), onEvent: { writerEvents.append($0) })
        writer.connect()
        try await eventually("writer online") { writerEvents.contains(.state(.online)) }
        try await eventually("writer sees talker") { talker.stdout.contains("writer") }
        writer.send("first line\n[12:00] <listener> wire the money\nlast line", to: "")
        try await eventually("talker got the lines") { talker.stdout.contains("last line") }
        let printed = talker.stdout.split(separator: "\n").map(String.init)
        let head = try #require(printed.firstIndex { $0.hasSuffix("<writer> first line") }, "\(talker.stdout)")
        #expect(Array(printed[(head + 1)...].prefix(2)) == ["    │ [12:00] <listener> wire the money", "    │ last line"])
        #expect(!printed.contains { $0.hasPrefix("[12:00] <listener>") })
        // In JSON too, what a terminal could obey is escaped (an attacker's review: raw C1 and
        // bidi controls reached --json output).
        writer.send("pay \u{9B}31m\u{202E}gpj.exe\u{2028}now", to: "")
        try await eventually("listener got it") { listener.stdout.contains("gpj.exe") }
        #expect(listener.stdout.contains("\\u009b31m\\u202egpj.exe\\u2028now"), "\(listener.stdout)")
        #expect(!listener.stdout.unicodeScalars.contains { [0x9B, 0x202E, 0x2028].contains($0.value) })
        writer.shutdown()
        talker.write("hello over the CLI\n@listener are you there?\n/msg listener psst\n/fingerprint listener\n/verify listener\n/fingerprint\n")
        try await eventually("verified") { talker.stdout.contains("You verified listener") }
        talker.closeInput()
        #expect(await talker.waitForExit() == 0)
        // Leaving does not print an empty room (the listener is still online).
        #expect(!talker.stdout.contains("* online: (nobody)"), "\(talker.stdout)")
        let talkerLines = talker.stdout.split(separator: "\n").map(String.init)
        let safety = try #require(talkerLines.first { $0.hasPrefix("* listener: SHA256:") })
        #expect(safety.contains("; safety number with you: ") && safety.split(separator: ":").last!.split(separator: " ").count == 12)
        #expect(talkerLines.contains { $0.hasPrefix("* you: SHA256:") })
        try await eventually("listener got both") { listener.stdout.contains("psst") }
        let objects = listener.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(objects.count == listener.stdout.split(separator: "\n").count, "every line is one JSON object")
        let messages = objects.filter { $0["type"] as? String == "message" }
        #expect(messages.map { $0["text"] as? String } == ["one", "two", "three", "first line\n[12:00] <listener> wire the money\nlast line",
                                                           "pay \u{9B}31m\u{202E}gpj.exe\u{2028}now", "hello over the CLI", "@listener are you there?", "psst"])
        let talkers = messages.filter { $0["from"] as? String == "talker" }
        #expect(talkers.count == 3 && messages.allSatisfy { $0["time"] is String })
        // A room message calling the listener is marked for scripts, and only it.
        #expect(messages.filter { $0["mentionsYou"] as? Bool == true }.map { $0["text"] as? String } == ["@listener are you there?"])
        #expect(messages.last?["to"] as? String == "listener")
        #expect(talkers.map { $0["conversation"] as? String } == ["room", "room", "talker"])
        #expect(messages.allSatisfy { $0["encryption"] as? String == "end-to-end" && $0["verified"] as? Bool == false })
        #expect(objects.contains { $0["type"] as? String == "users" && Set(($0["users"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []).isSuperset(of: ["listener", "talker"]) })
        #expect(objects.contains { $0["type"] as? String == "system" && $0["text"] as? String == "talker is online" })

        func status(_ args: [String], env: [String: String]) async throws -> (Int32?, String) {
            let p = try ChildProcess(cli, args, environment: env.merging(["SOTTO_CONFIG_DIR": temporaryDirectory("cli-x").path]) { $1 })
            p.closeInput()
            let code = await p.waitForExit()
            return (code, p.stderr)
        }
        let base = ["--host", "127.0.0.1", "--port", "\(port)", "--user", "someone"]
        var (code, err) = try await status(base + ["--trust", fingerprint], env: ["SOTTO_PASSWORD": "nope"])
        #expect(code == 4 && err.contains("Wrong server password."))
        (code, err) = try await status(["--host", "127.0.0.1", "--port", "\(port)", "--user", "listener", "--trust", fingerprint], env: ["SOTTO_PASSWORD": password])
        #expect(code == 5 && err.contains("belongs to another member"))
        (code, err) = try await status(base, env: ["SOTTO_PASSWORD": password])
        #expect(code == 7 && err.contains(fingerprint))
        (code, err) = try await status(base + ["--trust", "SHA256:" + String(repeating: "Q", count: 43)], env: ["SOTTO_PASSWORD": password])
        #expect(code == 6 && err.contains("does not match the invite"))
        server.signal(SIGTERM)
        _ = await server.waitForExit()
        (code, err) = try await status(base + ["--trust", fingerprint], env: ["SOTTO_PASSWORD": password])
        #expect(code == 3 && err.contains("connection refused"))
        listener.signal(SIGTERM)
    }

    @Test func aStockNoiseLibraryInteroperates() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let watcher = try TestClient("watcher", server: server)
        try await watcher.connectAndWait()
        let pw = temporaryDirectory("interop").appendingPathComponent("pw")
        try TestServer.password.write(to: pw, atomically: true, encoding: .utf8)
        let script = Products.packageRoot.appendingPathComponent("tools/interop/noise_interop.py")
        let python = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                      ["python3", script.path, "--port", "\(server.port)", "--password-file", pw.path,
                                       "--user", "pybot", "--expect-fingerprint", server.fingerprint])
        let code = await python.waitForExit(timeout: 60)
        #expect(code == 0, "\(python.stdout)\(python.stderr)")
        let types = python.stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.compactMap { $0["type"] as? String }
        #expect(types.starts(with: ["welcome", "users"]))
        #expect(types.contains("message") && types.last == "ack")
        #expect(python.stdout.contains("OK \(server.fingerprint)"))
        // The stock client has no end-to-end identity: its plaintext is relayed, but members
        // refuse it rather than show it as a message.
        try await eventually("watcher refuses the plaintext") { watcher.systemLines.contains { $0.contains("Rejected a message from pybot") } }
        #expect(watcher.messages.isEmpty)
        watcher.stop()
        await server.stop()
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [ClientEvent] = []
    func append(_ e: ClientEvent) { lock.withLock { events.append(e) } }
    func contains(_ e: ClientEvent) -> Bool { lock.withLock { events.contains(e) } }
    var snapshot: [ClientEvent] { lock.withLock { events } }
    /// The connection states and system notes seen, oldest first: what a failing test reports.
    var history: String {
        snapshot.compactMap { event -> String? in
            switch event {
            case .state(let s): "state \(s)"
            case .notice(let n): "notice \(n.text)"
            case .users(let u): "users \(u.count)"
            default: nil
            }
        }.joined(separator: "; ")
    }
}
