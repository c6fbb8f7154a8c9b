import Foundation
import SottoClient
import SottoCore
import Testing

/// The real `sotto` executable in a real X window (Xvfb), typed into with xdotool: what a
/// person does, end to end, against a real server and a headless member.
@Suite(.takesTurns) struct RealWindowTests {
    func run(_ tool: String, _ args: [String], env: [String: String] = [:]) async -> (Int32?, String) {
        guard let p = try? ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), [tool] + args, environment: env) else { return (nil, "") }
        let code = await p.waitForExit(timeout: 20)
        return (code, p.stdout + p.stderr)
    }

    @Test func aPersonLogsInAndChatsThroughTheWindow() async throws {
        let number = Int.random(in: 150...250)
        let display = ":\(number)"
        let xvfb = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["Xvfb", display, "-screen", "0", "1100x760x24", "-nolisten", "tcp"])
        defer { xvfb.signal(SIGTERM) }
        try await eventually("Xvfb listening") { FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(number)") || !xvfb.process.isRunning }
        #expect(xvfb.process.isRunning, "Xvfb did not start: \(xvfb.stderr)")

        let server = try await TestServer(limits: relaxedLimits(), scrypt: .floor)
        let watcher = try TestClient("watcher", server: server)
        try await watcher.connectAndWait()
        let bob = try TestClient("bob", server: server)
        try await bob.connectAndWait()
        let invite = InviteLink(host: "127.0.0.1", port: server.port, fingerprint: server.fingerprint).text
        let window = try ChildProcess(Products.url("sotto"), ["--invite", invite, "--user", "xwin"],
                                      environment: ["DISPLAY": display, "SOTTO_CONFIG_DIR": temporaryDirectory("xwin").path,
                                                    // The in-process SDL tests set the dummy driver; a real window needs X11.
                                                    "SDL_VIDEODRIVER": "x11"])
        defer { window.signal(SIGKILL) }  // whatever happens, no window outlives the test (or its X server)
        let env = ["DISPLAY": display]
        var windowID = ""
        try await eventually("the window appears") {
            guard window.process.isRunning else { throw WindowExited(stderr: window.stderr) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["xdotool", "search", "--class", "sotto"]  // by class: a UTF-8 title is not matched by --name
            p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            p.waitUntilExit()
            windowID = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            return !windowID.isEmpty
        }
        _ = await run("xdotool", ["windowfocus", "--sync", windowID], env: env)
        // The focus starts in the first empty field: the password. Type it, press Enter.
        _ = await run("xdotool", ["type", "--delay", "15", TestServer.password], env: env)
        _ = await run("xdotool", ["key", "Return"], env: env)
        do {
            try await watcher.waitForUsers(["bob", "watcher", "xwin"], timeout: 45)
        } catch {
            // What the window showed, and said, when it did not log in.
            if let dir = ProcessInfo.processInfo.environment["SOTTO_TEST_ARTIFACTS"] {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                _ = await run("import", ["-window", "root", "\(dir)/08-real-window-not-in.png"], env: env)
            }
            Issue.record("the window's stderr: \(window.stderr)")
            throw error
        }
        // A direct message typed as a command reaches bob alone (issue 13.1: it went to the room).
        _ = await run("xdotool", ["type", "--delay", "15", "/msg bob for bob only"], env: env)
        _ = await run("xdotool", ["key", "Return"], env: env)
        try await bob.waitForMessages(1)
        #expect(bob.messages.first?.text == "for bob only" && bob.messages.first?.to == "bob")
        // Back to the room with the mouse (the direct message opened bob's conversation), then
        // text for everyone: the focus stays in the composer.
        _ = await run("xdotool", ["mousemove", "--window", windowID, "100", "46", "click", "1"], env: env)
        _ = await run("xdotool", ["type", "--delay", "15", "typed into a real window"], env: env)
        _ = await run("xdotool", ["key", "Return"], env: env)
        try await watcher.waitForMessages(1)
        // The room's first message is this one: the direct message, typed before it, never reached the watcher.
        #expect(watcher.messages.map(\.text) == ["typed into a real window"])
        #expect(watcher.messages.first?.from == "xwin")
        // The title taskbars show (_NET_WM_NAME, UTF-8) names the conversation: it stayed
        // "Sotto" while the legacy WM_NAME read "Sotto â\302\200\302\224 # room".
        let (_, title) = await run("xprop", ["-id", windowID, "_NET_WM_NAME", "WM_NAME"], env: env)
        #expect(title.contains("_NET_WM_NAME(UTF8_STRING) = \"Sotto — # room\""), "\(title)")
        #expect(!title.contains("\\302"), "\(title)")
        // The smallest size the form fits is a hint window managers see (it was lost when
        // SDL recreated the window to try OpenGL).
        let (_, hints) = await run("xprop", ["-id", windowID, "WM_NORMAL_HINTS"], env: env)
        #expect(hints.contains("program specified minimum size: 640 by 480"), "\(hints)")
        // Typed faster than frames: two lines and their Enters at once, in order, each whole.
        // (xdotool's `type` turns "\n" into Linefeed, which is not Enter: `key` sends Return.)
        let keys: [String] = "fast one\nfast two\n".map { $0 == " " ? "space" : $0 == "\n" ? "Return" : String($0) }
        _ = await run("xdotool", ["key", "--delay", "0"] + keys, env: env)
        try await watcher.waitForMessages(3)
        #expect(watcher.messages.map(\.text) == ["typed into a real window", "fast one", "fast two"])
        watcher.client.send("and read in one")
        try await Task.sleep(nanoseconds: 700_000_000)
        if let dir = ProcessInfo.processInfo.environment["SOTTO_TEST_ARTIFACTS"] {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (code, output) = await run("import", ["-window", "root", "\(dir)/08-real-window.png"], env: env)
            #expect(code == 0, "\(output)")
        }
        // Left behind something else (the keyboard to the desktop, as a click on it gives
        // it): what the room says meanwhile is counted in the title, until the window is back.
        func windowTitle(becomes wanted: String) async throws -> String {
            var shown = ""
            for _ in 0..<100 {
                shown = await run("xprop", ["-id", windowID, "_NET_WM_NAME"], env: env).1
                if shown.contains("\"\(wanted)\"") { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            return shown
        }
        let (_, rootInfo) = await run("xwininfo", ["-root"], env: env)
        let root = try #require(rootInfo.split(separator: " ").drop { $0 != "id:" }.dropFirst().first.map(String.init))
        _ = await run("xdotool", ["windowfocus", "--sync", root], env: env)
        watcher.client.send("while you looked away")
        let behind = try await windowTitle(becomes: "(1) Sotto — # room")
        #expect(behind.contains("(1) Sotto — # room"), "behind the desktop: \(behind)")
        // Written to alone: the taskbar is asked to show the window (X11's urgency hint).
        func urgent() async -> Bool { await run("xprop", ["-id", windowID, "WM_HINTS"], env: env).1.contains("urgency hint bit is set") }
        #expect(await !urgent(), "the room called the person back")
        bob.client.send("for you, when you are back", to: "xwin")
        _ = try await windowTitle(becomes: "(2) Sotto — # room")
        #expect(await urgent())
        _ = await run("xdotool", ["windowfocus", "--sync", windowID], env: env)
        // The room is read; what came for xwin alone waits in its own conversation.
        let back = try await windowTitle(becomes: "(1) Sotto — # room")
        #expect(back.contains("\"(1) Sotto — # room\""), "back at the window: \(back)")
        #expect(await !urgent())
        #expect(window.process.isRunning, "the window exited: \(window.stderr)")
        // Closed the way a session manager closes it: SIGTERM, while its display is still there.
        window.signal(SIGTERM)
        #expect(await window.waitForExit(timeout: 10) != nil, "the window did not quit on SIGTERM")
        watcher.stop()
        bob.stop()
        await server.stop()
    }
}

struct WindowExited: Error, CustomStringConvertible {
    let stderr: String
    var description: String { "the window exited: \(stderr)" }
}
