import Foundation
import SottoCore

/// What a desktop notification shows (`sotto --notifications`).
public enum NotificationPreview: String, CaseIterable, Sendable {
    /// Who, where, and what they wrote.
    case text
    /// Who and where: nothing of what was written leaves the window.
    case names
    case off
}

/// What the command line pre-fills, and where settings live.
public struct AppOptions {
    public var server: String?
    public var port: Int?
    public var user: String?
    public var invite: String?
    public var configDirectory: URL
    /// Where the history is kept, one database per server (`$XDG_DATA_HOME/sotto`).
    public var dataDirectory: URL
    /// Off: nothing is kept on this device (`--no-history`).
    public var keepHistory = true
    /// Desktop notifications of direct messages and calls by name while the window is behind.
    public var notifications = NotificationPreview.text
    public var windowWidth = 1000
    public var windowHeight = 680
    /// Offscreen video driver and software renderer (tests).
    public var headless = false
    /// The cheapest password hashing accepted from a server (tests of cheap servers lower it).
    public var minimumPasswordHashing = ScryptParameters.floor

    public init(configDirectory: URL? = nil, dataDirectory: URL? = nil) {
        self.configDirectory = XDG.sottoConfigDirectory(configDirectory)
        self.dataDirectory = XDG.sottoDataDirectory(dataDirectory)
    }
}

/// The login form's last values (never the password), kept in `settings.json`.
struct Settings: Codable, Equatable {
    var username = ""
    var server = ""
    var port = "8888"
    /// nil (settings written before it existed): kept.
    var keepHistory: Bool?
    /// The window's size when it was last closed (points); nil: the default.
    var windowWidth: Int?
    var windowHeight: Int?

    var keepsHistory: Bool { keepHistory ?? true }

    static func load(from directory: URL) -> Settings { loadIfReadable(from: directory) ?? Settings() }

    /// nil if a file is there that cannot be read as settings (hand-edited, or a newer
    /// version's): not to be overwritten with defaults.
    static func loadIfReadable(from directory: URL) -> Settings? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("settings.json")) else { return Settings() }
        return try? JSONDecoder().decode(Settings.self, from: data)
    }

    func save(to directory: URL) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(self) {
            try? SecureFile.write(data, to: directory.appendingPathComponent("settings.json"), mode: 0o600)
        }
    }
}
