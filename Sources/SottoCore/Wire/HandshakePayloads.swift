/// scrypt cost parameters a server announces for deriving the password key.
public struct ScryptParameters: Equatable, Sendable {
    public var log2N: UInt8
    public var r: UInt8
    public var p: UInt8

    /// What servers use: N = 2^15, r = 8, p = 1 (about 32 MiB and 90 ms on a laptop).
    public static let standard = ScryptParameters(log2N: 15, r: 8, p: 1)
    /// Cheap parameters, for tests and benchmarks only.
    public static let testing = ScryptParameters(log2N: 10, r: 8, p: 1)

    public init(log2N: UInt8, r: UInt8, p: UInt8) {
        self.log2N = log2N
        self.r = r
        self.p = p
    }

    /// The cheapest a client accepts by default: 16 MiB and ~40 ms a guess (release build).
    /// A server that asks for less would get a proof cheap to brute-force offline.
    public static let floor = ScryptParameters(log2N: 14, r: 8, p: 1)

    /// What any hello may say: a server must not be able to make a client burn gigabytes.
    public var isWithinBounds: Bool { (10...18).contains(log2N) && (1...16).contains(r) && (1...4).contains(p) }

    /// At least as costly as `minimum` in memory (N·r) and in time (N·r·p). Overflow-free:
    /// log2N ≤ 18, r ≤ 16, p ≤ 4 once within bounds.
    public func isAtLeast(_ minimum: ScryptParameters) -> Bool {
        let memory = { (s: ScryptParameters) in (1 << Int(s.log2N)) * Int(s.r) }
        return isWithinBounds && memory(self) >= memory(minimum) && memory(self) * Int(p) >= memory(minimum) * Int(minimum.p)
    }
}

/// Payload of handshake message 2 (responder → initiator), encrypted to the client.
public struct ServerHello: Equatable, Sendable {
    public var serverName: String
    public var maxBodyBytes: UInt32
    public var passwordSalt: [UInt8]
    public var scrypt: ScryptParameters

    public init(serverName: String, maxBodyBytes: UInt32, passwordSalt: [UInt8], scrypt: ScryptParameters) {
        self.serverName = serverName
        self.maxBodyBytes = maxBodyBytes
        self.passwordSalt = passwordSalt
        self.scrypt = scrypt
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.u8(WireLimits.schemaVersion)
        w.string16(serverName)
        w.u32(maxBodyBytes)
        w.bytes16(passwordSalt)
        w.u8(scrypt.log2N)
        w.u8(scrypt.r)
        w.u8(scrypt.p)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        try r.version(WireLimits.schemaVersion, "schema version")
        serverName = try r.string16("server name", max: WireLimits.maxServerNameBytes)
        maxBodyBytes = try r.u32("max body bytes")
        guard (1...UInt32(WireLimits.maxBodyBytes)).contains(maxBodyBytes) else { throw WireError.invalid("max body bytes out of range") }
        passwordSalt = try r.bytes16("password salt", max: WireLimits.maxSaltLength)
        guard passwordSalt.count >= WireLimits.minSaltLength else { throw WireError.invalid("password salt too short") }
        scrypt = ScryptParameters(log2N: try r.u8("scrypt N"), r: try r.u8("scrypt r"), p: try r.u8("scrypt p"))
        guard scrypt.isWithinBounds else { throw WireError.invalid("scrypt parameters out of bounds") }
        try r.expectEnd("server hello")
    }
}

/// Payload of handshake message 3 (initiator → responder): sent only after the client
/// has checked the server's static key, and encrypted under keys that include it.
public struct LoginRequest: Equatable, Sendable {
    public var username: String
    /// HMAC(scrypt(password, server salt), this handshake): neither the password nor anything
    /// that logs in elsewhere leaves the client (`PasswordKey.proof`).
    public var proof: [UInt8]
    /// The client's identity bundle (empty for a client without end-to-end keys). The server
    /// checks it is well formed, self-signed and bound to the Noise key, then lists its digest.
    public var identity: [UInt8]
    /// Fresh random bytes for this session, listed with the member (`OnlineUser.sessionNonce`).
    public var sessionNonce: [UInt8]
    /// The device's current signed prekey (`SignedPrekey`, empty without an identity): listed
    /// with the member from the moment the room hears of them, so whoever shares a chain with
    /// them then, or while they are away, can seal it.
    public var prekey: [UInt8]

    public init(username: String, proof: [UInt8], identity: [UInt8] = [], sessionNonce: [UInt8], prekey: [UInt8] = []) {
        self.username = username
        self.proof = proof
        self.identity = identity
        self.sessionNonce = sessionNonce
        self.prekey = prekey
    }

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.u8(WireLimits.schemaVersion)
        w.string16(username)
        w.bytes16(proof)
        w.bytes16(identity)
        w.bytes16(sessionNonce)
        w.bytes16(prekey)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var r = WireReader(bytes)
        try r.version(WireLimits.schemaVersion, "schema version")
        username = try r.string16("username", max: WireLimits.maxUsernameBytes)
        proof = try r.fixed16("login proof", count: WireLimits.loginProofLength)
        identity = try r.bytes16("identity", max: WireLimits.maxIdentityBytes)
        sessionNonce = try r.fixed16("session nonce", count: WireLimits.sessionNonceLength)
        prekey = try r.bytes16("prekey", max: WireLimits.maxPrekeyBytes)
        try r.expectEnd("login")
    }
}
