import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SottoCore
import SottoTransport
import Testing
@testable import SottoServer

/// A client's confirmation of what it stored lets the log go of it, but is not worth a commit
/// of its own: it waits (up to `Hub.confirmationDelay`) for one with more to write.
@Suite struct ConfirmationTests {
    /// The in-memory log, with every commit seen.
    final class RecordingStore: DeliveryStore, @unchecked Sendable {
        let inner = InMemoryDeliveryStore()
        let commits = NIOLockedValueBox<[DeliveryBatch]>([])
        func startup() throws -> DeliveryStartup { try inner.startup() }
        func commit(_ batch: DeliveryBatch) throws {
            commits.withLockedValue { $0.append(batch) }
            try inner.commit(batch)
        }
        func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64) { try inner.stream(of: member) }
        func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage {
            try inner.pending(for: member, after: after, through: through, limit: limit, maxBytes: maxBytes)
        }
        func prune(now: UInt64, retention: Retention) throws { try inner.prune(now: now, retention: retention) }
        func confirmedPositions() throws -> [String: UInt64] { try inner.confirmedPositions() }
    }

    @Test func confirmationsRideWithTheNextCommitOrGoAloneAQuarterSecondLater() throws {
        let password = "confirmations", salt = Array("confirmations-salt".utf8)
        let store = RecordingStore()
        var configuration = try ServerConfiguration(host: "127.0.0.1", port: 0, staticKey: DHPrivateKey(), password: password,
                                                    passwordSalt: salt, scrypt: .testing, limits: ServerLimits(), threads: 1)
        configuration.deliveries = store
        let server = InMemoryServer(configuration: configuration)
        let channel = try server.connect()
        var transport = try server.logIn("ada", password: password, salt: salt, on: channel)
        func send(_ message: [UInt8]) throws { try server.send(message, on: channel) }
        func record(_ record: ClientRecord) throws {
            var plaintext: [UInt8] = []
            RecordBatch.append(record.encoded(), to: &plaintext)
            try send(try transport.seal(plaintext))
            while try channel.readOutbound(as: ByteBuffer.self) != nil {}
            #expect(channel.isActive, "\(record)")
        }
        func position() throws -> UInt64? { try store.stream(of: "ada").position }
        // Where a new member's stream starts is committed at once.
        #expect(try position() == 0)

        try record(.send(SendRequest(clientMessageID: 1 << 32 | 1, body: [1, 2, 3])))
        try record(.send(SendRequest(clientMessageID: 1 << 32 | 2, body: [4, 5, 6])))
        let afterMessages = store.commits.withLockedValue { $0.count }
        try record(.confirm(1))
        try record(.confirm(2))
        // Confirmations alone: no commit yet.
        #expect(store.commits.withLockedValue { $0.count } == afterMessages)
        #expect(try position() == 0)
        // A message comes: its commit takes the confirmation along.
        try record(.send(SendRequest(clientMessageID: 1 << 32 | 3, body: [7, 8, 9])))
        #expect(store.commits.withLockedValue { $0.count } == afterMessages + 1)
        #expect(try position() == 2)
        // Alone again: it goes a quarter second later, in one commit.
        try record(.confirm(3))
        server.loop.advanceTime(by: Hub.confirmationDelay - .milliseconds(1))
        #expect(try position() == 2)
        server.loop.advanceTime(by: .milliseconds(1))
        #expect(store.commits.withLockedValue { $0.count } == afterMessages + 2)
        #expect(try position() == 3)
        try channel.close().wait()
        server.loop.run()
    }
}
