import CSDL2
import Foundation
import SottoClient
import SottoCore
import SottoSDL
import SottoUI

/// The windowed client: one SDL window, an immediate-mode UI redrawn from state when
/// something changed, fed by a ChatClient on its network thread.
public final class ChatApp {
    public enum Screen: Equatable { case login, chat }

    // SDL
    let window: OpaquePointer
    let renderer: OpaquePointer
    let fonts: SDLFonts
    let painter: SDLCommandRenderer
    let frameCache: SDLFrameCache
    public let ui: UIContext
    let queue = ClientEventQueue()

    // State
    let options: AppOptions
    public internal(set) var screen: Screen = .login
    var form: Settings
    var password = ""
    var showPassword = false
    var expectedFingerprint: String?
    public internal(set) var formError: String?
    var fieldErrors: Set<String> = []
    public internal(set) var connecting = false
    var client: ChatClient?
    /// The local history of the server logged in to (nil when it is off).
    var recorder: HistoryRecorder?
    let model = ChatModel()
    var draft = ""
    /// Each conversation keeps what was typed in it: a private draft must never follow the
    /// person into the room, where Enter would send it to everyone.
    var drafts: [Conversation: String] = [:]
    var draftConversation = Conversation.room
    /// The drafts as the history was last told them (`ChatApp+Drafts`), once the kept ones
    /// were put back: before that, nothing typed may overwrite what was kept.
    var keptDrafts: [Conversation: String] = [:]
    var draftsRestored = false
    /// The open conversation as the history was last told it.
    var keptOpenConversation: Conversation?
    /// `ChatModel.colorGeneration` as last handed to the recorder (-1: not yet this login).
    var keptColorGeneration = -1
    /// Typed after Connect, before the chat opened: it goes into the composer when it opens.
    var typeAhead = ""
    /// When type-ahead went into the composer (SDL ticks): an Enter pressed before then
    /// never sends it.
    var typeAheadLandedAt: UInt32?
    /// The message a search result went to, marked in its conversation until another opens.
    var markedMessage: (conversation: Conversation, id: String, matches: [Range<Int>])?
    /// Key changes already shown (name and new fingerprint).
    var warnedKeyChanges: Set<String> = []
    /// What was typed and sent or run, with where: Up and Down bring back the lines of the
    /// open conversation only (a line written to one person, recalled in another's
    /// conversation, was one Enter from reaching the wrong person).
    var typedLines: [(conversation: Conversation, text: String)] = []
    /// Which of the open conversation's typed lines Up brought back (nil: the draft).
    var historyIndex: Int?
    let wrapCache = LogWrapCache()
    /// The unknown server key waiting for the person's decision.
    public internal(set) var trustPrompt: String?
    /// A changed server key: a blocking warning.
    public internal(set) var keyChangedWarning: (expected: String, actual: String)?
    var focusInputNextFrame = false
    /// A click in the member list opened a new conversation: the conversation list keeps its
    /// rows until the pointer moves, so the member list does not shift under it (a second
    /// click where the first one was opened the person below).
    var conversationRowsHeld: (rows: Int, x: Int, y: Int, until: Double)?
    /// The conversations as the sidebar lists them (`model.order`, held while the pointer is over it).
    var sidebarOrder: [Conversation] = []
    /// The open conversation the sidebar last scrolled into view.
    var revealedConversation: Conversation?
    /// A new conversation's row waits at most this long for the pointer to move (a
    /// newcomer's run: kept still, the conversation just opened was in no list for good).
    static let rowsHeldSeconds = 1.0
    /// When the next reconnect attempt is due (the window's clock), while reconnecting: the
    /// banner counts down to it, a frame each second.
    var reconnectDue: Double?
    var shownCountdown: Int?
    /// Whole seconds until the next attempt, as the banner shows them.
    var reconnectSecondsLeft: Int? { reconnectDue.map { max(0, Int(($0 - now).rounded(.up))) } }
    /// The search panel (Ctrl+F): what is typed, and what was found for which words.
    public internal(set) var searchOpen = false
    var searchQuery = ""
    var searchResults: (words: String, found: [StoredMessage])?
    var focusSearchNextFrame = false
    /// The conversation the last command was typed in: its answers are shown there.
    var answersGoTo: Conversation?
    /// The conversation a first /forget named, and when: a second one there within
    /// `forgetConfirmSeconds` deletes (one typed in the wrong conversation wiped it at once).
    var forgetAsked: (conversation: Conversation, at: Double)?
    /// How far each conversation was read when the window opened (nil until the history
    /// answered), and as last handed to the recorder since.
    var readMarks: [Conversation: Int64]?
    /// Per conversation, the line last handed to the recorder as read (keys increase down a
    /// log: scrolling back up writes nothing).
    var keptReadKeys: [Conversation: Int] = [:]
    /// Per conversation, the newest line the log has shown while the window was looked at:
    /// what lies above it is not "new" for the jump button, wherever the view is now.
    var seenThroughKeys: [Conversation: Int] = [:]
    /// The search panel's rows for the answer shown, and the width they were made for.
    var searchItems: (fits: Int, items: [UIContext.ListItem])?
    /// /search results in a log, by line key: what a click on one goes to. Bounded by what
    /// the logs hold (a result's line let go, or forgotten, goes from here too).
    var foundTargets: [Int: StoredMessage] = [:]
    /// The result chosen with Down and Up in the search panel (Enter opens it).
    var searchChosen: Int?
    /// The mark of a conversation never opened on this device (`HistoryStore.readMarks`).
    var readSince: Int64?
    /// When the room was told the connection was lost (`.reconnecting`, the window's clock),
    /// until it is back.
    var connectionLostAt: Double?
    /// A loss shorter than this leaves the open conversation unmarked when it is back.
    static let briefLoss = 120.0
    static let forgetConfirmSeconds = 60.0
    /// The member whose Verify… button asked for their identity: its answer opens the dialog.
    var verifyRequestedFor: String?
    /// The verification dialog: both fingerprints and the safety number, to compare.
    public internal(set) var verifyDialog: (name: String, theirs: String, safetyNumber: String)?
    /// A dialog was drawn this frame: nothing behind it takes the focus yet.
    var dialogDrawn = false
    /// The count the jump button showed last frame (its place is reserved before the log).
    var jumpShownFor = 0
    /// The button back to the newest is shown: new messages below, or the log scrolled up.
    var jumpShown = false
    /// The window title last set (it carries the unread count).
    var shownTitle = ""
    /// What the last frame drew (tests find text on screen by it).
    var lastCommandsForTesting: [DrawCommand] = []
    var focusFormNextFrame = true
    /// Something the person did (or the frame after it) is waiting to be drawn: at once.
    var dirty = true
    /// Content changed by what arrived (messages, presence, notices): drawn at most every
    /// `updateInterval`, so a stream of 50 messages a second costs 25 frames, not 50 or more.
    var pendingUpdate = false
    var lastFrameTime = -Double.infinity
    static let updateInterval = 0.04
    public private(set) var quit = false
    /// The name Tab completed last in the message box (a further Tab gives the next).
    var lastCompletion: NameCompletion?
    /// Closing was asked for once and said what it would lose: the next close quits.
    var closeAnyway = false
    public private(set) var framesDrawn = 0
    /// Blinks presented from the frame cache (no layout).
    public private(set) var caretFramesPresented = 0
    /// Whether the caret is on screen now (a blink presents only when this changes).
    var caretShown = false
    /// SIGTERM and SIGINT close the window as its close button does. SDL's own handlers only
    /// flag a signal for the next event pump, and the signal can land on the network thread
    /// while this one sleeps in SDL_WaitEventTimeout; a pushed SDL_QUIT wakes it at once.
    private var signalSources: [DispatchSourceSignal] = []

