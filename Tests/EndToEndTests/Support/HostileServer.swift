import Foundation
import SottoCore

/// A server that lies: it listens on 127.0.0.1, completes a genuine Noise handshake with
/// its own key (which the client under test has been told to trust) and then says whatever
/// the test wants. One connection at a time, blocking, on the caller's thread.
final class HostileServer {
    let key = DHPrivateKey()
    let port: Int
    private let listener: Int32

    var fingerprint: String { Fingerprint.of(publicKey: Array(key.publicKey.rawRepresentation)) }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw RawConnection.Failure(description: "cannot listen") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    deinit { close(listener) }

    /// The next client, within `timeout` seconds.
    func accept(timeout: Int32 = 15_000) throws -> RawConnection {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeout) == 1 else { throw RawConnection.Failure(description: "no client connected") }
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { throw RawConnection.Failure(description: "accept failed") }
        return RawConnection(accepted: fd)
    }
}
