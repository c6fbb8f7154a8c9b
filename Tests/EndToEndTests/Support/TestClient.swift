import Foundation
import NIOConcurrencyHelpers
import SottoClient
import SottoCore

/// A real ChatClient that records every event it emits.
final class TestClient: @unchecked Sendable {
    let client: ChatClient
    let name: String
    let directory: URL
    private let lock = NIOLock()
    private var recorded: [ClientEvent] = []

    init(_ name: String, server: TestServer, password: String = TestServer.password, trust: TrustPolicy? = nil,
         identity: ClientIdentity? = nil, directory: URL? = nil, port: Int? = nil, reconnect: Bool = true,
         configure: (inout ClientConfiguration) -> Void = { _ in }) throws {
        self.name = name
        let directory = directory ?? temporaryDirectory("client-\(name)")
        self.directory = directory
        var configuration = ClientConfiguration(host: "127.0.0.1", port: port ?? server.port, username: name, password: password,
                                                trust: trust ?? TrustPolicy(vouched: server.fingerprint), reconnect: reconnect)
        configuration.backoffBase = 0.05
        configuration.backoffMax = 0.5
        configuration.minimumPasswordHashing = server.server.configuration.scrypt
        configure(&configuration)
        let box = EventBox()
        client = ChatClient(configuration: configuration, identity: try identity ?? ClientIdentity.loadOrCreate(in: directory),
                            knownServers: KnownServers(url: KnownServers.defaultURL(in: directory)), onEvent: { box.sink?($0) })
        box.sink = { [weak self] event in self?.record(event) }
    }

    private final class EventBox: @unchecked Sendable { var sink: ((ClientEvent) -> Void)? }

    private func record(_ event: ClientEvent) { lock.withLock { recorded.append(event) } }

    var events: [ClientEvent] { lock.withLock { recorded } }

    var messages: [ReceivedMessage] {
        events.compactMap { if case .message(let m) = $0 { return m } else { return nil } }
    }

    var notices: [ClientNotice] {
        events.compactMap { if case .notice(let n) = $0 { return n } else { return nil } }
    }

    /// Every notice as the person reads it (warnings too).
    var systemLines: [String] { notices.map(\.text) }

    /// What the person would read as a warning.
    var errors: [String] { notices.filter(\.isWarning).map(\.text) }

    /// Who the last member list shows online.
    var lastUsers: [String]? {
        for event in events.reversed() { if case .users(let u) = event { return u.filter(\.online).map(\.name) } }
        return nil
    }

    /// Every member the last list shows, online or away.
    var lastMembers: [SottoClient.Member]? {
        for event in events.reversed() { if case .users(let u) = event { return u } }
        return nil
    }

    var state: ConnectionState? {
        for event in events.reversed() { if case .state(let s) = event { return s } }
        return nil
    }

    var failure: ClientFailure? {
        if case .failed(let f) = state { return f }
        return nil
    }

    func connectAndWait() async throws {
        client.connect()
        try await eventually("\(name) online") { state == .online }
    }

    func waitForUsers(_ names: [String], timeout: Double = 15) async throws {
        try await eventually("\(name) to see \(names)", timeout: timeout) { lastUsers == names }
    }

    func waitForFailure() async throws -> ClientFailure {
        try await eventually("\(name) to fail") { failure != nil }
        return failure!
    }

    func waitForMessages(_ count: Int, timeout: Double = 30) async throws {
        try await eventually("\(name) to receive \(count) messages", timeout: timeout) { messages.count >= count }
    }

    func stop() {
        client.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}