    public init(options: AppOptions) throws {
        self.options = options
        let opened = Date()
        clock = { Date().timeIntervalSince(opened) }
        if options.headless {
            // The dummy driver: a window is plain memory for the software renderer. The
            // offscreen driver loads Mesa's EGL and unloads it at SDL_Quit while Mesa's
            // threads live on; a test process that ran on afterwards crashed jumping into
            // the unmapped library.
            setenv("SDL_VIDEODRIVER", "dummy", 1)
            SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software")
        }
        if !options.headless { SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1") }
        guard SDL_Init(SDL_INIT_VIDEO | SDL_INIT_EVENTS) == 0 else { throw SDLError.last("SDL_Init") }
        if !options.headless {  // in-process tests keep their runner's own signal handling
            for sig in [SIGTERM, SIGINT] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    var quit = SDL_Event()
                    quit.type = SDL_QUIT.rawValue
                    SDL_PushEvent(&quit)
                }
                source.resume()
                signalSources.append(source)
            }
        }
        let flags = SDL_WINDOW_RESIZABLE.rawValue | SDL_WINDOW_ALLOW_HIGHDPI.rawValue | (options.headless ? SDL_WINDOW_HIDDEN.rawValue : SDL_WINDOW_SHOWN.rawValue)
        let centered = Int32(SDL_WINDOWPOS_CENTERED_MASK)
        // The size it was closed at (a newcomer's run: every start went back to 1000 × 680).
        let size = Self.openingSize(options, saved: Settings.load(from: options.configDirectory))
        guard let window = SDL_CreateWindow("Sotto", centered, centered, Int32(size.width), Int32(size.height), flags) else {
            throw SDLError.last("SDL_CreateWindow")
        }
        self.window = window
        // SDL's software renderer puts its frames on the window directly (X11 shared memory),
        // not through an OpenGL texture: under a software OpenGL that upload cost more than
        // the drawing.
        // Only on X11: under Wayland the software renderer has no other way to the screen.
        if let driver = SDL_GetCurrentVideoDriver(), String(cString: driver) == "x11" {
            SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0")
        }
        let rendererFlags = options.headless ? SDL_RENDERER_SOFTWARE.rawValue : SDL_RENDERER_ACCELERATED.rawValue | SDL_RENDERER_PRESENTVSYNC.rawValue
        var created = SDL_CreateRenderer(window, -1, rendererFlags)
        if let gl = created, Self.isSoftwareOpenGL(gl) {
            // OpenGL emulated on the CPU (Mesa's llvmpipe: Xvfb, a VM, no GPU driver) draws
            // this UI several times slower than SDL's own software renderer.
            SDL_DestroyRenderer(gl)
            created = nil
        }
        guard let renderer = created ?? SDL_CreateRenderer(window, -1, SDL_RENDERER_SOFTWARE.rawValue) else {
            throw SDLError.last("SDL_CreateRenderer")
        }
        self.renderer = renderer
        // After the renderer: trying OpenGL recreates the X11 window, and the size hint set
        // before was lost (a window manager let the window shrink until the form was cut off).
        SDL_SetWindowMinimumSize(window, 640, 480)
        var pw: Int32 = 0, ph: Int32 = 0, ww: Int32 = 0, wh: Int32 = 0
        SDL_GetRendererOutputSize(renderer, &pw, &ph)
        SDL_GetWindowSize(window, &ww, &wh)
        let scale = ww > 0 ? max(1, Double(pw) / Double(ww)) : 1
        fonts = try SDLFonts(pixelScale: scale)
        painter = SDLCommandRenderer(renderer: renderer, fonts: fonts)
        frameCache = SDLFrameCache(renderer: renderer)
        ui = UIContext(metrics: fonts)
        ui.getClipboard = { SDL_HasClipboardText() == SDL_TRUE ? String(cString: SDL_GetClipboardText()) : "" }
        ui.setClipboard = { SDL_SetClipboardText($0) }
        SDL_StartTextInput()

