import Foundation
import NIOConcurrencyHelpers
import SottoCore

/// A blocking TCP connection that speaks Sotto by hand, so tests can misbehave on purpose:
/// send garbage, stop reading, never log in.
final class RawConnection {
    let fd: Int32
    private var handshake: HandshakeState?
    private var transport: NoiseTransport?
    private var inbound: [UInt8] = []
    /// What this connection publishes at login, as a client does.
    let sessionNonce = (0..<WireLimits.sessionNonceLength).map { _ in UInt8.random(in: 0...255) }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// `receiveBuffer` shrinks SO_RCVBUF (a reader that stops reading then backs up quickly).
    init(port: Int, from source: String? = nil, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw Failure(description: "bind to \(source) failed") }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw Failure(description: "connect failed") }
    }

    /// The server end of a connection a `HostileServer` accepted.
    init(accepted fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Hangs up at once (the descriptor is closed with the connection object).
    func hangUp() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// As a (hostile) server: answers the client's handshake with `hello` and returns its
    /// login, with the hash its proof is bound to. The transport is then up.
    func respond(hello: ServerHello, staticKey: DHPrivateKey) throws -> (login: LoginRequest, handshakeHash: [UInt8]) {
        var hs = try HandshakeState(initiator: false, prologue: sottoPrologue, localStatic: staticKey)
        guard let m1 = try readFrame() else { throw Failure(description: "closed before message 1") }
        _ = try hs.readMessage(m1)
        try sendFrame(try hs.writeMessage(payload: hello.encoded()))
        let bound = hs.handshakeHash
        guard let m3 = try readFrame() else { throw Failure(description: "closed before message 3") }
        let login = try LoginRequest(decoding: try hs.readMessage(m3))
        transport = try hs.split()
        return (login, bound)
    }

    /// Sends a login built by someone else (a relayed proof), after a genuine handshake;
    /// returns the server's answer.
    func relayLogin(_ makeLogin: (ServerHello, _ handshakeHash: [UInt8]) -> LoginRequest) throws -> ServerRecord? {
        try loginWithPayload { makeLogin($0, $1).encoded() }
    }

    /// Message 3 carries whatever `payload` makes (valid or not); `thenSend` records follow
    /// at once, before any answer is read. Returns the first welcome or error.
    func loginWithPayload(identity: DHPrivateKey = DHPrivateKey(), _ payload: (ServerHello, _ handshakeHash: [UInt8]) throws -> [UInt8],
                          thenSend records: [[UInt8]] = []) throws -> ServerRecord? {
        var hs = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity)
        try sendFrame(try hs.writeMessage(payload: []))
        guard let m2 = try readFrame() else { throw Failure(description: "closed during handshake") }
        let hello = try ServerHello(decoding: try hs.readMessage(m2))
        let m3 = try hs.writeMessage(payload: try payload(hello, hs.handshakeHash))
        var t = try hs.split()
        var bytes = [UInt8(m3.count >> 8), UInt8(m3.count & 0xff)] + m3
        if !records.isEmpty {
            // In the same write as message 3, so the server reads them in the same turn.
            var plain: [UInt8] = []
            for r in records { RecordBatch.append(r, to: &plain) }
            let sealed = try t.seal(plain)
            bytes += [UInt8(sealed.count >> 8), UInt8(sealed.count & 0xff)] + sealed
        }
        transport = t
        try sendRaw(bytes)
        return try readUntil { if case .welcome = $0 { true } else if case .error = $0 { true } else { false } }
    }

    /// A correct login payload for this server (the proof over this handshake).
    func loginPayload(name: String, password: String = TestServer.password, bundle: [UInt8] = [],
                      hello: ServerHello, handshakeHash: [UInt8]) throws -> [UInt8] {
        let key = try Self.passwordKey(password, hello)
        return LoginRequest(username: name, proof: PasswordKey.proof(key: key, handshakeHash: handshakeHash), identity: bundle,
                            sessionNonce: sessionNonce).encoded()
    }

    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed") }
            offset += n
        }
    }

    func sendFrame(_ message: [UInt8]) throws {
        try sendRaw([UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message)
    }

    /// Reads one frame; nil when the peer closed the connection.
    func readFrame() throws -> [UInt8]? {
        func fill(_ n: Int) throws -> Bool {
            while inbound.count < n {
                var chunk = [UInt8](repeating: 0, count: 65_536)
                let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if got == 0 { return false }
                if got < 0 {
                    if errno == ECONNRESET { return false }
                    throw Failure(description: "recv failed: errno \(errno)")
                }
                inbound += chunk[..<got]
            }
            return true
        }
        guard try fill(2) else { return nil }
        let length = Int(inbound[0]) << 8 | Int(inbound[1])
        guard try fill(2 + length) else { return nil }
        let frame = Array(inbound[2..<(2 + length)])
        inbound.removeFirst(2 + length)
        return frame
    }

    /// True once the server has closed (reads return end of file), within the receive timeout.
    func isClosedByPeer() -> Bool {
        while true {
            guard let frame = try? readFrame() else { return true }
            _ = frame
        }
    }

    /// Completes the Noise handshake and logs in. Returns the server hello.
    @discardableResult
    func login(name: String, password: String = TestServer.password, identity: DHPrivateKey = DHPrivateKey(), bundle: [UInt8] = [],
               prekey: [UInt8] = []) throws -> ServerHello {
        let (hello, answer) = try attemptLogin(name: name, password: password, identity: identity, bundle: bundle, prekey: prekey)
        guard case .welcome? = answer else { throw Failure(description: "\(name) not welcomed: \(answer.map { "\($0)" } ?? "no answer within the receive timeout")") }
        return hello
    }

    /// Derived once per password and server, as a person's client keeps it: hundreds of
    /// raw logins would otherwise spend most of their time in scrypt (a debug build's).
    private static let derivedKeys = NIOLockedValueBox<[String: [UInt8]]>([:])

    private static func passwordKey(_ password: String, _ hello: ServerHello) throws -> [UInt8] {
        let id = "\(password)|\(hello.passwordSalt)|\(hello.scrypt.log2N),\(hello.scrypt.r),\(hello.scrypt.p)"
        if let key = derivedKeys.withLockedValue({ $0[id] }) { return key }
        let key = try PasswordKey.derive(password: password, salt: hello.passwordSalt, parameters: hello.scrypt)
        derivedKeys.withLockedValue { $0[id] = key }
        return key
    }

    /// Logs in and returns the server's answer: `welcome`, or the `error` it closed with.
    func attemptLogin(name: String, password: String = TestServer.password, identity: DHPrivateKey = DHPrivateKey(), bundle: [UInt8] = [],
                      prekey: [UInt8] = []) throws -> (ServerHello, ServerRecord?) {
        var hs = try HandshakeState(initiator: true, prologue: sottoPrologue, localStatic: identity)
        try sendFrame(try hs.writeMessage(payload: []))
        guard let m2 = try readFrame() else { throw Failure(description: "closed during handshake") }
        let hello = try ServerHello(decoding: try hs.readMessage(m2))
        let key = try Self.passwordKey(password, hello)
        let proof = PasswordKey.proof(key: key, handshakeHash: hs.handshakeHash)
        try sendFrame(try hs.writeMessage(payload: LoginRequest(username: name, proof: proof, identity: bundle, sessionNonce: sessionNonce, prekey: prekey).encoded()))
        transport = try hs.split()
        var before: [ServerRecord] = []
        let answer = try readUntil { record in
            switch record {
            case .welcome, .error: return true
            default: before.append(record); return false
            }
        }
        beforeAnswer = before
        return (hello, answer)
    }

    func sendRecords(_ records: [[UInt8]]) throws {
        var plain: [UInt8] = []
        for r in records { RecordBatch.append(r, to: &plain) }
        try sendSealed(plain)
    }

    /// Seals any plaintext, valid records or not.
    func sendSealed(_ plaintext: [UInt8]) throws {
        guard var t = transport else { throw Failure(description: "not logged in") }
        try sendFrame(try t.seal(plaintext))
        transport = t
    }

    /// The next server records (one transport message's worth); nil when closed.
    func readRecords() throws -> [ServerRecord]? {
        guard var t = transport, let frame = try readFrame() else { return nil }
        let plain = try t.open(frame)
        transport = t
        return try RecordBatch.split(plain).map { try ServerRecord(decoding: $0) }
    }

    private var unread: [ServerRecord] = []
    /// What the server sent before its answer to the last login (it should be nothing).
    private(set) var beforeAnswer: [ServerRecord] = []

    /// Reads until a record matches, dropping the ones before it (records after it stay
    /// for the next call); nil if the connection closes first.
    func readUntil(_ match: (ServerRecord) -> Bool) throws -> ServerRecord? {
        while true {
            while !unread.isEmpty {
                let record = unread.removeFirst()
                if match(record) { return record }
            }
            guard let records = try readRecords() else { return nil }
            unread = records
        }
    }
}
