import Foundation
import Testing
@testable import SottoCore

@Suite struct NoiseVectorTests {
    static let vectorsURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Vectors/cacophony-subset.json")

    static func vectors() throws -> [NoiseVector] {
        try NoiseVector.load(from: Data(contentsOf: vectorsURL))
    }

    @Test func everyVectorInTheSubsetPasses() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count == 6)
        for vector in vectors {
            #expect(vector.run() == .pass, "\(vector.protocol_name)")
        }
    }

    @Test(arguments: ["Noise_XX_25519_ChaChaPoly_SHA256", "Noise_XX_25519_AESGCM_SHA256"])
    func sottoPatternVectorsPass(name: String) throws {
        let matching = try Self.vectors().filter { $0.protocol_name == name }
        #expect(matching.count == 1)
        #expect(matching.first?.run() == .pass)
    }

    @Test func aVectorWithOneFlippedCiphertextBitFails() throws {
        let original = try Self.vectors().first { $0.protocol_name == "Noise_XX_25519_ChaChaPoly_SHA256" }!
        var json = try JSONSerialization.jsonObject(with: JSONEncoderShim.encode(original)) as! [String: Any]
        var messages = json["messages"] as! [[String: String]]
        var ct = Array(messages[1]["ciphertext"]!)
        ct[10] = ct[10] == "0" ? "1" : "0"
        messages[1]["ciphertext"] = String(ct)
        json["messages"] = messages
        let data = try JSONSerialization.data(withJSONObject: ["vectors": [json]])
        let tampered = try NoiseVector.load(from: data)[0]
        guard case .fail = tampered.run() else { Issue.record("tampered vector passed"); return }
    }

    @Test func unknownProtocolsAreSkippedNotFailed() throws {
        let json = #"{"vectors":[{"protocol_name":"Noise_XX_448_ChaChaPoly_BLAKE2b","init_prologue":"","init_ephemeral":"00","resp_prologue":"","messages":[]}]}"#
        let v = try NoiseVector.load(from: Data(json.utf8))[0]
        #expect(v.run() == .skip("not implemented"))
    }
}

/// Re-encodes a vector for tampering (NoiseVector is Decodable only).
enum JSONEncoderShim {
    static func encode(_ v: NoiseVector) throws -> Data {
        var object: [String: Any] = [
            "protocol_name": v.protocol_name, "init_prologue": v.init_prologue, "init_ephemeral": v.init_ephemeral,
            "resp_prologue": v.resp_prologue,
            "messages": v.messages.map { ["payload": $0.payload, "ciphertext": $0.ciphertext] },
        ]
        object["init_static"] = v.init_static
        object["resp_static"] = v.resp_static
        object["resp_ephemeral"] = v.resp_ephemeral
        object["init_remote_static"] = v.init_remote_static
        object["resp_remote_static"] = v.resp_remote_static
        object["handshake_hash"] = v.handshake_hash
        return try JSONSerialization.data(withJSONObject: object)
    }
}