        form = Settings.load(from: options.configDirectory)
        if let user = options.user { form.username = user }
        if let server = options.server { form.server = server }
        if let port = options.port { form.port = String(port) }
        if let invite = options.invite { applyInvite(invite) }
    }

    /// Whether an OpenGL renderer runs on a software rasterizer (llvmpipe, softpipe, swrast).
    static func isSoftwareOpenGL(_ renderer: OpaquePointer) -> Bool {
        var info = SDL_RendererInfo()
        guard SDL_GetRendererInfo(renderer, &info) == 0, let name = info.name, String(cString: name).hasPrefix("opengl"),
              let address = SDL_GL_GetProcAddress("glGetString") else { return false }
        typealias GetString = @convention(c) (UInt32) -> UnsafePointer<UInt8>?
        let glGetString = unsafeBitCast(address, to: GetString.self)
        let GL_RENDERER: UInt32 = 0x1F01
        guard let text = glGetString(GL_RENDERER) else { return false }
        let description = String(cString: text).lowercased()
        return ["llvmpipe", "softpipe", "software rasterizer", "swrast"].contains { description.contains($0) }
    }

    /// The window's size at start: as it was last closed (within reason), else the options'.
    /// Headless windows (tests, benchmarks) keep the options' size.
    static func openingSize(_ options: AppOptions, saved: Settings) -> (width: Int, height: Int) {
        guard !options.headless, let w = saved.windowWidth, let h = saved.windowHeight else { return (options.windowWidth, options.windowHeight) }
        return (min(max(w, 640), 8192), min(max(h, 480), 8192))
    }

    /// Keeps the window's size for the next start (only that: the form's fields are saved
    /// when a login succeeds, not as they were left).
    func keepWindowSize() {
        guard !options.headless else { return }
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetWindowSize(window, &w, &h)
        guard var saved = Settings.loadIfReadable(from: options.configDirectory),
              w > 0, h > 0, saved.windowWidth != Int(w) || saved.windowHeight != Int(h) else { return }
        saved.windowWidth = Int(w)
        saved.windowHeight = Int(h)
        saved.save(to: options.configDirectory)
    }

    /// What closing keeps (the window's size, messages not sent yet), then the client and
    /// the history closed: once, at the window's end (tests close a window this way too).
    public func finish() {
        guard !finished else { return }
        finished = true
        keepWindowSize()
        keepBeforeTheOpeningRead()
        keepUnsent()
        client?.shutdown()
        recorder?.flush()
    }
    private var finished = false

    deinit {
        finish()
        frameCache.release()
        painter.release()
        SDL_DestroyRenderer(renderer)
        SDL_DestroyWindow(window)
        SDL_Quit()
    }

    // MARK: Loop

    /// Runs until the window closes. Sleeps in SDL_WaitEventTimeout: an idle window wakes
    /// only for input, for client events, and when the caret blinks; a blink presents the
    /// cached frame with the caret over it (no layout, no drawing of the rest).
    public func run() { run(for: .infinity) }

    /// The same loop for a while (benchmarks run it in phases); false once the window closed.
    @discardableResult
    public func run(for seconds: Double) -> Bool {
        let end = now + seconds
        while !quit, now < end {
            // A frame that changed state it has not shown yet is followed at once.
            let untilCaret = ui.secondsToNextCaretChange(after: now)
            let untilUpdate = pendingUpdate ? max(0, lastFrameTime + Self.updateInterval - now) : nil
            // The countdown's next second.
            let untilTick = reconnectDue.map { due -> Double in
                let left = due - now
                return left <= 0 ? 60 : left - left.rounded(.down) + 0.001
            }
            // Rows held under a still pointer are shown when the hold ends.
            let untilRowsShown = conversationRowsHeld.map { max(0, $0.until - now) + 0.001 }
            // What a burst's quiet time held for the desktop is said when it ends.
            let untilNotice = notifier.nextDue().map { max(0, $0 - now) + 0.001 }
            let wake = min(untilCaret.map { $0 + 0.001 } ?? 60, untilUpdate ?? 60, untilTick ?? 60, untilRowsShown ?? 60, untilNotice ?? 60, end - now)
            let timeout: Int32 = dirty ? 0 : Int32(max(0, (wake * 1000).rounded(.up)))
            var event = SDL_Event()
            // A held key goes first, before anything queued after it: no waiting.
            if heldKey == nil, SDL_WaitEventTimeout(&event, timeout) != 0 { take(event) }
            turn()
        }
        return !quit
    }

    /// A key that acts on typed text (`SDLInput.actsOnTypedText`: Enter, Backspace, the
    /// arrows…) has a frame to itself. A frame applies its keys before its text, and Enter
    /// sends the field as the frame leaves it: "hello", Enter, "wor" in one batch of events
    /// sent "hellowor". Such a key after other input waits for the next frame (`heldKey`),
    /// and what is queued after it waits for the frame after its own.
    private var heldKey: SDL_Event?
    private var frameTakesNoMore = false

    private func take(_ event: SDL_Event) {
        guard SDLInput.actsOnTypedText(event) else { return handle(event) }
        frameTakesNoMore = true
        if !ui.input.text.isEmpty || !ui.input.keys.isEmpty {
            heldKey = event
            dirty = true
        } else if SDLInput.isEnter(event), let landed = typeAheadLandedAt, event.key.timestamp <= landed {
            // Pressed before the type-ahead it would send was on screen: a new line, as
            // every Enter typed ahead is.
            ui.input.text += "\n"
            dirty = true
        } else {
            handle(event)
        }
    }

    /// What is queued, in order, as far as this frame may take it.
    private func handleQueued() {
        // What the network and history threads posted first: its wake may have been lost
        // (SDL's queue full, or flushed), and a kept draft put back into the composer must
        // land before any key pressed meanwhile is taken (an Enter would send it unseen).
        applyClientEvents()
        if let held = heldKey {
            heldKey = nil
            take(held)  // the frame before took what came first: this one is the key's own
        }
        // Not SDL_PollEvent: it ends a sweep at a sentinel it queues, and a sweep stopped
        // early left that sentinel ahead of the next key, which then waited a turn.
        SDL_PumpEvents()
        var event = SDL_Event()
        while !frameTakesNoMore, SDL_PeepEvents(&event, 1, SDL_GETEVENT, SDL_FIRSTEVENT.rawValue, SDL_LASTEVENT.rawValue) > 0 { take(event) }
        notifier.postDue(now: now)
    }

    /// One turn of the loop once awake: what is queued is handled, then what changed is
    /// drawn: a whole frame, or only the caret over the cached frame, or nothing.
    public func turn() {
        defer { frameTakesNoMore = false }
        handleQueued()
        if reconnectDue != nil, reconnectSecondsLeft != shownCountdown { dirty = true }
        if dirty || (pendingUpdate && now >= lastFrameTime + Self.updateInterval) {
            drawFrame()
        } else if ui.caret != nil, ui.caretVisible(at: now) != caretShown {
            presentCaret()
        }
    }

    /// For tests: handles everything queued and draws a frame (more than one when a key
    /// typed after text waits for the next).
    public func step() {
        var more = true
        while more {
            handleQueued()
            drawFrame()
            // Stopped at a key with more behind it: the next frame takes that.
            more = heldKey != nil || (frameTakesNoMore && SDL_HasEvents(SDL_FIRSTEVENT.rawValue, SDL_LASTEVENT.rawValue) == SDL_TRUE)
            frameTakesNoMore = false
        }
    }

    /// Seconds since the window opened (tests set the time to drive the caret).
    public var clock: () -> Double
    var now: Double { clock() }

    /// Opens a link a person clicked in the browser the desktop chooses (tests see the link).
    lazy var openLink: (String) -> Bool = { link in SDL_OpenURL(link) == 0 }

    /// Notifies the desktop of what asks for the person while the window is behind (tests
    /// replace its `post`).
    lazy var notifier = DesktopNotifier(preview: options.notifications)

    /// Asks the desktop to draw the person back to the window (tests count the asks).
    lazy var askForAttention: () -> Void = { [unowned self] in _ = SDL_FlashWindow(self.window, SDL_FLASH_UNTIL_FOCUSED) }

    /// Hands the window an event as the network thread does (from any thread).
    public func post(_ event: ClientEvent) { queue.post(event) }

    /// Closes the window as its close button does (from any thread).
    public static func requestQuit() {
        var quit = SDL_Event()
        quit.type = SDL_QUIT.rawValue
        SDL_PushEvent(&quit)
    }

    /// The SDL renderer in use ("software", "opengl", …).
    public var rendererName: String {
        var info = SDL_RendererInfo()
        guard SDL_GetRendererInfo(renderer, &info) == 0, let name = info.name else { return "?" }
        return String(cString: name)
    }

    func handle(_ event: SDL_Event) {
        if event.type == SDL_QUIT.rawValue { return close() }
        // Ctrl+Q closes the window, as it does most Linux applications (drafts are kept).
        if event.type == SDL_KEYDOWN.rawValue, event.key.keysym.sym == Int32(SDLK_q.rawValue),
           UInt32(event.key.keysym.mod) & UInt32(KMOD_CTRL.rawValue) != 0 { return close() }
        if event.type == queue.wakeType { return applyClientEvents() }
        if event.type == SDL_RENDER_TARGETS_RESET.rawValue || event.type == SDL_RENDER_DEVICE_RESET.rawValue {
            frameCache.invalidate()
            dirty = true
        }
        if SDLInput.apply(event, to: &ui.input, pixelScale: fonts.pixelScale) { dirty = true }
    }

    /// Closes the window, unless that would lose messages: offline with history off, what
    /// waits to be sent cannot be kept (`keepUnsent`), and the first close says so instead.
    func close() {
        if recorder == nil, !closeAnyway, screen == .chat, model.state != .online, model.pendingCount > 0 {
            closeAnyway = true
            let n = model.pendingCount
            model.system("\(n == 1 ? "A message is" : "\(n) messages are") not sent yet, and history is off, so nothing can keep \(n == 1 ? "it" : "them") for the next start: close again to quit anyway, or wait for the connection.",
                         warning: true, conversation: model.current)
            dirty = true
            return
        }
        quit = true
    }

    func drawFrame() {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { recordFrame(DispatchTime.now().uptimeNanoseconds - started) }
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetWindowSize(window, &w, &h)
        let time = now
        let fromInput = dirty
        // Back at a window left in the background: read on from what came meanwhile.
        if screen == .chat, model.attend(ui.input.windowFocused) { openAtNewSince() }
        // Back at the window: what the desktop was still to be told is seen here.
        if ui.input.windowFocused { notifier.forgetHeld() }
        ui.beginFrame(width: Int(w), height: Int(h), time: time)
        switch screen {
        case .login: loginScreen()
        case .chat: chatScreen()
        }
        let commands = ui.endFrame()
        if screen == .chat { keepChangedDrafts(); keepReadMarks() }
        lastCommandsForTesting = commands + ui.caretCommands(at: time)
        updateTitle()
        // Drawn into the frame cache (then copied to the window), or to the window directly.
        if frameCache.begin() {
            painter.render(commands)
            frameCache.end()
        } else {
            painter.render(commands)
        }
        painter.render(ui.caretCommands(at: time))
        caretShown = ui.caret != nil && ui.caretVisible(at: time)
        SDL_RenderPresent(renderer)
        framesDrawn += 1
        lastFrameTime = time
        // A hover that changed under a moving mouse is shown at once; one that changed
        // because the content moved under a still one waits like the content did.
        dirty = ui.needsAnotherFrame || (ui.hoverChanged && fromInput)
        pendingUpdate = ui.hoverChanged && !fromInput
    }

    /// How long the last frames took to lay out, draw and present, in milliseconds (the
    /// newest `frameTimesKept`; benchmarks read them).
    public private(set) var frameTimes: [Double] = []
    static let frameTimesKept = 8_192

    private func recordFrame(_ nanoseconds: UInt64) {
        if frameTimes.count >= Self.frameTimesKept { frameTimes.removeFirst(frameTimes.count / 2) }
        frameTimes.append(Double(nanoseconds) / 1e6)
    }

    public func resetFrameTimes() { frameTimes = [] }

    /// The caret changed and nothing else did: the cached frame with the caret as it is now.
    func presentCaret() {
        guard frameCache.isValid, frameCache.copyToWindow() else { drawFrame(); return }
        let time = now
        painter.render(ui.caretCommands(at: time))
        caretShown = ui.caretVisible(at: time)
        SDL_RenderPresent(renderer)
        caretFramesPresented += 1
    }

    // MARK: Client

    func apply(_ event: ClientEvent) {
        switch event {
        case .state(let s):
            model.state = s
            if case .reconnecting(_, let delay) = s { reconnectDue = now + delay } else { reconnectDue = nil }
            switch s {
            case .failed(let failure):
                // Lost after the chat opened (replaced by another login, say): a Reconnect that
                // works says so, as an automatic one does (a newcomer's run: it said nothing).
                if screen == .chat, connectionLostAt == nil { connectionLostAt = now }
                connectionFailed(failure)
            case .reconnecting: break
            default: break
            }
        case .welcome(let name, let fingerprint):
            model.myName = name
            model.serverFingerprint = fingerprint
            // The conversation open through a brief loss is not marked: the person watched it.
            // After a long one (a night's sleep) what waited is new there too.
            let lostAt = connectionLostAt
            connectionLostAt = nil
            let brief = lostAt.map { now - $0 < Self.briefLoss } ?? false
            model.beginCatchUp(seeing: screen == .chat && brief ? model.current : nil)
            connecting = false
            formError = nil
            if screen != .chat {
                screen = .chat
                focusInputNextFrame = true
                form.save(to: options.configDirectory)
                // Read nothing until the history says where to reopen (with none, at once).
                if recorder != nil { model.beginOpening() }
                loadKept(Self.keptOnOpening)
            } else if lostAt != nil {
                // The log said the connection was lost; it says it is back (a newcomer's run:
                // "Reconnecting…" stayed its last word while the chat went on).
                model.system("Connected again.", conversation: .room)
            }
        case .users(let members):
            // Names the list did not have are new members, who read the room from now on:
            // said, also for those who joined while this connection was down (a review). Not
            // at the first list of a session: nothing was listed to compare with.
            let before = Set(model.members.map(\.name))
            model.members = members
            model.assignColors(present: members.map(\.name))
            if !before.isEmpty {
                // Several at once in one line (a newcomer's run: twelve lines for twelve).
                let new = members.filter { !$0.isMe && !before.contains($0.name) }.map(\.name)
                    .sorted { $0.localizedStandardCompare($1) == .orderedAscending }
                if !new.isEmpty {
                    let names = new.count == 1 ? new[0] : new.dropLast().joined(separator: ", ") + " and " + new.last!
                    model.system(TerminalText.escaped("\(names) \(new.count == 1 ? "is a new member" : "are new members") of this room: they can read what is sent from now on."))
                }
            }
        case .message(let m):
            let callsMe = model.received(m)
            // Written to you alone, or calling you by name in the room, while you look
            // elsewhere: the taskbar is asked to show it (SDL_FlashWindow: the urgency hint on
            // X11), until the window is back, and the desktop shows a notification (who, and
            // what they wrote unless `--notifications names`). The rest of the room is counted
            // in the title only.
            if !m.isOwn, !model.attending, m.conversation != .room || callsMe {
                askForAttention()
                notifier.notify(from: m.from, in: m.conversation, text: m.text, now: now)
            }
        case .notice(let notice): show(notice)
        case .identity(let name?, let fingerprint, let safety?) where name == verifyRequestedFor:
            verifyRequestedFor = nil
            verifyDialog = (name, fingerprint, safety)
        case .identity(let name, let fingerprint, let safety):
            let here = answersGoTo ?? model.current
            if let name, let safety {
                model.system("\(name)'s fingerprint: \(fingerprint); your safety number with \(name): \(safety). Compare it with \(name) in person or by phone; if it matches, type /verify \(name).", conversation: here)
            } else {
                model.system("\(name.map { "\($0)'s" } ?? "Your") fingerprint: \(fingerprint)", conversation: here)
            }
        case .queued(let id, let to, let text): model.queued(id: id, to: to, text: text)
        case .caughtUp:
            model.endCatchUp()
            openAtNewSince()
        case .delivered: break
        case .rejected(let id):
            // Back in its composer, if that is empty, to be corrected or sent elsewhere: a
            // line marked "(not sent)" alone would be lost with the window.
            model.rejected(id: id) { conversation, text in
                if conversation == draftConversation {
                    guard draft.isEmpty else { return false }
                    draft = text
                    ui.placeCaretAtEnd("message", text: draft)
                } else {
                    guard (drafts[conversation] ?? "").isEmpty else { return false }
                    drafts[conversation] = text
                }
                return true
            }
        }
    }

    /// Where each kind of notice goes, and how it looks: decided by its kind.
    func show(_ notice: ClientNotice) {
        // Names in notices come from the server: controls are shown, not obeyed.
        let text = TerminalText.escaped(notice.text)
        switch notice {
        case .keyChanged(let name, _, let current):
            // Said once per new key: every reconnect reported the same change again.
            guard warnedKeyChanges.insert("\(name)\u{0}\(current)").inserted else { return }
            model.system(text, warning: true)
            model.system("\(name)'s identity key changed. Compare safety numbers before trusting what they send.", warning: true, conversation: .direct(name))
        case .verified(let name, _):
            // A later change of this person's key is news again.
            warnedKeyChanges = warnedKeyChanges.filter { !$0.hasPrefix(name + "\u{0}") }
            model.system(text, warning: notice.isWarning, conversation: answersGoTo ?? model.current)
        case .verificationNotSaved, .notOnline:
            // Answers to a command: where it was typed.
            model.system(text, warning: notice.isWarning, conversation: answersGoTo ?? model.current)
        case .notSent:
            // About what the person just typed: where they are.
            model.system(text, warning: true, conversation: model.current)
        case .joined, .left:
            // Online and away are the member list's to show (a newcomer's run: every open,
            // close and reconnect wrote a line, nine in a row after a server restart); a new
            // member is said when the list first has them (`.users`).
            return
        default:
            if case .reconnecting = notice, connectionLostAt == nil { connectionLostAt = now }
            // About the room, its members or the server: never inside a direct conversation,
            // whose header says only the two of you can read it.
            model.system(text, warning: notice.isWarning, conversation: .room)
        }
    }

    func connectionFailed(_ failure: ClientFailure) {
        connecting = false
        switch failure {
        case .serverKeyUnknown(_, _, let fingerprint):
            trustPrompt = fingerprint  // typed ahead is kept if the key is trusted, dropped if not
        case .serverKeyChanged(_, _, let expected, let actual), .serverKeyNotVouched(let expected, let actual):
            typeAhead = ""  // typed for a chat that did not open
            keyChangedWarning = (expected, actual)
        default:
            typeAhead = ""
            if screen == .chat {
                model.system(failure.description, warning: true)
            } else {
                formError = failure.description
                // The field the server refused is marked, focused and selected, to be retyped.
                if let field = Self.field(blamedFor: failure) {
                    fieldErrors.insert(field)
                    ui.focusSelectingAll(ui.id("field:" + field))
                }
            }
        }
    }

    /// The login form's field a failure is about, if one.
    static func field(blamedFor failure: ClientFailure) -> String? {
        guard case .server(let error) = failure else {
            if case .unreachable = failure { return "server" }
            return nil
        }
        switch error.code {
        case .wrongPassword: return "password"
        case .nameTaken, .invalidName: return "username"
        default: return nil
        }
    }

    func applyInvite(_ text: String) {
        guard let link = try? InviteLink(parsing: text) else { return }
        form.server = link.host
        form.port = String(link.port)
        expectedFingerprint = link.fingerprint
    }

    /// Validates the form and starts connecting; problems are shown next to the fields.
    func connect() {
        fieldErrors = []
        var problems: [String] = []
        if form.username.isEmpty {
            fieldErrors.insert("username")
            problems.append("Enter a username.")
        } else {
            do { _ = try Username(form.username) } catch {
                fieldErrors.insert("username")
                problems.append("The username is not allowed: \(error).")
            }
        }
        if form.server.trimmingCharacters(in: .whitespaces).isEmpty { fieldErrors.insert("server"); problems.append("Enter the server's address or an invite link.") }
        // A number alone is no address (a newcomer's run: "19201" typed there, meant for the
        // port, was taken as 0.0.75.1, and the refusal spoke of a full server).
        let typedServer = form.server.trimmingCharacters(in: .whitespaces)
        if !typedServer.isEmpty, typedServer.allSatisfy({ ("0"..."9").contains($0) }) {
            fieldErrors.insert("server")
            problems.append("\(typedServer) is not a server address: type the server's name or IP address (such as 192.168.1.20) here, and the port in the Port field.")
        }
        let port = Int(form.port.trimmingCharacters(in: .whitespaces))
        if port == nil || !(1...65535).contains(port!) { fieldErrors.insert("port"); problems.append("The port must be a number from 1 to 65535.") }
        if password.isEmpty { fieldErrors.insert("password"); problems.append("Enter the server password.") }
        guard problems.isEmpty, let port else {
            formError = problems.joined(separator: " ")
            // Typing goes to the first field to fix (it stayed where Enter was pressed).
            if let first = Self.formFields.first(where: fieldErrors.contains) { ui.focusSelectingAll(ui.id("field:" + first)) }
            return
        }
        formError = nil
        connecting = true
        client?.shutdown()
        let identity: ClientIdentity
        do { identity = try ClientIdentity.loadOrCreate(in: options.configDirectory) } catch {
            formError = "\(error)"
            connecting = false
            return
        }
        let queue = self.queue
        // The previous recorder finishes its writes on its own queue; this frame does not wait.
        let recorder = form.keepsHistory && options.keepHistory
            ? HistoryRecorder(dataDirectory: options.dataDirectory, identityFingerprint: identity.fingerprint,
                              onFailure: { queue.post(.history(HistoryAnswer(conversation: .room, kind: .problem($0)))) })
            : nil
        self.recorder = recorder
        draftsRestored = false
        keptDrafts = [:]
        keptColorGeneration = -1
        var configuration = ClientConfiguration(host: form.server.trimmingCharacters(in: .whitespaces), port: port,
                                                username: form.username, password: password,
                                                trust: TrustPolicy(vouched: expectedFingerprint))
        configuration.minimumPasswordHashing = options.minimumPasswordHashing
        client = ChatClient(configuration: configuration, identity: identity,
                            knownServers: KnownServers(url: KnownServers.defaultURL(in: options.configDirectory)),
                            keyStore: SQLiteKeyStateStore(dataDirectory: options.dataDirectory, identityFingerprint: identity.fingerprint),
                            beforeStore: { recorder?.flush() },
                            // Shown first, kept second: an opening read of the history that
                            // includes a message then comes after it, and is not shown twice.
                            onEvent: { queue.post($0); recorder?.record($0) })
        client?.connect()
    }

    /// Where what is new in the open conversation starts: more than a screen shows, at its
    /// day and the "new since you were here" line; fewer, at the end.
    func openAtNewSince() {
        guard let lines = model.conversations[model.current]?.lines,
              let marker = lines.lastIndex(where: { $0.kind == .newSince }) else { return }
        if lines.count - marker > Self.screenfulOfLines {
            ui.scrollLog(model.current.logID, toKey: lines[max(0, marker - 1)].key)
            // Shown while it came in (the log follows its end during a catch-up), not read.
            seenThroughKeys[model.current] = lines[marker].key
        } else {
            // A few: they are at the end, which the log shows wherever it was left (a
            // newcomer's run: left scrolled to the top, the room reopened there, its three
            // new messages 190 lines down).
            ui.scrollLogToBottom(model.current.logID)
        }
    }

    /// About what the log shows at once: fewer new lines than this are seen without scrolling.
    static let screenfulOfLines = 20

    /// Enter or Send in the composer: text goes to the open conversation, commands are
    /// carried out here (the same parser as sotto-cli's), and nothing else is ever sent.
    func submitDraft() {
        let typed = draft.trimmingCharacters(in: .whitespacesAndNewlines)
        // The conversation this draft was typed in (a click elsewhere in the same batch of
        // events has not swapped drafts yet).
        let here = draftConversation
        // Where Up brings it back: here, or for a command the conversation it left open (a
        // /msg opens the one it wrote to).
        var recalledIn = here
        switch ChatInput(parsing: typed, members: model.members.map(\.name)) {
        case .nothing:
            return
        case .invalid(let problem):
            model.system(problem.description, warning: true, conversation: here)
            keptToCorrect(in: here)
            return
        case .text(let text):
            // A later line that is a command ("hi all", Enter, "/msg bob …" typed ahead, or
            // with Shift-Enter) is not sent to the room as text: the line stays to be split.
            let members = model.members.map(\.name)
            if text.split(separator: "\n").dropFirst().contains(where: { line in
                if case .command = ChatInput(parsing: String(line), members: members) { true } else { false }
            }) {
                model.system("A later line of this message is a command: send it on its own line (the message was not sent).", warning: true, conversation: here)
                return
            }
            // To someone no longer a member: said here, and the text stays to be kept or
            // sent elsewhere (each try added a "(not sent)" copy of it to the log).
            if case .direct(let name) = here, model.state == .online, !model.members.contains(where: { $0.name == name }) {
                model.system("Not sent: \(name) is not a member of this server now.", warning: true, conversation: here)
                return
            }
            guard let client else { return }
            client.send(text, to: here.recipient)
            // What you write is what you want to see: the log goes to the bottom.
            ui.scrollLogToBottom(here.logID)
        case .command(let command):
            // Refused (a look-alike name): the line stays in the composer to be corrected.
            guard run(command, from: here) else { return keptToCorrect(in: here) }
            // What it answers is seen, wherever the log was scrolled to.
            ui.scrollLogToBottom(model.current.logID)
            recalledIn = model.current
        }
        typedLines.append((recalledIn, typed))
        historyIndex = nil
        draft = ""
    }

    /// A line refused where it was typed: it stays in the composer, selected (typing replaces
    /// it, an arrow key goes in to correct it: typed after it, the same refusal came again),
    /// and the log goes to the bottom, where the reason was written.
    private func keptToCorrect(in conversation: Conversation) {
        ui.focusSelectingAll(ui.id("field:message"))
        ui.scrollLogToBottom(conversation.logID)
    }

    /// What the network and history threads posted, in order.
    private func applyClientEvents() {
        // Wakes for what is taken now go too (flushed first: one pushed after this is for
        // something posted after it, and stays): a stale one would make an empty turn.
        SDL_FlushEvent(queue.wakeType)
        for input in queue.drain() {
            switch input {
            case .client(let e):
                apply(e)
                pendingUpdate = true
            case .history(let answer):
                // What the person asked for (the chat opening, a page up, a search) is
                // shown at once; what others send is paced.
                apply(answer)
                dirty = true
            }
        }
        trimLongLogs()
    }

    /// The member a typed name means for a direct conversation, or nil with the reason said
    /// where it was typed (`sending`: a message was refused with it).
    private func directTarget(_ typed: String, from here: Conversation, sending: Bool) -> String? {
        switch Member.match(typed, in: model.members).name(typed: typed) {
        case .failure(let refusal):
            model.system(refusal.description, warning: true, conversation: here)
            return nil
        case .success(let name):
            guard name != model.myName else {
                model.system("That is you: a direct conversation needs someone else.", warning: true, conversation: here)
                return nil
            }
            // Online, the list holds every member, away ones too: a name not in it is nobody's
            // (a typo made a conversation of its own that nothing could be sent in).
            if model.state == .online, !model.members.contains(where: { $0.name == name }) {
                let guess = Member.closest(to: name, in: model.members.filter { !$0.isMe }).map { " Did you mean \(Member.typed($0))?\($0.contains(" ") ? " A name with spaces is typed in quotes: /msg \(Member.typed($0)) …" : "")" } ?? ""
                model.system("\(sending ? "Not sent" : "Not opened"): nobody called \(name) is a member of this server.\(guess)", warning: true, conversation: here)
                return nil
            }
            return name
        }
    }

    /// Carries out a command; false if it was refused.
    private func run(_ command: ChatCommand, from here: Conversation) -> Bool {
        // A name as listed (any case); one that only looks like a listed name is refused.
        func resolve(_ typed: String) -> String? {
            switch Member.match(typed, in: model.members).name(typed: typed) {
            case .success(let name): return name
            case .failure(let refusal):
                model.system(refusal.description, warning: true, conversation: here)
                return nil
            }
        }
        switch command {
        case .directMessage(let typed, let text):
            guard let name = directTarget(typed, from: here, sending: true) else { return false }
            client?.send(text, to: name)
            // The conversation it went to opens, at its newest line, so the person sees where it is.
            model.open(.direct(name))
            ui.scrollLogToBottom(Conversation.direct(name).logID)
        case .open(let typed):
            guard let name = directTarget(typed, from: here, sending: false) else { return false }
            model.open(.direct(name))
            openAtNewSince()
            focusInputNextFrame = true
        case .users:
            // Who is online, then the members away (a newcomer's run: those who had left were
            // listed as online).
            let online = model.members.filter(\.online).map { m -> String in
                m.isMe ? "\(m.name) (you)" : m.trust == .verified ? "\(m.name) ✓" : m.name
            }
            let away = model.members.filter { !$0.online }.map { "\($0.name) (\(Self.away(since: $0.lastSeen)))" }
            model.system("Online (\(online.count)): " + online.joined(separator: ", ") + (away.isEmpty ? "" : " · away: " + away.joined(separator: ", ")),
                         conversation: here)
        case .fingerprint(nil):
            answersGoTo = here
            client?.showIdentity(of: nil)
        case .fingerprint(let typed?):
            // Answered by an event (the network thread has the keys): the line goes here.
            guard let name = resolve(typed) else { return false }
            answersGoTo = here
            client?.showIdentity(of: name)
        case .verify(let typed):
            guard let name = resolve(typed) else { return false }
            answersGoTo = here
            client?.verify(name)
        case .history(let count):
            loadKept(count, in: [here])
        case .search(let words):
            askHistory(here) { store in .found(words: words, try store.search(words, limit: Self.searchResults)) }
        case .forget:
            guard recorder != nil else {
                model.system(historyOff, warning: true, conversation: here)
                return true
            }
            guard let asked = forgetAsked, asked.conversation == here, now - asked.at < Self.forgetConfirmSeconds else {
                forgetAsked = (here, now)
                model.system("This deletes everything of \(here.title) kept on this device, and cannot be undone. Type /forget again within a minute to do it.",
                             warning: true, conversation: here)
                return true
            }
            forgetAsked = nil
            // Cleared now: what arrives while the delete runs is kept and shown.
            model.forget(here)
            let shown = Set(model.conversations.values.flatMap { $0.lines.filter { $0.kind == .found }.map(\.key) })
            foundTargets = foundTargets.filter { shown.contains($0.key) }
            askHistory(here) { store in .forgotten(count: try store.forget(here)) }
        case .leave(let name):
            // Answered by a notice: how to confirm, or that you left.
            client?.leave(confirming: name)
        case .reconnect:
            switch ChatCommand.reconnectDecision(in: model.state) {
            case .connectNow: client?.connect()
            case .alreadyOnline: model.system("Already connected.", conversation: here)
            case .alreadyConnecting: model.system("Already connecting.", conversation: here)
            case .notConnected:
                model.system("Not connected: you left this server. \"Join again\" above makes you a member again, if your name is still free.", conversation: here)
            }
        case .help:
            model.help(in: here)
        case .quit:
            close()
        }
        return true
    }

    /// "(3) Sotto — # room": the unread count of every conversation (the open one's too while
    /// the window is in the background), and where you are.
    func updateTitle() {
        var title = "Sotto"
        if screen == .chat {
            let unread = model.conversations.values.reduce(0) { $0 + $1.unread }
            title = (unread > 0 ? "(\(unread)) " : "") + "Sotto — " + model.current.title
        }
        guard title != shownTitle else { return }
        shownTitle = title
        SDL_SetWindowTitle(window, title)
    }
}
