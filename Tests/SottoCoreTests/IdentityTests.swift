import Crypto
import Foundation
import Testing
@testable import SottoCore

@Suite struct IdentityTests {
    @Test func fingerprintFollowsTheSSHConvention() {
        // SHA-256 of 32 zero bytes, base64 without padding.
        #expect(Fingerprint.of(publicKey: [UInt8](repeating: 0, count: 32)) == "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU")
        #expect(Fingerprint.isWellFormed("SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU"))
        #expect(!Fingerprint.isWellFormed("SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKS"))
        #expect(!Fingerprint.isWellFormed("MD5:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU"))
        #expect(!Fingerprint.isWellFormed("SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fK!U"))
    }

    @Test func usernamesAreNormalizedAndBounded() throws {
        let decomposed = "Zo\u{0065}\u{0308}"
        let name = try Username(decomposed)
        #expect(name.display == "Zoë")
        #expect(name.display.unicodeScalars.count == 3)
        #expect(try Username("ZOË").key == name.key)
        #expect(try Username(String(repeating: "a", count: 32)).display.count == 32)
        #expect(try Username("anna maria").display == "anna maria")
        #expect(try Username("山田").display == "山田")
        #expect(throws: Username.Problem.tooLong) { try Username(String(repeating: "a", count: 33)) }
        #expect(throws: Username.Problem.empty) { try Username("") }
        #expect(throws: Username.Problem.surroundingSpace) { try Username(" bob") }
        #expect(throws: Username.Problem.invisibleCharacter) { try Username("bo\u{200B}b") }
        #expect(throws: Username.Problem.invisibleCharacter) { try Username("bob\n") }
        #expect(throws: Username.Problem.invisibleCharacter) { try Username("bob\u{00A0}x") }
        #expect(throws: Username.Problem.invisibleCharacter) { try Username("a\u{202E}b") }
    }

    @Test func inviteLinksParse() throws {
        let fp = "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU"
        let link = try InviteLink(parsing: "sotto://192.168.1.20:8888/#\(fp)")
        #expect(link == InviteLink(host: "192.168.1.20", port: 8888, fingerprint: fp))
        #expect(try InviteLink(parsing: link.text) == link)
        let v6 = try InviteLink(parsing: "  sotto://[fe80::1]:9000/#\(fp)\n")
        #expect(v6.host == "fe80::1" && v6.port == 9000)
        #expect(try InviteLink(parsing: v6.text) == v6)
        #expect(try InviteLink(parsing: "sotto://host:1#\(fp)").host == "host")
        #expect(throws: InviteLink.Problem.notAnInvite) { try InviteLink(parsing: "http://x:1/#\(fp)") }
        #expect(throws: InviteLink.Problem.badFingerprint) { try InviteLink(parsing: "sotto://x:1/") }
        #expect(throws: InviteLink.Problem.badFingerprint) { try InviteLink(parsing: "sotto://x:1/#SHA256:abc") }
        #expect(throws: InviteLink.Problem.badPort) { try InviteLink(parsing: "sotto://x:99999/#\(fp)") }
        #expect(throws: InviteLink.Problem.badPort) { try InviteLink(parsing: "sotto://x/#\(fp)") }
        #expect(throws: InviteLink.Problem.badHost) { try InviteLink(parsing: "sotto://:1/#\(fp)") }
    }

    @Test func scryptMatchesRFC7914AndProofsAreBoundToTheHandshake() throws {
        // RFC 7914 §12, second vector (first 32 of its 64 bytes: PBKDF2 output is prefix-stable).
        let key = try PasswordKey.derive(password: "password", salt: Array("NaCl".utf8), parameters: ScryptParameters(log2N: 10, r: 8, p: 16))
        #expect(Hex.encode(key) == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
        let hash = [UInt8](repeating: 3, count: 32), otherHash = [UInt8](repeating: 4, count: 32)
        let proof = PasswordKey.proof(key: key, handshakeHash: hash)
        #expect(PasswordKey.isValid(proof: proof, key: SymmetricKey(data: key), handshakeHash: hash))
        #expect(!PasswordKey.isValid(proof: proof, key: SymmetricKey(data: key), handshakeHash: otherHash))
        var wrong = key
        wrong[31] ^= 1
        #expect(!PasswordKey.isValid(proof: proof, key: SymmetricKey(data: wrong), handshakeHash: hash))
        #expect(proof != key)
    }

    @Test func theScryptFloorRefusesCheapParameters() {
        #expect(ScryptParameters.standard.isAtLeast(.floor))
        #expect(ScryptParameters.floor.isAtLeast(.floor))
        #expect(!ScryptParameters.testing.isAtLeast(.floor))
        #expect(!ScryptParameters(log2N: 10, r: 1, p: 1).isAtLeast(.floor))
        #expect(!ScryptParameters(log2N: 16, r: 1, p: 4).isAtLeast(.floor))  // 2^16 · 1 < 2^14 · 8 in memory, however many passes
        #expect(ScryptParameters(log2N: 12, r: 16, p: 2).isAtLeast(ScryptParameters(log2N: 13, r: 8, p: 1)))
        #expect(!ScryptParameters(log2N: 30, r: 8, p: 1).isAtLeast(.floor))  // out of bounds
    }

    @Test func secretFilesAreWrittenOwnerOnlyAndReadOnlyIfPrivate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sotto-secure-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("key")
        try SecureFile.write(Data("secret".utf8), to: url)
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as! Int
        #expect(mode == 0o600)
        #expect(try SecureFile.read(url) == Data("secret".utf8))
        chmod(url.path, 0o644)
        #expect(throws: SecureFile.Failure.self) { try SecureFile.read(url) }
        #expect(try SecureFile.read(dir.appendingPathComponent("missing")) == nil)
    }
}
