import Crypto
import Foundation

/// One entry of a cacophony/snow-style Noise test-vector file.
public struct NoiseVector: Decodable, Sendable {
    public struct Message: Decodable, Sendable {
        public let payload: String
        public let ciphertext: String
    }

    public let protocol_name: String
    public let init_prologue: String
    public let init_static: String?
    public let init_ephemeral: String
    public let init_remote_static: String?
    public let init_psks: [String]?
    public let resp_prologue: String
    public let resp_static: String?
    public let resp_ephemeral: String?
    public let resp_remote_static: String?
    public let resp_psks: [String]?
    public let handshake_hash: String?
    public let messages: [Message]

    private struct File: Decodable { let vectors: [NoiseVector] }

    /// Reads `{"vectors": [...]}` (or a bare array of vectors).
    public static func load(from data: Data) throws -> [NoiseVector] {
        let decoder = JSONDecoder()
        if let file = try? decoder.decode(File.self, from: data) { return file.vectors }
        return try decoder.decode([NoiseVector].self, from: data)
    }

    public enum Outcome: Equatable, Sendable {
        case pass
        case skip(String)
        case fail(String)
    }

    /// Replays the vector through two HandshakeStates and the transports they split into.
    public func run() -> Outcome {
        let noiseProtocol: NoiseProtocol
        do { noiseProtocol = try NoiseProtocol(name: protocol_name) } catch { return .skip("not implemented") }
        do {
            var initiator = try HandshakeState(
                protocol: noiseProtocol, initiator: true, prologue: try hex(init_prologue),
                localStatic: try key(init_static), remoteStatic: try init_remote_static.map(hex),
                presetEphemeral: try key(init_ephemeral), psks: try (init_psks ?? []).map(hex))
            var responder = try HandshakeState(
                protocol: noiseProtocol, initiator: false, prologue: try hex(resp_prologue),
                localStatic: try key(resp_static), remoteStatic: try resp_remote_static.map(hex),
                presetEphemeral: try key(resp_ephemeral), psks: try (resp_psks ?? []).map(hex))
            var transports: (initiator: NoiseTransport, responder: NoiseTransport)?
            for (i, message) in messages.enumerated() {
                let payload = try hex(message.payload)
                let expected = try hex(message.ciphertext)
                let fromInitiator = i % 2 == 0
                let ciphertext: [UInt8]
                let received: [UInt8]
                if var t = transports {
                    if fromInitiator {
                        ciphertext = try t.initiator.seal(payload)
                        received = try t.responder.open(ciphertext)
                    } else {
                        ciphertext = try t.responder.seal(payload)
                        received = try t.initiator.open(ciphertext)
                    }
                    transports = t
                } else if fromInitiator {
                    ciphertext = try initiator.writeMessage(payload: payload)
                    received = try responder.readMessage(ciphertext)
                } else {
                    ciphertext = try responder.writeMessage(payload: payload)
                    received = try initiator.readMessage(ciphertext)
                }
                guard ciphertext == expected else { return .fail("message \(i): ciphertext differs") }
                guard received == payload else { return .fail("message \(i): decrypted payload differs") }
                if transports == nil, initiator.isComplete, responder.isComplete {
                    if let expectedHash = handshake_hash, try hex(expectedHash) != initiator.handshakeHash {
                        return .fail("handshake hash differs")
                    }
                    guard initiator.handshakeHash == responder.handshakeHash else { return .fail("handshake hashes disagree") }
                    transports = (try initiator.split(), try responder.split())
                }
            }
            return .pass
        } catch {
            return .fail("\(error)")
        }
    }

    private struct BadHex: Error, CustomStringConvertible { let description = "bad hex in vector" }

    private func hex(_ s: String) throws -> [UInt8] {
        guard let bytes = Hex.decode(s) else { throw BadHex() }
        return bytes
    }

    private func key(_ s: String?) throws -> DHPrivateKey? {
        guard let s else { return nil }
        return try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: hex(s))
    }
}
