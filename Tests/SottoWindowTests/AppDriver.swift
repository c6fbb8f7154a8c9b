import CSDL2
import Crypto
import Foundation
import Logging
import SottoClient
import SottoCore
@testable import SottoServer
import SottoSDL
import SottoUI
@testable import SottoWindow

/// Drives a headless ChatApp with injected SDL events, as a person would.
final class AppDriver {
    let app: ChatApp
    let configDirectory: URL
    /// Desktop notifications the window posted, in order.
    var notices: [DesktopNotifier.Notice] = []

    /// `typedEarly`: text waiting before the window's first frame (typed as it appeared).
    init(server: String? = nil, port: Int? = nil, user: String? = nil, invite: String? = nil, configDirectory: URL? = nil,
         typedEarly: String? = nil) throws {
        self.configDirectory = configDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("sotto-window-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.configDirectory, withIntermediateDirectories: true)
        var options = AppOptions(configDirectory: self.configDirectory, dataDirectory: self.configDirectory.appendingPathComponent("data"))
        options.minimumPasswordHashing = .testing  // LocalServer's cheap parameters
        options.headless = true
        options.server = server
        options.port = port
        options.user = user
        options.invite = invite
        app = try ChatApp(options: options)
        // What would reach the desktop is kept here (a developer's desktop is not notified).
        app.notifier.post = { [unowned self] in self.notices.append($0) }
        if let typedEarly { pushText(typedEarly) }
        app.step()
        app.step()
    }

    /// Types as SDL delivers text: in events of at most 31 bytes, whole characters each.
    func type(_ text: String) {
        var chunk = ""
        for character in text {
            if chunk.utf8.count + character.utf8.count > 31 { typeChunk(chunk); chunk = "" }
            chunk.append(character)
        }
        if !chunk.isEmpty { typeChunk(chunk) }
    }

    /// Queues events without drawing: what a busy window finds waiting at its next turn.
    func queue(text: String) { pushText(text) }
    func queue(key: SDL_KeyCode) {
        var event = SDL_Event()
        event.type = SDL_KEYDOWN.rawValue
        event.key.keysym.sym = Int32(key.rawValue)
        SDL_PushEvent(&event)
    }

    private func typeChunk(_ text: String) {
        pushText(text)
        app.step()
    }

    private func pushText(_ text: String) {
        var event = SDL_Event()
        event.type = SDL_TEXTINPUT.rawValue
        withUnsafeMutableBytes(of: &event.text.text) { buffer in
            let bytes = Array(text.utf8.prefix(31))
            for (i, b) in bytes.enumerated() { buffer[i] = b }
            buffer[bytes.count] = 0
        }
        SDL_PushEvent(&event)
    }

    /// The window comes to the front (another window was clicked, or it was minimised: false).
    func windowFocus(_ gained: Bool) {
        var event = SDL_Event()
        event.type = SDL_WINDOWEVENT.rawValue
        event.window.event = UInt8((gained ? SDL_WINDOWEVENT_FOCUS_GAINED : SDL_WINDOWEVENT_FOCUS_LOST).rawValue)
        SDL_PushEvent(&event)
        app.step()
    }

    func press(_ key: SDL_KeyCode, shift: Bool = false, control: Bool = false) {
        var event = SDL_Event()
        event.type = SDL_KEYDOWN.rawValue
        event.key.keysym.sym = Int32(key.rawValue)
        var mod: UInt16 = 0
        if shift { mod |= UInt16(KMOD_LSHIFT.rawValue) }
        if control { mod |= UInt16(KMOD_LCTRL.rawValue) }
        event.key.keysym.mod = mod
        SDL_PushEvent(&event)
        app.step()
    }

    func click(_ r: Rect) {
        let x = Int32(r.x + r.w / 2), y = Int32(r.y + r.h / 2)
        var move = SDL_Event()
        move.type = SDL_MOUSEMOTION.rawValue
        move.motion.x = x
        move.motion.y = y
        SDL_PushEvent(&move)
        app.step()
        for type in [SDL_MOUSEBUTTONDOWN, SDL_MOUSEBUTTONUP] {
            var e = SDL_Event()
            e.type = type.rawValue
            e.button.button = UInt8(SDL_BUTTON_LEFT)
            e.button.x = x
            e.button.y = y
            e.button.clicks = 1
            SDL_PushEvent(&e)
        }
        app.step()
    }

    /// Presses the left button at `from`, moves to `to` with it held, releases there.
    func drag(from: (Int, Int), to: (Int, Int)) {
        func mouse(_ type: SDL_EventType, _ p: (Int, Int)) {
            var e = SDL_Event()
            e.type = type.rawValue
            if type == SDL_MOUSEMOTION {
                e.motion.x = Int32(p.0); e.motion.y = Int32(p.1)
            } else {
                e.button.button = UInt8(SDL_BUTTON_LEFT)
                e.button.x = Int32(p.0); e.button.y = Int32(p.1)
                e.button.clicks = 1
            }
            SDL_PushEvent(&e)
            app.step()
        }
        mouse(SDL_MOUSEMOTION, from)
        mouse(SDL_MOUSEBUTTONDOWN, from)
        mouse(SDL_MOUSEMOTION, ((from.0 + to.0) / 2, (from.1 + to.1) / 2))
        mouse(SDL_MOUSEMOTION, to)
        mouse(SDL_MOUSEBUTTONUP, to)
    }

    /// A key held down or let go on its own (Shift alone, say).
    func key(_ key: SDL_KeyCode, down: Bool, shift: Bool = false) {
        var event = SDL_Event()
        event.type = (down ? SDL_KEYDOWN : SDL_KEYUP).rawValue
        event.key.keysym.sym = Int32(key.rawValue)
        event.key.keysym.mod = shift ? UInt16(KMOD_LSHIFT.rawValue) : 0
        SDL_PushEvent(&event)
        app.step()
    }

    func rect(_ label: String) -> Rect? { app.ui.widgetRects[app.ui.id(label)] }

    /// The `n`th row of the conversation list, as last drawn.
    func conversationRow(_ n: Int) -> Rect? { app.ui.widgetRects[app.ui.withID("conversations") { app.ui.id("row:\(n)") }] }

    func focusedLabel(_ candidates: [String]) -> String? {
        candidates.first { app.ui.isFocused(app.ui.id($0)) }
    }

    /// Steps frames until the condition holds (client events arrive as SDL events).
    func until(_ what: String, timeout: Double = 20, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            app.step()
            if condition() { return }
            usleep(10_000)
        }
        app.step()
        if !condition() { throw WindowTestFailure("timed out waiting for \(what)") }
    }

