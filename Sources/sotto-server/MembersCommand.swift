import ArgumentParser
import Foundation
import SottoCore
import SottoServer

/// `sotto-server members list|release NAME`: the operator's view of who holds which name,
/// working on the data directory's database (also while the server runs).
struct MembersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "List the registered members, or release a name so that someone else may take it.",
        discussion: """
        A name becomes a member's at its first login and stays bound to that device's identity, \
        so nobody else with the password can take it while its owner is offline. Release a name \
        when its owner lost their keys or left for good; it is free from the next login on (a \
        session of the old owner that is online now keeps it until it ends).
        """,
        subcommands: [List.self, Release.self])

    struct Location: ParsableArguments {
        @Option(help: "The server's data directory (default: $XDG_DATA_HOME/sotto-server).")
        var dataDir: String?

        func store() throws -> SQLiteMemberStore {
            let data = ServerDataDirectory(url: dataDir.map { URL(fileURLWithPath: $0) } ?? ServerDataDirectory.defaultURL)
            // Never migrated from here: the server of the older version may be running on it.
            do { return SQLiteMemberStore(try ServerDatabase(url: data.databaseURL, upgrade: false)) } catch let error as SecureFile.Failure {
                throw ValidationError(error.description)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registered members: name, identity fingerprint, registered, last seen (when they last logged out).")
        @OptionGroup var location: Location

        func run() throws {
            let members = try location.store().members()
            guard !members.isEmpty else { return print("No registered members yet.") }
            let formatter = ISO8601DateFormatter()
            func date(_ ms: UInt64) -> String { formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)) }
            for m in members {
                // Names come from the network: escaped before they reach the terminal.
                print("\(TerminalText.escaped(m.name))\t\(m.fingerprint)\tregistered \(date(m.registeredAt))\tlast seen \(date(m.lastSeen))")
            }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Frees a name: the next person to log in with it becomes its member.")
        @OptionGroup var location: Location
        @Argument(help: "The name to release (any case).") var name: String

        func run() throws {
            let username: Username
            do { username = try Username(name) } catch { throw ValidationError("\(name) is not a valid name: \(error).") }
            guard let released = try location.store().release(username) else {
                // Not a usage mistake: said once, without the usage text.
                FileHandle.standardError.write(Data("sotto-server: nobody is registered as \(TerminalText.escaped(username.display)).\n".utf8))
                throw ExitCode(1)
            }
            print("Released \(TerminalText.escaped(released.name)) (was \(released.fingerprint)).")
        }
    }
}
