import Foundation
import SottoClient
import Testing
@testable import SottoFuzzing

/// Every fuzz harness over its seed corpus (Tests/FuzzCorpus, where found crashes are kept)
/// and a batch of deterministic random inputs: none may crash or hang.
@Suite(.serialized) struct FuzzRegressionTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus")

    @Test func theHandshakeHarnessReachesTheLoggedInServer() {
        #expect(Harness.handshake([0] + Array("alice".utf8)))
        #expect(!Harness.handshake(Array("not a login".utf8)))
        #expect(Harness.server.memberCount == 0)  // every harness connection is closed again
    }

    @Test(arguments: Harness.allCases)
    func corpusAndRandomInputsRunClean(harness: Harness) throws {
        let dir = Self.corpus.appendingPathComponent(harness.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!files.isEmpty)
        var seeds: [[UInt8]] = []
        for file in files {
            let data = try #require(FileManager.default.contents(atPath: dir.appendingPathComponent(file).path))
            seeds.append(Array(data))
            harness.run(Array(data))
        }
        // Mutations of the seeds: flips, truncations, splices.
        var state: UInt64 = 0x5eed_0000 &+ UInt64(harness.rawValue.utf8.count)
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for _ in 0..<300 {
            var input = seeds[Int(next() % UInt64(seeds.count))]
            switch next() % 3 {
            case 0: if !input.isEmpty { input[Int(next() % UInt64(input.count))] ^= UInt8(truncatingIfNeeded: next()) }
            case 1: input = Array(input.prefix(Int(next() % UInt64(input.count + 1))))
            default: input += (0..<Int(next() % 40)).map { _ in UInt8(truncatingIfNeeded: next()) }
            }
            harness.run(input)
        }
    }

    /// The member harness's seeds reach the ratchet: a share and a message on it are read,
    /// so the fuzzer starts from inputs that pass every signature.
    @Test func theMemberHarnessReachesTheRatchet() throws {
        let seed = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent("member/share-message-time")))
        #expect(Harness.member(seed) == 1)
    }

    /// The server-role harness's seed logs in for real, has a message delivered, is dropped,
    /// comes back and is asked about what it sent: the fuzzer starts past the login.
    @Test func theServerRoleHarnessGetsPastTheLogin() throws {
        let seed = try [UInt8](Data(contentsOf: Self.corpus.appendingPathComponent("server-role/login-send-ack-drop-return")))
        let events = Harness.serverRole(seed)
        #expect(events.filter { if case .state(.online) = $0 { true } else { false } }.count == 2, "\(events.map { "\($0)".prefix(60) })")
        #expect(events.contains { if case .delivered = $0 { true } else { false } })
        #expect(events.contains { if case .users(let list) = $0 { list.map(\.name) == ["me", "peer"] } else { false } })
        #expect(events.contains { if case .notice(.joined("Peer")) = $0 { true } else { false } })
    }
}
