import ArgumentParser
import Foundation
import SottoWindow

@main
struct SottoApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sotto",
        abstract: "Sotto: the windowed client. Opens a window with a login form; the password is always asked there.")

    @Option(name: [.long, .customLong("host")], help: "Pre-fill the server address (--host, as sotto-cli calls it, works too).")
    var server: String?

    @Option(help: "Pre-fill the port.")
    var port: Int?

    @Option(help: "Pre-fill the username.")
    var user: String?

    @Option(help: "An invite link sotto://HOST:PORT/#SHA256:… (fills server, port and the expected key).")
    var invite: String?

    @Option(help: "Where identity, known servers and settings live (default: $XDG_CONFIG_HOME/sotto).")
    var configDir: String?

    @Option(help: "Where the message history is kept, one database per server (default: $XDG_DATA_HOME/sotto, or SOTTO_DATA_DIR).")
    var dataDir: String?

    @Flag(help: "Keep no history on this device.")
    var noHistory = false

    @Option(help: "Desktop notifications of direct messages and of the room calling you, while the window is behind others (through notify-send, from libnotify-bin): text (who and what they wrote), names (who only), or off.")
    var notifications: String = NotificationPreview.text.rawValue

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be a number from 1 to 65535.") }
        if NotificationPreview(rawValue: notifications) == nil { throw ValidationError("--notifications must be text, names or off.") }
    }

    func run() throws {
        // X11 window titles (and input methods) go through the C library's locale, "C" until
        // set: SDL converted the UTF-8 title to ASCII ("Sotto — # room" read "Sotto â\302\200\302\224 # room")
        // and left the UTF-8 _NET_WM_NAME, which taskbars show, at "Sotto".
        if setlocale(LC_CTYPE, "") == nil || String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
        var options = AppOptions(configDirectory: configDir.map { URL(fileURLWithPath: $0) }, dataDirectory: dataDir.map { URL(fileURLWithPath: $0) })
        options.keepHistory = !noHistory
        options.notifications = NotificationPreview(rawValue: notifications) ?? .text
        options.server = server
        options.port = port
        options.user = user
        options.invite = invite
        do {
            let app = try ChatApp(options: options)
            app.run()
        } catch {
            FileHandle.standardError.write(Data("sotto: cannot open a window: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
