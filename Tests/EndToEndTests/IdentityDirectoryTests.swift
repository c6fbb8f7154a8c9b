import Foundation
import SottoCore
import Testing

/// The server's part in identities: it checks a bundle at login, lists its digest, and
/// hands the bundle out only when asked.
@Suite(.takesTurns) struct IdentityDirectoryTests {
    @Test func aBundleIsCheckedAtLoginListedByDigestAndServedOnRequest() async throws {
        let server = try await TestServer()
        let alice = try IdentityKeys(), bob = try IdentityKeys()
        let aliceRaw = try RawConnection(port: server.port)
        try aliceRaw.login(name: "alice", identity: alice.noiseStatic, bundle: alice.encodedBundle)
        let bobRaw = try RawConnection(port: server.port)
        try bobRaw.login(name: "bob", identity: bob.noiseStatic, bundle: bob.encodedBundle)
        // Bob's list carries alice's digest (32 bytes), not her 1.4 KB bundle (or her presence
        // does, should her signature still have been under check when bob joined).
        let aliceEntry = try bobRaw.readUntil { record in
            switch record {
            case .users(let users, _): users.contains { $0.name == "alice" }
            case .presence(let p): p.user.name == "alice"
            default: false
            }
        }
        switch aliceEntry {
        case .users(let users, _)?: #expect(users.first { $0.name == "alice" }?.identityDigest == alice.bundle.digest)
        case .presence(let p)?: #expect(p.user.identityDigest == alice.bundle.digest)
        default: Issue.record("alice not listed")
        }
        // Asked for, it comes whole; a name that is not online comes back empty.
        try bobRaw.sendRecords([ClientRecord.identityRequest(["alice", "nobody"]).encoded()])
        guard case .identities(let entries, true)? = try bobRaw.readUntil({ if case .identities = $0 { true } else { false } }) else {
            Issue.record("no answer"); return
        }
        #expect(entries == [IdentityEntry(name: "alice", bundle: alice.encodedBundle), IdentityEntry(name: "nobody", bundle: [])])
        // An oversized request is a protocol violation for that connection only.
        var w = WireWriter()
        w.u8(0x05); w.u16(UInt16(WireLimits.maxIdentityRequest + 1))
        for i in 0...WireLimits.maxIdentityRequest { w.string16("n\(i)") }
        try bobRaw.sendRecords([w.bytes])
        guard case .error(let violation)? = try bobRaw.readUntil({ if case .error = $0 { true } else { false } }) else {
            Issue.record("no error"); return
        }
        #expect(violation.code == .protocolViolation && violation.fatal)
        try aliceRaw.sendRecords([ClientRecord.ping(7).encoded()])
        #expect(try aliceRaw.readUntil({ if case .pong(7) = $0 { true } else { false } }) != nil)
        await server.stop()
    }

    /// The same device key logging in again with a new bundle replaces its stale session:
    /// the room hears the old identity leave and the new one join (once verified), and the
    /// new session hears nothing before its welcome.
    @Test func aDeviceThatComesBackWithNewKeysLeavesAndJoinsAgain() async throws {
        let server = try await TestServer()
        let watcher = try RawConnection(port: server.port)
        try watcher.login(name: "alice")
        let old = try IdentityKeys()
        let renewed = try IdentityKeys(noiseStatic: old.noiseStatic)
        let first = try RawConnection(port: server.port)
        try first.login(name: "dana", identity: old.noiseStatic, bundle: old.encodedBundle)
        func presence(_ event: Presence.Event) -> (ServerRecord) -> Bool {
            { if case .presence(let p) = $0 { p.user.name == "dana" && p.event == event } else { false } }
        }
        guard case .presence(let joined)? = try watcher.readUntil(presence(.joined)) else { Issue.record("no join"); return }
        #expect(joined.user.identityDigest == old.bundle.digest)
        // The name is bound to the old identity until the operator releases it.
        _ = try server.server.configuration.members.release(Username("dana"))
        let second = try RawConnection(port: server.port)
        let (_, answer) = try second.attemptLogin(name: "dana", identity: old.noiseStatic, bundle: renewed.encodedBundle)
        guard case .welcome? = answer else { Issue.record("not welcomed: \(String(describing: answer))"); return }
        #expect(second.beforeAnswer.isEmpty, "records before the welcome: \(second.beforeAnswer)")
        #expect(try watcher.readUntil(presence(.left)) != nil)
        guard case .presence(let rejoined)? = try watcher.readUntil(presence(.joined)) else { Issue.record("no second join"); return }
        #expect(rejoined.user.identityDigest == renewed.bundle.digest)
        await server.stop()
    }

    /// A newcomer's run: a device whose clock was 3 hours fast was refused as "malformed, badly
    /// signed, or not bound to its device key". Its keys are dated by that clock: said so.
    @Test func keysDatedByAClockSetWrongAreRefusedSayingSo() async throws {
        let server = try await TestServer()
        let keys = try IdentityKeys()
        for (offset, word) in [(3 * 3_600.0, "ahead of"), (-40 * 86_400.0, "behind")] {
            let prekey = try PrekeyPair.generate(now: Date().addingTimeInterval(offset), identity: keys)
            let (_, answer) = try RawConnection(port: server.port).attemptLogin(name: "dan", identity: keys.noiseStatic, bundle: keys.encodedBundle,
                                                                                prekey: prekey.signed.encoded())
            guard case .error(let error)? = answer else { Issue.record("\(word): \(String(describing: answer))"); continue }
            #expect(error.code == .invalidIdentity && error.fatal)
            #expect(error.text.contains("This device's clock is \(word) the server's"), "\(error.text)")
        }
        await server.stop()
    }

