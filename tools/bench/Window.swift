import ArgumentParser
import Foundation
import SottoClient
import CSDL2
import SottoCore
import SottoWindow

/// The window's own costs, in this process: the real ChatApp and its real loop (under Xvfb
/// or a desktop when DISPLAY is set), fed through the same event queue the network thread
/// uses. What the client library spends decrypting is not counted (measured by the others).
struct WindowBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "window",
        abstract: "The window's CPU, frame times and RSS: idle with the caret, and a stream of messages into a long log.")
    @Option(help: "Messages already in the room's log before the stream starts.") var messages = 100_000
    @Option(help: "Messages a second during the stream.") var rate = 50.0
    @Option(help: "Seconds of stream.") var duration = 30.0
    @Option(help: "Seconds idle with the caret blinking (it blinks for 10 s after input).") var idle = 8.0
    @Option(help: "Seconds idle after the caret stopped blinking.") var idleAfter = 20.0
    @Option(help: "SDL render driver (software, opengl, …); default: SDL's choice, as the app makes it.") var renderer: String?
    @Option(help: "Write every figure to this JSON file.") var json: String?
    @Option(help: "Instead: a room with this many messages kept on the device; time the window's opening on it and paging up through it.") var kept: Int?

    func run() throws {
        if let renderer { setenv("SDL_RENDER_DRIVER", renderer, 1) }
        if let kept { return try openKept(kept) }
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-window-bench-\(getpid())")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: config) }
        let app = try ChatApp(options: AppOptions(configDirectory: config, dataDirectory: config.appendingPathComponent("data")))
        app.run(for: 1)
        let rssLogin = residentKiB()

        // Logged in, with the log filled as a long day's conversation would have it.
        let senders = ["alice", "bob", "carol", "dave", "erin"]
        let words = "the quick brown fox jumps over a lazy dog while we wait for the build to finish".split(separator: " ")
        @Sendable func message(_ i: Int) -> ClientEvent {
            let length = 3 + (i * 7919) % 30
            let text = (0..<length).map { words[($0 + i) % words.count] }.joined(separator: " ")
            return .message(ReceivedMessage(sequence: UInt64(i + 1), time: Date(), from: senders[i % senders.count], to: "",
                                            text: "\(i) \(text)", isOwn: false, clientMessageID: UInt64(i + 1), trust: .unverified))
        }
        app.post(.welcome(name: "bench", serverFingerprint: "SHA256:bench"))
        let t0 = nowNanos()
        for i in 0..<messages { app.post(message(i)) }
        app.run(for: 0.5)
        let fillSeconds = Double(nowNanos() - t0) / 1e9
        let rssLog = residentKiB()

        // Idle: the composer is focused and the caret blinks, then it is solid.
        app.resetFrameTimes()
        let idleCPU = cpuSeconds { app.run(for: idle) }
        let idleFrames = app.frameTimes.count
        let afterCPU = cpuSeconds { app.run(for: idleAfter) }

        // The stream: `rate` messages a second from another thread, as the network thread posts.
        app.resetFrameTimes()
        let total = Int(duration * rate)
        let streamer = Thread {
            let start = nowNanos()
            for k in 0..<total {
                sleep(until: start + UInt64(Double(k) / rate * 1e9))
                app.post(message(messages + k))
            }
        }
        let streamCPU = cpuSeconds {
            streamer.start()
            app.run(for: duration)
        }
        let frames = Percentiles(app.frameTimes)
        let rssEnd = residentKiB()
        let idlePercent = idleCPU / idle * 100, afterPercent = afterCPU / idleAfter * 100, streamPercent = streamCPU / duration * 100
        print("window: renderer \(app.rendererName), \(messages) messages in the log (filled in \(String(format: "%.1f", fillSeconds)) s)")
        print(String(format: "  idle, caret blinking: %.3f %% of a core (%d frames drawn in %.0f s); after it stops: %.3f %%", idlePercent, idleFrames, idle, afterPercent))
        print(String(format: "  stream %.0f msg/s for %.0f s: %.2f %% of a core; frames %@", rate, duration, streamPercent, frames.text))
        print(String(format: "  RSS: login %.0f KiB, with the log %.0f KiB, after the stream %.0f KiB", rssLogin, rssLog, rssEnd))
        if let json {
            let figures: [String: Any] = [
                "mode": "window", "renderer": app.rendererName, "messages": messages, "rate": rate, "duration": duration,
                "idle_blinking_cpu_percent": idlePercent, "idle_after_cpu_percent": afterPercent, "stream_cpu_percent": streamPercent,
                "frame_p50_ms": frames.p50, "frame_p99_ms": frames.p99, "frame_max_ms": frames.max, "frames": frames.count,
                "rss_login_kib": rssLogin, "rss_log_kib": rssLog, "rss_end_kib": rssEnd,
            ]
            let data = try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        print(String(format: "summary: window renderer=%@ log=%d idle=%.3f%% stream=%.2f%% p99=%.2fms rss=%.0fMiB",
                     app.rendererName, messages, idlePercent, streamPercent, frames.p99, rssEnd / 1024))
    }

    /// A long kept conversation: from the welcome to the first frame that shows its last page,
    /// then PageUp through older pages as a person scrolls (each page read off the frame).
    func openKept(_ count: Int) throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-window-kept-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: config) }
        let data = config.appendingPathComponent("data")
        let store = try HistoryStore(url: HistoryStore.url(in: data, serverFingerprint: "SHA256:bench", identityFingerprint: "SHA256:me"))
        var stored = 0
        while stored < count {
            let n = min(1_000, count - stored)
            var page: [ReceivedMessage] = []
            let senders = ["alice", "bob", "carol"]
            for i in stored..<(stored + n) {
                let time = Date(timeIntervalSince1970: 1_790_000_000 + Double(i) * 30)
                page.append(ReceivedMessage(sequence: UInt64(i + 1), time: time, from: senders[i % 3], to: "",
                                            text: "kept message \(i): the quick brown fox jumps over the lazy dog", isOwn: false,
                                            clientMessageID: UInt64(i + 1), trust: .unverified))
            }
            try store.append(page)
            stored += n
        }
        let app = try ChatApp(options: AppOptions(configDirectory: config, dataDirectory: data))
        app.useHistory(in: data, identityFingerprint: "SHA256:me", serverFingerprint: "SHA256:bench")
        app.run(for: 0.5)
        let t0 = nowNanos()
        app.post(.welcome(name: "me", serverFingerprint: "SHA256:bench"))
        while app.roomMessageCount < 200, nowNanos() - t0 < 10_000_000_000 { app.run(for: 0.001) }
        let frames = app.framesDrawn
        while app.framesDrawn == frames, nowNanos() - t0 < 10_000_000_000 { app.run(for: 0.001) }
        let firstFrame = Double(nowNanos() - t0) / 1e6

        // Page up through ten pages of older messages.
        app.resetFrameTimes()
        let pagingStart = nowNanos()
        var presses = 0
        while app.roomMessageCount < 1_200, presses < 2_000 {
            var event = SDL_Event()
            event.type = SDL_KEYDOWN.rawValue
            event.key.keysym.sym = Int32(SDLK_PAGEUP.rawValue)
            SDL_PushEvent(&event)
            app.run(for: 0.02)
            presses += 1
        }
        let paging = Percentiles(app.frameTimes)
        print("window, kept history: \(count) messages in the room, renderer \(app.rendererName)")
        print(String(format: "  welcome → first frame showing the last 200: %.1f ms", firstFrame))
        print(String(format: "  paging up to 1,200 messages (%d PageUp, %.1f s): frames %@", presses, Double(nowNanos() - pagingStart) / 1e9, paging.text))
        if let json {
            let figures: [String: Any] = ["mode": "window-kept", "kept": count, "renderer": app.rendererName, "first_frame_ms": firstFrame,
                                          "paging_frame_p50_ms": paging.p50, "paging_frame_p99_ms": paging.p99, "paging_frame_max_ms": paging.max,
                                          "loaded": app.roomMessageCount]
            try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        print(String(format: "summary: window-kept kept=%d first_frame=%.1fms paging_max=%.1fms loaded=%d", count, firstFrame, paging.max, app.roomMessageCount))
    }

    /// This process's CPU time (user + system) spent in `body`.
    func cpuSeconds(_ body: () -> Void) -> Double {
        func now() -> Double {
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let start = now()
        body()
        return now() - start
    }

    func residentKiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Double(line.split(separator: " ")[1]) ?? 0
    }
}
