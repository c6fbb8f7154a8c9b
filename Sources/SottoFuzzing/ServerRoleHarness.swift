import Crypto
import Foundation
import Logging
import SottoClient
import SottoCore

/// The fuzzer is the server: a client core logs in for real (the server's hello, the trust
/// check, the password proof), and from then on every record it receives, their order, the
/// timers that fire, the socket's writability, drops and reconnects and what the person
/// types are the input's. Records are built field by field from input bytes (so they pass
/// decoding and reach the logic), or decoded from raw bytes as the shell would.
extension Harness {
    /// The members a hostile server can list: real identities (their bundles verify) and a
    /// few names the client must refuse or treat with care.
    static let serverRoleNames = ["me", "peer", "Peer", "pееr", "", "room", "a\u{1B}[2Kb", String(repeating: "x", count: 40)]
    static let serverRoleKey = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](repeating: 0x61, count: 32))
    static let serverRoleIdentity = ClientIdentity(keys: me)
    /// What the client kept of earlier sessions: its prekey (so shares sealed to it open).
    static let serverRoleKeyState = KeyState(prekeys: [mePrekey])
    /// scrypt is deterministic: one derivation for the whole run, not one per execution.
    static let serverRolePasswordKeys = PasswordKeyCache()
    /// Silent: the client's notices for every hostile record filled 110 MB of log in eight
    /// minutes and slowed the fuzzer.
    static let serverRoleLogger: Logger = {
        var logger = Logger(label: "sotto.fuzz.client")
        logger.logLevel = .critical
        return logger
    }()

    /// A store in memory that trusts the harness's server.
    final class MemoryStore: ClientStore, @unchecked Sendable {
        var pins: [String: String] = [:]
        func pinnedServer(host: String, port: Int) -> String? { nil }
        func pinServer(host: String, port: Int, fingerprint: String) throws {}
        func peerTrust(server: String, name: String, fingerprint: String) -> PeerTrust {
            guard let pinned = pins[name] else { pins[name] = fingerprint; return .unverified }
            return pinned == fingerprint ? .unverified : .changed(previous: pinned)
        }
        func markVerified(server: String, name: String, fingerprint: String) throws { pins[name] = fingerprint }
        func lookAlike(server: String, name: String) -> String? { nil }
        func problem() -> String? { nil }
        func flush() {}
    }

    /// Runs the input against one client; returns the events that reached the person (the
    /// seed corpus must get past the login and have a message delivered).
    @discardableResult
    public static func serverRole(_ data: [UInt8]) -> [ClientEvent] {
        var configuration = ClientConfiguration(host: "fuzz", port: 1, username: "me", password: password,
                                                trust: TrustPolicy(vouched: Fingerprint.of(publicKey: Array(serverRoleKey.publicKey.rawRepresentation))))
        configuration.minimumPasswordHashing = .testing
        configuration.sharedPasswordKeys = serverRolePasswordKeys
        let core = ClientCore(configuration: configuration, identity: serverRoleIdentity, store: MemoryStore(),
                              random: ClientRandom { Array(repeating: 7, count: $0) }, logger: serverRoleLogger)
        var f = Fields(bytes: data)
        var now = memberNow
        var connection: Int?
        var events: [ClientEvent] = []
        var sent: [UInt64] = []
        var nextID: UInt64 = 1 << 32

        /// Carries out what the core asked, as a well-behaved transport would: connections
        /// open and the server's genuine hello follows; writes go nowhere (the input answers).
        func settle() {
            var rounds = 0
            while rounds < 64 {
                rounds += 1
                let effects = core.takeEffects()
                if effects.isEmpty { return }
                for effect in effects {
                    switch effect {
                    case .open(let c, _, _):
                        connection = c
                        core.handle(.connected(connection: c), now: now)
                        let hello = ServerHello(serverName: "fuzz", maxBodyBytes: UInt32(WireLimits.maxBodyBytes),
                                                passwordSalt: Array("fuzz-salt-012345".utf8), scrypt: .testing)
                        core.handle(.hello(connection: c, hello, serverStatic: Array(serverRoleKey.publicKey.rawRepresentation),
                                           handshakeHash: Array(repeating: 9, count: 32)), now: now)
                    case .loadKeyState(let c, _):
                        core.handle(.keyState(connection: c, serverRoleKeyState), now: now)
                    case .storeKeyState(let c, _, _, _, let position):
                        core.handle(.stored(connection: c, position: position), now: now)
                    case .close(let c), .abort(let c, _):
                        core.handle(.closed(connection: c, nil), now: now)
                    case .schedule(let timer, let delay) where delay <= 0:
                        core.handle(.timer(timer), now: now)
                    case .event(let event):
                        events.append(event)
                    default:
                        break
                    }
                }
            }
        }

        core.handle(.connect, now: now)
        settle()
        while !f.isAtEnd {
            let op = f.u8()
            // Until welcomed (or after a drop), most inputs are the welcome that gets it online.
            let c = connection ?? 0
            switch op % 16 {
            case 0:
                core.handle(.record(connection: c, .welcome(name: serverRoleNames[Int(f.u8()) % 2], time: UInt64(f.u32()))), now: now)
            case 1, 2:
                let count = Int(f.u8() % 6)
                core.handle(.record(connection: c, .users((0..<count).map { _ in serverRoleUser(&f) }, final: f.u8() % 4 != 0)), now: now)
            case 3:
                core.handle(.record(connection: c, .presence(Presence(event: f.u8() % 2 == 0 ? .joined : .left, user: serverRoleUser(&f), time: UInt64(f.u32())))), now: now)
            case 4:
                let count = Int(f.u8() % 3)
                let entries = (0..<count).map { _ in
                    IdentityEntry(name: serverRoleNames[Int(f.u8()) % serverRoleNames.count],
                                  bundle: f.u8() % 3 == 0 ? f.take(Int(f.u8())) : [me, peer][Int(f.u8()) % 2].encodedBundle,
                                  prekey: f.u8() % 3 == 0 ? [] : [mePrekey, peerPrekey][Int(f.u8()) % 2].signed.encoded())
                }
                core.handle(.record(connection: c, .identities(entries, final: f.u8() % 2 == 0)), now: now)
            case 5:
                core.handle(.record(connection: c, .keyShare(from: serverRoleNames[Int(f.u8()) % serverRoleNames.count], payload: f.take(Int(f.u8()) * 8), position: UInt64(f.u32()))), now: now)
            case 6:
                let from = serverRoleNames[Int(f.u8()) % serverRoleNames.count]
                let id = f.u8() % 2 == 0 && !sent.isEmpty ? sent[Int(f.u8()) % sent.count] : UInt64(f.u32())
                core.handle(.record(connection: c, .message(ChatMessage(sequence: UInt64(f.u32()), time: UInt64(f.u32()) << 16, from: from,
                                                                        to: f.u8() % 2 == 0 ? "" : "me", clientMessageID: id, body: f.take(Int(f.u8()) * 2)))), now: now)
            case 7:
                let id = f.u8() % 4 != 0 && !sent.isEmpty ? sent[Int(f.u8()) % sent.count] : UInt64(f.u32())
                core.handle(.record(connection: c, .ack(clientMessageID: id, sequence: f.u8() % 8 == 0 ? 0 : UInt64(f.u32()))), now: now)
            case 8:
                let ids = (0..<Int(f.u8() % 4)).map { _ in sent.isEmpty ? UInt64(f.u32()) : sent[Int(f.u8()) % sent.count] }
                core.handle(.record(connection: c, .relayed(ids)), now: now)
            case 9:
                let code = ErrorCode.allCases[Int(f.u8()) % ErrorCode.allCases.count]
                core.handle(.record(connection: c, .error(ServerError(code, fatal: false))), now: now)
            case 10:
                // Raw bytes, decoded as the shell decodes them; what fails to decode closes it.
                let bytes = f.take(Int(f.u8()) * 4)
                if let record = try? ServerRecord(decoding: bytes) {
                    core.handle(.record(connection: c, record), now: now)
                } else {
                    core.handle(.closed(connection: c, .protocolError("malformed")), now: now)
                }
            case 11:
                nextID += 1
                sent.append(nextID)
                let to = f.u8() % 3 == 0 ? serverRoleNames[Int(f.u8()) % serverRoleNames.count] : ""
                core.handle(.send(id: nextID, to: to, text: String(decoding: f.take(Int(f.u8() % 80)), as: UTF8.self)), now: now)
            case 12:
                let timers: [ClientCore.Timer] = [.reconnect, .expiry, .pump, .membership, .checkpoint]
                core.handle(.timer(timers[Int(f.u8()) % timers.count]), now: now)
            case 13:
                core.handle(.writable(connection: c, f.u8() % 2 == 0), now: now)
            case 14:
                // The connection drops; the reconnect timer is fired at once.
                core.handle(.closed(connection: c, f.u8() % 2 == 0 ? .connectionLost : nil), now: now)
                settle()
                core.handle(.timer(.reconnect), now: now)
            default:
                now = now.addingTimeInterval(TimeInterval(Int16(bitPattern: UInt16(f.u8()) << 8 | UInt16(f.u8()))))
                switch f.u8() % 3 {
                case 0: core.handle(.showIdentity(f.u8() % 2 == 0 ? nil : serverRoleNames[Int(f.u8()) % serverRoleNames.count]), now: now)
                case 1: core.handle(.verify(serverRoleNames[Int(f.u8()) % serverRoleNames.count]), now: now)
                default: break
                }
            }
            settle()
        }
        return events
    }

    /// A listed member: a name from the pool, with a real identity's keys or the input's.
    static func serverRoleUser(_ f: inout Fields) -> OnlineUser {
        let name = serverRoleNames[Int(f.u8()) % serverRoleNames.count]
        let keys = [me, peer][Int(f.u8()) % 2]
        let real = f.u8() % 4 != 0
        return OnlineUser(name: name, staticKey: real ? Array(keys.noiseStatic.publicKey.rawRepresentation) : f.take(32),
                          identityDigest: real ? keys.bundle.digest : f.take(Int(f.u8() % 2) * 32),
                          sessionNonce: f.take(Int(f.u8() % 2) * WireLimits.sessionNonceLength))
    }
}
