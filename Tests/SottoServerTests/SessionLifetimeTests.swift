import Foundation
import NIOCore
import NIOEmbedded
import SottoCore
import SottoTransport
import Testing
@testable import SottoServer

/// A session holds its timers strongly (no weak references: see `ServerSessionHandler`), so
/// it must still be freed, with its transport, once its connection is gone.
@Suite struct SessionLifetimeTests {
    let password = "lifetime"
    let salt = Array("lifetime-salt-0123".utf8)

    @Test func aLoggedInSessionIsFreedWhenItsConnectionCloses() throws {
        let configuration = try ServerConfiguration(host: "127.0.0.1", port: 0, staticKey: DHPrivateKey(), password: password,
                                                    passwordSalt: salt, scrypt: .testing, limits: ServerLimits(), threads: 1)
        let server = InMemoryServer(configuration: configuration)
        weak var session: ServerSessionHandler?
        weak var transport: NoiseChannelHandler?
        try {
            let channel = try server.connect()
            session = try channel.pipeline.syncOperations.handler(type: ServerSessionHandler.self)
            transport = try channel.pipeline.syncOperations.handler(type: NoiseChannelHandler.self)
            _ = try server.logIn("ada", password: password, salt: salt, on: channel)
            #expect(server.memberCount == 1)
            try channel.close().wait()
            server.loop.run()
        }()
        #expect(server.memberCount == 0)
        #expect(session == nil, "the session outlived its connection")
        #expect(transport == nil, "the transport outlived its connection")
    }
}
