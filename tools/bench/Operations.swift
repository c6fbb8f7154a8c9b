import ArgumentParser
import Crypto
import Foundation
import SottoCore

/// The cost of each operation on a connection's path, one at a time on one thread: the floor
/// under `connect`, and what a change to the handshake or login would cost.
struct Operations: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Per-operation costs on this machine (handshake, login checks, sealing), in µs.")
    @Option(help: "Repetitions of each operation.") var repeats = 2000
    @Option(help: "Write every figure to this JSON file.") var json: String?

    func run() throws {
        let serverStatic = Curve25519.KeyAgreement.PrivateKey()
        let identity = try IdentityKeys()
        let peer = Curve25519.KeyAgreement.PrivateKey().publicKey
        let bundle = identity.encodedBundle
        let signature = try identity.signing.signature(for: Array(repeating: 7, count: 100))
        let hundred = [UInt8](repeating: 1, count: 100)
        let key = SymmetricKey(size: .bits256)

        var figures: [(String, Double)] = []
        func time(_ name: String, _ body: () throws -> Void) rethrows {
            for _ in 0..<(repeats / 10) { try body() }  // warm
            let t0 = nowNanos()
            for _ in 0..<repeats { try body() }
            let us = Double(nowNanos() - t0) / Double(repeats) / 1000
            figures.append((name, us))
            print(String(format: "%-52@ %9.1f µs", name as NSString, us))
        }

        try time("X25519 key generation") { _ = Curve25519.KeyAgreement.PrivateKey() }
        try time("X25519 Diffie-Hellman") { _ = try serverStatic.sharedSecretFromKeyAgreement(with: peer) }
        try time("Ed25519 sign (100 B)") { _ = try identity.signing.signature(for: hundred) }
        try time("Ed25519 verify (100 B)") { _ = identity.signing.publicKey.isValidSignature(signature, for: Array(repeating: 7, count: 100)) }
        try time("identity bundle decode + verify (server, at login)") { _ = try IdentityBundle(decoding: bundle) }
        let decoded = try IdentityBundle(decoding: bundle)
        try time("identity bundle digest (SHA-256, 1.3 KB)") { _ = decoded.digest }
        try time("ChaChaPoly seal, 100 B") { _ = try ChaChaPoly.seal(hundred, using: key) }
        try time("fingerprint of a key (SHA-256 + base64)") { _ = Fingerprint.of(publicKey: Array(repeating: 9, count: 32)) }
        try time("username check (NFC normalization)") { _ = try Username("visitor42") }
        try time("Noise XX handshake, both sides, in memory") {
            var initiator = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity.noiseStatic)
            var responder = try HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: serverStatic)
            _ = try responder.readMessage(try initiator.writeMessage(payload: []))
            _ = try initiator.readMessage(try responder.writeMessage(payload: []))
            _ = try responder.readMessage(try initiator.writeMessage(payload: bundle))
            _ = try initiator.split(); _ = try responder.split()
        }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: ["mode": "operations", "repeats": repeats,
                                                                   "us": Dictionary(uniqueKeysWithValues: figures)],
                                                  options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: json))
        }
        print("summary: operations " + figures.map { String(format: "%@=%.1fus", $0.0.split(separator: " ").prefix(3).joined(separator: "_"), $0.1) }.joined(separator: " "))
    }
}
