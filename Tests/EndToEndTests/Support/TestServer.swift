import Crypto
import Foundation
import Logging
import SottoCore
@testable import SottoServer

/// A real server on 127.0.0.1 and an ephemeral port, with cheap scrypt parameters.
final class TestServer {
    static let password = "correct horse battery staple"
    let server: ChatServer
    let staticKey: Curve25519.KeyAgreement.PrivateKey

    /// `scrypt`: cheap by default; a test of a real executable (whose clients accept no less
    /// than `ScryptParameters.floor`) passes `.floor`.
    /// Registrations are not budgeted unless a test says so (hundreds of members log in from 127.0.0.1).
    init(limits: ServerLimits = TestServer.limits, port: Int = 0, staticKey: Curve25519.KeyAgreement.PrivateKey = .init(), host: String = "127.0.0.1",
         scrypt: ScryptParameters = .testing, configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        self.staticKey = staticKey
        var logger = Logger(label: "test.server")
        logger.logLevel = ProcessInfo.processInfo.environment["SOTTO_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        var configuration = try ServerConfiguration(
            host: host, port: port, serverName: "test", staticKey: staticKey, password: Self.password,
            passwordSalt: Array("0123456789abcdef".utf8), scrypt: scrypt, limits: limits, threads: 2)
        configure(&configuration)
        server = try ChatServer(configuration: configuration, logger: logger)
        try await server.start()
    }

    static var limits: ServerLimits {
        var limits = ServerLimits()
        limits.registrationBurst = 1_000_000
        return limits
    }

    var port: Int { server.port! }
    var fingerprint: String { server.configuration.fingerprint }

    func stop() async {
        try? await server.shutdown(grace: .milliseconds(50))
    }
}

/// Limits for tests that do not test limits: nothing throttles a fast test.
func relaxedLimits() -> ServerLimits {
    var l = TestServer.limits
    l.recordsPerSecond = 1_000_000
    l.recordBurst = 1_000_000
    return l
}

enum Timeout: Error, CustomStringConvertible {
    case waiting(String)
    var description: String {
        switch self { case .waiting(let what): return "timed out waiting for \(what)" }
    }
}

/// Polls a condition until it holds or the deadline passes.
func eventually(_ what: String, timeout: Double = 15, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
    if try condition() { return }
    throw Timeout.waiting(what)
}

func temporaryDirectory(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-\(name)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs long blocking socket work (hundreds of raw logins or reads) off the test runner's
/// threads: its tasks share one thread per core, and a test that holds one for seconds
/// stalls every other test's waiting meanwhile. (A Dispatch queue, not a Foundation
/// `Thread`: detached Foundation threads crashed the runner alongside `Process` children.)
func onOwnThread<T>(_ work: @escaping () throws -> T) async throws -> T {
    let box = UncheckedBox<() throws -> T>(work)
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<UncheckedBox<Result<T, Error>>, Never>) in
        DispatchQueue(label: "sotto.tests.blocking").async { continuation.resume(returning: UncheckedBox(Result { try box.value() })) }
    }
    return try result.value.get()
}

/// Carries a value between threads where the test knows only one touches it at a time.
final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
