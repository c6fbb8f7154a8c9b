import Foundation

/// Runs the package's own executables (built by `swift build --build-tests`) as a person would.
enum Products {
    static var directory: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("sotto-server").path) } ?? candidates[2]
    }

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// A child process with its output collected line by line.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let stdinPipe = Pipe()

    init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = stdinPipe
        try process.run()
        // Read by a thread of each pipe's own, not FileHandle's readabilityHandler: its
        // dispatch sources, made and cancelled for every child of a run spawning hundreds,
        // went with crashes of libdispatch's manager thread (`_dispatch_event_loop_drain`,
        // signal 11) in two full runs, each while children were being spawned.
        Self.drain(outPipe.fileHandleForReading) { [weak self] d in self?.lock.withLock { self?.out.append(d) } }
        Self.drain(errPipe.fileHandleForReading) { [weak self] d in self?.lock.withLock { self?.err.append(d) } }
    }

    /// Reads `handle` until end of file on a thread of its own, handing over what arrives.
    private static func drain(_ handle: FileHandle, _ received: @escaping @Sendable (Data) -> Void) {
        Thread {
            let fd = handle.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    received(Data(buffer[..<n]))
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
        }.start()
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    func write(_ text: String) { stdinPipe.fileHandleForWriting.write(Data(text.utf8)) }
    func closeInput() { try? stdinPipe.fileHandleForWriting.close() }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit; nil if it did not exit in time (then it is killed).
    func waitForExit(timeout: Double = 20) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try? await Task.sleep(nanoseconds: 20_000_000) }
        if process.isRunning {
            process.terminate()
            try? await Task.sleep(nanoseconds: 500_000_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }  // never leave one behind
            return nil
        }
        try? await Task.sleep(nanoseconds: 50_000_000)  // let the pipes drain
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