    @Test func aBundleThatIsMalformedForgedOrForAnotherDeviceIsRefusedAtLogin() async throws {
        let server = try await TestServer()
        let watcher = try RawConnection(port: server.port)
        try watcher.login(name: "alice")
        let keys = try IdentityKeys()
        var forged = keys.encodedBundle
        forged[forged.count - 1] ^= 1
        let cases: [(String, DHPrivateKey, [UInt8])] = [
            ("garbage", keys.noiseStatic, [1, 2, 3]),
            ("forged signature", keys.noiseStatic, forged),
            ("another device", DHPrivateKey(), keys.encodedBundle),
        ]
        for (what, device, bundle) in cases {
            let raw = try RawConnection(port: server.port)
            let (_, first) = try raw.attemptLogin(name: "eve", identity: device, bundle: bundle)
            // The signature is checked while the welcome is on its way: a forged one still
            // ends the connection with the error, before anyone hears of eve.
            let answer = if case .welcome? = first { try raw.readUntil { if case .error = $0 { true } else { false } } } else { first }
            guard case .error(let error)? = answer else { Issue.record("\(what): \(String(describing: answer))"); continue }
            #expect(error == ServerError(.invalidIdentity, fatal: true), "\(what)")
            #expect(error.text.contains("end-to-end identity"))
        }
        try watcher.sendRecords([ClientRecord.ping(1).encoded()])
        var eveAppeared = false
        _ = try watcher.readUntil { record in
            if case .presence(let p) = record, p.user.name == "eve" { eveAppeared = true }
            if case .pong(1) = record { return true }
            return false
        }
        #expect(!eveAppeared, "the room heard of a member whose identity does not verify")
        #expect(server.server.onlineCount == 1)
        await server.stop()
    }
}

@Suite(.takesTurns) struct IdentityFetchTests {
    /// More members than one identity request covers: the client fetches their keys in
    /// bounded requests, one at a time, and only then seals, so every one of them can read
    /// the very first message.
    @Test func aFirstMessageToALargeRoomWaitsUntilEveryonesKeysAreFetched() async throws {
        var limits = relaxedLimits()
        limits.maxConnectionsPerAddress = 1_000
        let server = try await TestServer(limits: limits)
        let count = WireLimits.maxIdentityRequest + 44
        let port = server.port
        let members = try await onOwnThread {
            try (0..<count).map { i -> (RawConnection, PrekeyPair) in
                let keys = try IdentityKeys()
                let raw = try RawConnection(port: port)
                let prekey = try PrekeyPair.generate(now: Date(), identity: keys)
                try raw.login(name: "m\(i)", identity: keys.noiseStatic, bundle: keys.encodedBundle, prekey: prekey.signed.encoded())
                return (raw, prekey)
            }
        }
        let sender = try TestClient("sender", server: server)
        try await sender.connectAndWait()
        try await eventually("full list") { (sender.lastUsers?.count ?? 0) == count + 1 }
        let id = sender.client.send("hello, everyone")
        try await eventually("delivered", timeout: 60) { sender.events.contains(.delivered(id: id)) }
        // Each member got a key share from the sender before the message, and can open it.
        let problems = try await onOwnThread {
            try members.enumerated().compactMap { i, member -> String? in
                let (raw, prekey) = member
                guard case .keyShare(let from, let payload, _)? = try raw.readUntil({ if case .keyShare = $0 { true } else { false } }),
                      from == "sender" else { return "m\(i): no key share" }
                let share = try KeyShare(decoding: payload)
                let carried = try IdentityBundle(decoding: share.senderBundle)
                _ = try share.open(from: "sender", to: "m\(i)", senderSigningKey: carried.signingKey, prekey: { _ in prekey.privateKey })
                guard case .message(let m)? = try raw.readUntil({ if case .message = $0 { true } else { false } }),
                      m.from == "sender" else { return "m\(i): no message" }
                return nil
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        sender.stop()
        await server.stop()
    }
}

@Suite(.takesTurns) struct LongNameFetchTests {
    /// Names may take hundreds of bytes (32 characters, each with combining marks): 250 of them
    /// do not fit one identity request record, which was then dropped silently and left the
    /// sender waiting forever. Requests are cut to fit a record.
    @Test func identityRequestsForLongNamesFitInARecord() async throws {
        var limits = relaxedLimits()
        limits.maxConnectionsPerAddress = 1_000
        let server = try await TestServer(limits: limits)
        let count = 250
        let port = server.port
        // 32 characters of 9 bytes each: a base letter and four combining marks (the most a
        // name may stack), 264 bytes in all.
        let longName = { (i: Int) in
            String(format: "%03d", i) + String(repeating: "x\u{300}\u{301}\u{302}\u{303}", count: 29)
        }
        let members = try await onOwnThread {
            try (0..<count).map { i -> RawConnection in
                let keys = try IdentityKeys()
                let raw = try RawConnection(port: port)
                try raw.login(name: longName(i), identity: keys.noiseStatic, bundle: keys.encodedBundle)
                return raw
            }
        }
        #expect(count * (2 + longName(0).precomposedStringWithCanonicalMapping.utf8.count) > WireLimits.maxRecordLength)
        let sender = try TestClient("sender", server: server)
        try await sender.connectAndWait()
        try await eventually("full list") { (sender.lastUsers?.count ?? 0) == count + 1 }
        let id = sender.client.send("hello, long names")
        try await eventually("delivered", timeout: 60) { sender.events.contains(.delivered(id: id)) }
        _ = members
        sender.stop()
        await server.stop()
    }
}
