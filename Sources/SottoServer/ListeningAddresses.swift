import NIOCore

/// The addresses people on the LAN can use to reach a server bound to `host`.
public enum ListeningAddresses {
    public static func forBinding(host: String) -> [String] {
        guard host == "0.0.0.0" || host == "::" else { return [host] }
        let devices = (try? System.enumerateDevices()) ?? []
        var seen = Set<String>()
        var lan: [String] = []
        var loopback: [String] = []
        for device in devices {
            guard let address = device.address, let ip = address.ipAddress else { continue }
            if case .v6 = address, host == "0.0.0.0" { continue }
            if ip.hasPrefix("fe80:") { continue }  // link-local v6 needs a zone id; not useful in an invite
            guard seen.insert(ip).inserted else { continue }
            if ip.hasPrefix("127.") || ip == "::1" { loopback.append(ip) } else { lan.append(ip) }
        }
        return lan + loopback
    }
}
