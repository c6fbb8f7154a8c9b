import Crypto
import NIOCore
import SottoCore

/// All a server needs to run: where to listen, its key, its password verifier and its limits.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var serverName: String
    public var staticKey: Curve25519.KeyAgreement.PrivateKey
    public var passwordSalt: [UInt8]
    public var scrypt: ScryptParameters
    /// scrypt(password, salt), which logins prove they know; the password itself is not kept.
    public var passwordKey: SymmetricKey
    public var limits: ServerLimits
    /// Event loop threads; defaults to one per core.
    public var threads: Int
    /// Who holds which name. `sotto-server` keeps them in its database; by default (tests,
    /// fuzzing) for the life of the process.
    public var members: MemberStore
    /// What waits for members (the delivery log) and how long it is kept.
    public var deliveries: DeliveryStore
    public var retention: Retention

    public init(
        host: String = "0.0.0.0", port: Int = 8888, serverName: String = "Sotto",
        staticKey: Curve25519.KeyAgreement.PrivateKey, password: String, passwordSalt: [UInt8],
        scrypt: ScryptParameters = .standard, limits: ServerLimits = ServerLimits(),
        threads: Int = System.coreCount, members: MemberStore = InMemoryMemberStore(),
        deliveries: DeliveryStore = InMemoryDeliveryStore(), retention: Retention = Retention()
    ) throws {
        self.deliveries = deliveries
        self.retention = retention
        self.host = host
        self.port = port
        self.serverName = serverName
        self.staticKey = staticKey
        self.passwordSalt = passwordSalt
        self.scrypt = scrypt
        self.passwordKey = SymmetricKey(data: try PasswordKey.derive(password: password, salt: passwordSalt, parameters: scrypt))
        self.limits = limits
        self.threads = max(1, threads)
        self.members = members
    }

    public var fingerprint: String { Fingerprint.of(publicKey: Array(staticKey.publicKey.rawRepresentation)) }

    var hello: ServerHello {
        ServerHello(serverName: serverName, maxBodyBytes: UInt32(limits.maxBodyBytes), passwordSalt: passwordSalt, scrypt: scrypt)
    }
}
