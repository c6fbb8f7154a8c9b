import Foundation
import SottoClient
import SottoCore
import Testing

/// Leaving and coming back: what a client showed is kept on its device, per server, and
/// found again with sotto-cli's /history and /search (the real executables).
@Suite(.takesTurns) struct HistoryTests {
    static func jsonLines(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func aClientThatLeavesFindsTheConversationKeptWhenItComesBack() async throws {
        let data = temporaryDirectory("server-history")
        let (server, port, fingerprint, password) = try await ProcessTests.startServer(dataDir: data)
        let cli = Products.url("sotto-cli")
        let base = ["--host", "127.0.0.1", "--port", "\(port)", "--trust", fingerprint]
        let listenerDirs = ["SOTTO_CONFIG_DIR": temporaryDirectory("hist-lc").path, "SOTTO_DATA_DIR": temporaryDirectory("hist-ld").path,
                            "SOTTO_PASSWORD": password]
        let listener = try ChildProcess(cli, base + ["--user", "listener", "--json"], environment: listenerDirs)
        try await eventually("listener online") { listener.stdout.contains("online as listener") }
        let talker = try ChildProcess(cli, base + ["--user", "talker"],
                                      environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("hist-tc").path, "SOTTO_PASSWORD": password,
                                                    "SOTTO_DATA_DIR": temporaryDirectory("hist-td").path])
        try await eventually("talker sees listener") { talker.stdout.contains("* online: listener, talker") }
        talker.write("the deploy is done\nlunch at noon?\n/msg listener only for you\n")
        try await eventually("listener got all three") { listener.stdout.contains("only for you") }
        talker.closeInput()
        #expect(await talker.waitForExit() == 0)
        listener.closeInput()
        #expect(await listener.waitForExit() == 0)

        // Back later: commands piped before the login wait for it.
        let back = try ChildProcess(cli, base + ["--user", "listener", "--json"], environment: listenerDirs)
        // /forget asks first (a newcomer's run: one typed deleted 207 messages at once).
        back.write("/history 5\n/search DEPLO\n/forget\n/history 1\n/forget\n/history\n")
        back.closeInput()
        #expect(await back.waitForExit(timeout: 60) == 0)
        let lines = Self.jsonLines(back.stdout)
        let history = lines.filter { $0["history"] as? Bool == true && $0["search"] == nil }
        // /history 5, then /history 1 between the question and the answer.
        #expect(history.map { $0["text"] as? String } == ["the deploy is done", "lunch at noon?", "lunch at noon?"], "\(back.stdout)")
        #expect(history.allSatisfy { $0["type"] as? String == "message" && $0["from"] as? String == "talker" })
        let found = lines.filter { $0["search"] as? Bool == true }
        #expect(found.map { $0["text"] as? String } == ["the deploy is done"])
        let asked = try #require(lines.firstIndex { ($0["text"] as? String)?.hasPrefix("This deletes everything of the room") == true }, "\(back.stdout)")
        let deleted = try #require(lines.firstIndex { ($0["text"] as? String)?.hasPrefix("Deleted 2 kept messages") == true })
        // Asked, still kept in between, then deleted.
        #expect(lines[asked..<deleted].contains { $0["history"] as? Bool == true && $0["text"] as? String == "lunch at noon?" })
        #expect(lines.contains { ($0["text"] as? String)?.hasPrefix("Deleted 2 kept messages") == true }, "\(back.stdout)")
        #expect(lines.contains { ($0["text"] as? String)?.hasPrefix("Nothing kept") == true })
        // The direct message stays kept in its own conversation; the file is private.
        let file = try #require(FileManager.default.enumerator(atPath: listenerDirs["SOTTO_DATA_DIR"]!)?.compactMap { $0 as? String }.first { $0.hasPrefix("history/") && $0.hasSuffix(".sqlite") })
        let store = try HistoryStore(url: URL(fileURLWithPath: listenerDirs["SOTTO_DATA_DIR"]!).appendingPathComponent(file))
        #expect(try store.recent(in: .direct("talker"), limit: 5).map(\.text) == ["only for you"])
        // What sotto-cli printed is read: a window opened later on this device counts none of it new.
        let marks = try store.readMarks().marks
        #expect(marks[.direct("talker")] == (try store.recent(in: .direct("talker"), limit: 1).first?.id))
        #expect(marks[.room] == nil)  // forgotten with the room's messages

        // --no-history keeps no history and says so.
        let never = temporaryDirectory("hist-qd").appendingPathComponent("never")
        let quiet = try ChildProcess(cli, base + ["--user", "quiet", "--no-history"],
                                     environment: ["SOTTO_CONFIG_DIR": temporaryDirectory("hist-qc").path, "SOTTO_PASSWORD": password,
                                                   "SOTTO_DATA_DIR": never.path])
        quiet.write("/history\n")
        quiet.closeInput()
        #expect(await quiet.waitForExit(timeout: 60) == 0)
        #expect(quiet.stdout.contains("History is off (--no-history)"))
        // Only this device's keys are kept (what waits on the server is read with them): no history.
        #expect(!FileManager.default.fileExists(atPath: never.appendingPathComponent("history").path))
        #expect(FileManager.default.fileExists(atPath: never.appendingPathComponent("keys").path))
        server.signal(SIGTERM)
        _ = await server.waitForExit()
    }
}