    /// Saves what the window shows under test-artifacts/ (PNG when ImageMagick is there, else BMP).
    @discardableResult
    func screenshot(_ name: String) -> URL? {
        guard let dir = ProcessInfo.processInfo.environment["SOTTO_TEST_ARTIFACTS"] else { return nil }
        app.step()
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetRendererOutputSize(app.renderer, &w, &h)
        var pixels = [UInt32](repeating: 0, count: Int(w * h))
        SDL_RenderReadPixels(app.renderer, nil, SDL_PIXELFORMAT_ARGB8888.rawValue, &pixels, w * 4)
        guard let surface = SDL_CreateRGBSurfaceWithFormatFrom(&pixels, w, h, 32, w * 4, SDL_PIXELFORMAT_ARGB8888.rawValue) else { return nil }
        defer { SDL_FreeSurface(surface) }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let bmp = URL(fileURLWithPath: dir).appendingPathComponent("\(name).bmp")
        SDL_SaveBMP_RW(surface, SDL_RWFromFile(bmp.path, "wb"), 1)
        let png = bmp.deletingPathExtension().appendingPathExtension("png")
        let convert = Process()
        convert.executableURL = URL(fileURLWithPath: "/usr/bin/convert")
        convert.arguments = [bmp.path, png.path]
        if (try? convert.run()) != nil {
            convert.waitUntilExit()
            if convert.terminationStatus == 0 { try? FileManager.default.removeItem(at: bmp); return png }
        }
        return bmp
    }
}

extension AppDriver {
    /// Types the test server's password into the form (filled otherwise) and waits for the chat.
    /// Config and data for a window opened more than once.
    static func home() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sotto-window-\(UUID().uuidString)")
    }

    /// A window in `home`, logged in, once `online` are listed online; `body` runs in it, then
    /// what it keeps is written and it closes.
    static func session(_ user: String, on server: LocalServer, home: URL, online: [String], _ body: (AppDriver) throws -> Void = { _ in }) throws {
        let first = try AppDriver(user: user, invite: server.invite, configDirectory: home)
        try first.logInWithPassword()
        try first.until("\(online) in the list") { first.app.model.members.filter(\.online).map(\.name) == online }
        // What the body does is kept from here (a CI run under load closed before it was).
        try first.until("the history's opening read") { first.app.draftsRestored }
        try body(first)
        first.app.finish()
    }

    /// The window of `session` opened again on its home, logged in.
    static func reopened(_ user: String, on server: LocalServer, home: URL) throws -> AppDriver {
        let back = try AppDriver(user: user, invite: server.invite, configDirectory: home)
        try back.logInWithPassword()
        return back
    }

    func logInWithPassword() throws {
        type(LocalServer.password)
        press(SDLK_RETURN)
        try until("chat screen") { app.screen == .chat }
    }
}

/// Waits for what another client sees, without stepping a window.
func waitUntil(_ what: String, timeout: Double = 20, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        guard Date() < deadline else { throw WindowTestFailure("timed out waiting for \(what)") }
        usleep(10_000)
    }
}

struct WindowTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A real server on 127.0.0.1 with cheap scrypt parameters.
final class LocalServer {
    static let password = "window-test-password"
    let server: ChatServer
    let key: Curve25519.KeyAgreement.PrivateKey

