import ArgumentParser
import Foundation
import SottoCore

/// What one chain renewal costs in a room of N registered members (online or away: every one
/// gets the new chain, sealed to their prekey): the renewing member's CPU to seal N−1 shares,
/// the bytes they add to the server's log, and a recipient's CPU to open one. When someone
/// leaves the room, every remaining member renews: N−1 times this.
struct RenewalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renewal",
        abstract: "One chain renewal in a room of N members: shares sealed, bytes stored, CPU to seal and to open.")
    @Option(help: "Registered members in the room (the renewing one included).") var members = 200
    @Option(help: "Renewals timed.") var repeats = 5
    @Option(help: "Write every figure to this JSON file.") var json: String?

    func run() throws {
        let now = Date()
        let me = try IdentityKeys()
        let peers = try (1..<members).map { i -> (name: String, keys: IdentityKeys, prekey: PrekeyPair) in
            let keys = try IdentityKeys()
            return ("m\(i)", keys, try PrekeyPair.generate(now: now, identity: keys))
        }
        let users = peers.map { OnlineUser(name: $0.name, staticKey: Array($0.keys.noiseStatic.publicKey.rawRepresentation),
                                           identityDigest: $0.keys.bundle.digest, online: false) }
        let entries = peers.map { IdentityEntry(name: $0.name, bundle: $0.keys.encodedBundle, prekey: $0.prekey.signed.encoded()) }
        var sealMs: [Double] = []
        var shares: [(to: String, payload: [UInt8])] = []
        for _ in 0..<repeats {
            // A fresh session: its first message makes and shares a new chain, as after a departure.
            let session = EndToEndSession(me: "me", identity: me, restored: KeyState()) { _, _ in .unverified }
            _ = session.updateMembers(users, now: now)
            _ = session.receiveIdentities(entries, now: now)
            let t0 = nowNanos()
            let sealed = try session.seal(Array("renewed".utf8), to: "", now: now)
            sealMs.append(Double(nowNanos() - t0) / 1e6)
            shares = sealed.events.compactMap { if case .keyShare(let to, let payload) = $0 { (to, payload) } else { nil } }
        }
        guard shares.count == members - 1 else { throw BenchError("expected \(members - 1) shares, sealed \(shares.count)") }
        // What the server stores per share: the keyShare record as relayed (sender name, payload, position).
        let stored = shares.reduce(0) { $0 + ServerRecord.keyShare(from: "me", payload: $1.payload, position: 1).encoded().count }
        // A recipient opens one (the signature, the prekey's decapsulation, the chain's checks).
        let recipient = peers[0]
        var openMs: [Double] = []
        for _ in 0..<max(repeats, 20) {
            let session = EndToEndSession(me: recipient.name, identity: recipient.keys, restored: KeyState(prekeys: [recipient.prekey])) { _, _ in .unverified }
            _ = session.updateMembers([OnlineUser(name: "me", staticKey: Array(me.noiseStatic.publicKey.rawRepresentation), identityDigest: me.bundle.digest)], now: now)
            let payload = shares.first { $0.to == recipient.name }!.payload
            let t0 = nowNanos()
            let events = session.receiveKeyShare(from: "me", payload: payload, now: now)
            openMs.append(Double(nowNanos() - t0) / 1e6)
            guard events.isEmpty else { throw BenchError("the share was refused: \(events)") }
        }
        let seal = Percentiles(sealMs), open = Percentiles(openMs)
        let perShare = Double(stored) / Double(shares.count)
        print(String(format: "renewal in a room of %d: %d shares, %.0f KB stored (%.0f B each); sealing them %.0f ms (p50 of %d), opening one %.2f ms",
                     members, shares.count, Double(stored) / 1024, perShare, seal.p50, repeats, open.p50))
        print(String(format: "  when someone leaves, all %d others renew: %d shares, %.1f MB stored, %.1f s of CPU in all (spread over their devices)",
                     members - 1, (members - 1) * (members - 2), perShare * Double((members - 1) * (members - 2)) / 1e6,
                     seal.p50 * Double(members - 1) / 1e3))
        if let json {
            let figures: [String: Any] = ["mode": "renewal", "members": members, "shares": shares.count, "stored_bytes": stored,
                                          "bytes_per_share": perShare, "seal_ms_p50": seal.p50, "open_ms_p50": open.p50]
            try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        print(String(format: "summary: renewal members=%d shares=%d stored=%dB seal=%.1fms open=%.2fms", members, shares.count, stored, seal.p50, open.p50))
    }
}
