import SottoCore
import SottoServer

/// What the server prints on every start: how to reach it and how to check it is the right one.
struct Banner {
    let configuration: ServerConfiguration
    let boundPort: Int
    let password: String?
    let passwordNote: String
    let addresses: [String]

    var text: String {
        let fingerprint = configuration.fingerprint
        let display = addresses.isEmpty ? [configuration.host] : addresses
        var lines: [String] = []
        lines.append("Sotto server \"\(configuration.serverName)\" — Noise_XX_25519_ChaChaPoly_SHA256")
        lines.append("Listening on port \(boundPort), at:")
        for address in display { lines.append("  \(address)") }
        lines.append("Password:     \(password ?? "(not shown)") \(passwordNote)")
        lines.append("Fingerprint:  \(fingerprint)")
        lines.append("Invite links (give one to each person; it carries the fingerprint):")
        for address in display {
            lines.append("  \(InviteLink(host: address, port: boundPort, fingerprint: fingerprint).text)")
        }
        let first = display.first ?? "HOST"
        let invite = InviteLink(host: first, port: boundPort, fingerprint: fingerprint).text
        lines.append("Connect:      sotto --invite '\(invite)'   (window)")
        lines.append("              sotto-cli --invite '\(invite)' --user NAME   (terminal)")
        lines.append("Waiting for connections...")
        return lines.joined(separator: "\n")
    }
}