    init(port: Int = 0, key: Curve25519.KeyAgreement.PrivateKey = .init()) async throws {
        self.key = key
        var logger = Logger(label: "window.test.server")
        logger.logLevel = .critical
        var limits = ServerLimits()
        limits.recordsPerSecond = 10_000
        limits.recordBurst = 10_000
        server = try ChatServer(configuration: try ServerConfiguration(
            host: "127.0.0.1", port: port, staticKey: key, password: Self.password,
            passwordSalt: Array("window-salt-0123".utf8), scrypt: .testing, limits: limits, threads: 1), logger: logger)
        try await server.start()
    }

    var port: Int { server.port! }
    var fingerprint: String { server.configuration.fingerprint }
    var invite: String { InviteLink(host: "127.0.0.1", port: port, fingerprint: fingerprint).text }

    func stop() async { try? await server.shutdown(grace: .milliseconds(50)) }
}

/// A headless member chatting with the window.
final class Peer: @unchecked Sendable {
    let client: ChatClient
    private let lock = NSLock()
    private var received: [ClientEvent] = []

    init(_ name: String, server: LocalServer) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-peer-\(UUID().uuidString)")
        var configuration = ClientConfiguration(host: "127.0.0.1", port: server.port, username: name, password: LocalServer.password,
                                                trust: TrustPolicy(vouched: server.fingerprint))
        configuration.backoffBase = 0.05
        configuration.minimumPasswordHashing = .testing
        let box = Box()
        client = ChatClient(configuration: configuration, identity: try ClientIdentity.loadOrCreate(in: dir),
                            knownServers: KnownServers(url: KnownServers.defaultURL(in: dir)), onEvent: { box.sink?($0) })
        box.sink = { [weak self] e in self?.lock.withLock { self?.received.append(e) } }
        client.connect()
    }

    private final class Box: @unchecked Sendable { var sink: ((ClientEvent) -> Void)? }

    var events: [ClientEvent] { lock.withLock { received } }
    var texts: [String] { events.compactMap { if case .message(let m) = $0, !m.isOwn { m.text } else { nil } } }
    var online: Bool { events.contains(.state(.online)) }
    /// The last member list.
    var members: [Member] { events.reversed().lazy.compactMap { if case .users(let u) = $0 { u } else { nil } }.first ?? [] }
}

extension AppDriver {
    /// A config directory whose identity has `count` messages from bob kept for `server`'s
    /// room: `message(i)` gives each one's seconds after a fixed start, and its text.
    static func keptHistory(on server: LocalServer, count: Int, _ message: (Int) -> (seconds: Double, text: String)) throws -> URL {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-window-kept-\(UUID().uuidString)")
        let identity = try ClientIdentity.loadOrCreate(in: config)
        let store = try HistoryStore(url: HistoryStore.url(in: config.appendingPathComponent("data"), serverFingerprint: server.fingerprint,
                                                           identityFingerprint: identity.fingerprint))
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        try store.append((0..<count).map { i in
            let (seconds, text) = message(i)
            return ReceivedMessage(sequence: UInt64(i + 1), time: start.addingTimeInterval(seconds), from: "bob", to: "", text: text,
                                   isOwn: false, clientMessageID: UInt64(i + 1), trust: .unverified)
        })
        // Read, as a window that showed them would have noted.
        if count > 0 { try store.saveReadMark(.room, upTo: ("bob", UInt64(count))) }
        return config
    }

    /// A window logged in as `user` through its form (the invite fills the rest, the
    /// password is typed, Enter pressed), once the online list reads `listed`.
    static func loggedIn(_ user: String, on server: LocalServer, listed: [String], seenBy peers: [Peer] = []) throws -> AppDriver {
        let driver = try AppDriver(user: user, invite: server.invite)
        driver.type(LocalServer.password)
        driver.press(SDLK_RETURN)
        try driver.until("the list reads \(listed)") { driver.app.model.members.map(\.name) == listed }
        // What the history holds is shown (its lines come in their own time otherwise).
        try driver.until("the kept history and drafts read") { driver.app.draftsRestored || driver.app.recorder == nil }
        try driver.untilSeen(by: peers)
        return driver
    }

    /// The kept drafts and the conversation left open arrive, as the history's opening read
    /// brings them, and the window takes them.
    func keptArrive(_ drafts: [Conversation: String], open: Conversation?) {
        app.queue.post(.history(HistoryAnswer(conversation: .room, kind: .drafts(drafts, open: open))))
        app.step()
    }

    /// Waits until every peer lists this window's user online. What a peer seals for the room
    /// before it knows the user is, by design, not the user's to read: a test whose peer
    /// writes at once must wait for this, as the window waiting for its own list is not enough.
    func untilSeen(by peers: [Peer]) throws {
        let user = app.form.username
        for peer in peers {
            try until("\(user) online for a peer") { peer.members.contains { $0.name == user && $0.online } }
        }
    }
}
