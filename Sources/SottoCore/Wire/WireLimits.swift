/// Hard bounds on every size in the schema. Readers enforce them before allocating.
public enum WireLimits {
    /// The schema version this build speaks (bumped on any incompatible change).
    public static let schemaVersion: UInt8 = 5
    /// A username is 1–32 characters; in UTF-8 that is at most 32 × 4 scalars of 4 bytes.
    public static let maxUsernameBytes = 512
    /// Absolute ceiling on a chat body; servers announce their own (smaller) limit.
    public static let maxBodyBytes = 60_000
    public static let defaultBodyBytes = 16_384
    public static let maxIdentityBytes = 4_096
    public static let maxTextBytes = 1_024
    /// A sealed sender chain (the sender's identity bundle, X-Wing encapsulation, HPKE
    /// ciphertext, signature) with room to spare.
    public static let maxKeyShareBytes = 4_096
    /// SHA-256 of an identity bundle's keys.
    public static let identityDigestLength = 32
    /// Names in one identity request: its answer (≤ 256 × 1.4 KB) stays well inside the
    /// server's per-connection queue.
    public static let maxIdentityRequest = 256
    /// Ids in one relayed query (32 KB): more than a client resends after a reconnect.
    public static let maxRelayedQuery = 4_096
    public static let maxServerNameBytes = 128
    /// Members in one online list, summed over its parts: a client refuses a longer one (a
    /// server never admits more connections than this).
    public static let maxListedMembers = 65_536
    public static let passwordKeyLength = 32
    /// HMAC-SHA256 of the handshake, keyed by the password key (`PasswordKey.proof`).
    public static let loginProofLength = 32
    /// The fresh random value a member publishes at each login; key shares to them are bound to it.
    public static let sessionNonceLength = 16
    /// A signed prekey (`SignedPrekey`): an X-Wing public key, its creation time, a signature.
    public static let maxPrekeyBytes = SignedPrekey.encodedLength
    public static let noiseKeyLength = 32
    public static let maxSaltLength = 64
    public static let minSaltLength = 16
    /// Length prefix of one record inside a transport message's plaintext.
    public static let recordHeaderLength = 2
    /// Largest record: a transport plaintext holding just it.
    public static let maxRecordLength = NoiseTransport.maxPlaintextLength - recordHeaderLength
}
