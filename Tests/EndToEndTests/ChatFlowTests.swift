import Foundation
import SottoClient
import SottoCore
import Testing

@Suite(.takesTurns) struct ChatFlowTests {
    @Test func threeUsersSeeEachOtherAndEachOthersMessagesInServerOrder() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let names = ["alice", "bob", "carol"]
        let clients = try names.map { try TestClient($0, server: server) }
        for c in clients { try await c.connectAndWait() }
        for c in clients { try await c.waitForUsers(names) }

        for (i, c) in clients.enumerated() { c.client.send("hello from \(names[i]) #\(i)") }
        for c in clients { try await c.waitForMessages(3) }
        let orders = clients.map { $0.messages.map(\.sequence) }
        #expect(Set(orders.map { $0 }).count == 1, "every member sees the same server order")
        for c in clients {
            #expect(Set(c.messages.map(\.text)) == Set((0..<3).map { "hello from \(names[$0]) #\($0)" }))
            #expect(c.messages.allSatisfy { $0.from == names[$0.text.last!.wholeNumberValue!] })
            #expect(c.messages.filter(\.isOwn).count == 1)
        }
        // Each sender's message was acknowledged: nothing left in the outbox.
        try await eventually("outboxes empty") { clients.allSatisfy { $0.client.pendingCount() == 0 } }

        clients[2].client.disconnect()
        for c in clients[0..<2] {
            try await c.waitForUsers(["alice", "bob"])
            try await eventually("leave notice") { c.systemLines.contains("carol is away") }
        }
        #expect(clients[0].systemLines.contains("bob is online"))
        for c in clients { c.stop() }
        await server.stop()
    }

    /// Bursts from everyone at once, room messages and direct ones interleaved: the server's
    /// drains then carry many records for many recipients, each recipient's framed in turn.
    @Test func burstsFromEveryoneArriveCompleteAndInOneOrderForAll() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let names = ["alice", "bob", "carol", "dave"]
        let clients = try names.map { try TestClient($0, server: server) }
        for c in clients { try await c.connectAndWait() }
        for c in clients { try await c.waitForUsers(names) }
        let perSender = 60
        for k in 0..<perSender {
            for (i, c) in clients.enumerated() {
                if k % 5 == 4 {
                    c.client.send("\(names[i]) to \(names[(i + 1) % 4]) #\(k)", to: names[(i + 1) % 4])
                } else {
                    c.client.send("\(names[i]) #\(k)")
                }
            }
        }
        let roomMessages = perSender / 5 * 4 * names.count
        let directsEach = perSender / 5  // received from the one sending to you, and sent by you
        for c in clients { try await c.waitForMessages(roomMessages + 2 * directsEach, timeout: 120) }
        for c in clients {
            let sequences = c.messages.map(\.sequence)
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count, "\(c.name): in server order, once each")
            #expect(c.messages.count == roomMessages + 2 * directsEach)
        }
        let roomOrders = clients.map { $0.messages.filter { !$0.isDirect }.map(\.text) }
        #expect(Set(roomOrders).count == 1, "every member sees the room in the same order")
        for (i, name) in names.enumerated() {
            let mine = clients[i].messages.filter { $0.from == name && !$0.isDirect }.map(\.text)
            #expect(mine == (0..<perSender).filter { $0 % 5 != 4 }.map { "\(name) #\($0)" }, "\(name)'s room messages in the order sent")
        }
        for c in clients { c.stop() }
        await server.stop()
    }

    @Test func directMessagesReachOnlyTheTwoPeople() async throws {
        let server = try await TestServer(limits: relaxedLimits())
        let alice = try TestClient("alice", server: server), bob = try TestClient("bob", server: server), carol = try TestClient("carol", server: server)
        for c in [alice, bob, carol] { try await c.connectAndWait() }
        // Alice must know carol is here: what she seals before that is not carol's to read.
        for c in [alice, carol] { try await c.waitForUsers(["alice", "bob", "carol"]) }
        alice.client.send("just for bob", to: "bob")
        alice.client.send("for everyone")
        try await carol.waitForMessages(1)
        try await bob.waitForMessages(2)
        try await alice.waitForMessages(2)
        #expect(carol.messages.map(\.text) == ["for everyone"])
        #expect(bob.messages.first?.text == "just for bob" && bob.messages.first?.isDirect == true)
        #expect(alice.messages.first?.to == "bob")
        // To someone who is not here: a clear error, and the message is not retried forever.
        alice.client.send("hello?", to: "nobody")
        try await eventually("unknown recipient error") { alice.errors.contains("Not sent: nobody is not a member of this server.") }
        try await eventually("outbox empty") { alice.client.pendingCount() == 0 }
        for c in [alice, bob, carol] { c.stop() }
        await server.stop()
    }

    @Test func aLargeOnlineListArrivesInParts() async throws {
        var limits = relaxedLimits()
        limits.maxConnectionsPerAddress = 1_000
        limits.idleTimeout = .seconds(600)  // raw members never ping; on a loaded machine joining 450 took over 90 s
        let server = try await TestServer(limits: limits)
        // 450 members with the longest names (32 four-byte characters): about 75 KB of
        // list entries, two records' worth.
        let wide = String(repeating: "\u{20000}", count: 28), port = server.port
        let raws = try await onOwnThread {
            try (0..<450).map { i in
                let raw = try RawConnection(port: port)
                try raw.login(name: wide + String(format: "%04d", i))
                return raw
            }
        }
        let watcher = try TestClient("watcher", server: server)
        try await watcher.connectAndWait()
        // Generous: on two loaded cores the suite's other tests share the server's threads.
        try await eventually("full list", timeout: 60) { (watcher.lastUsers?.count ?? 0) == 451 }
        // The server sent it in parts; the client showed only the complete list.
        let sizes = watcher.events.compactMap { if case .users(let u) = $0 { return u.count } else { return nil } }
        #expect(sizes.first == 451)
        watcher.stop()
        await server.stop()
        _ = raws
    }
}
