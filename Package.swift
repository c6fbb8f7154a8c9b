// swift-tools-version:6.1
import PackageDescription

// Swift 5 language mode for the NIO-facing targets: their handlers are confined to one
// event loop by construction, which strict Sendable checking cannot see.
let swift5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "Sotto",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sotto-server", targets: ["sotto-server"]),
        .executable(name: "sotto-cli", targets: ["sotto-cli"]),
        .executable(name: "sotto-vectors", targets: ["sotto-vectors"]),
        .executable(name: "sotto", targets: ["sotto"]),
        .executable(name: "sotto-bench", targets: ["sotto-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // SQLite (the system's libsqlite3-dev: WAL, FTS5) for members, offline mail and history.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // ICU's spoof checker (UTS #39), for names that look like other names (libicu-dev).
        .target(name: "CSpoof", linkerSettings: [.linkedLibrary("icui18n"), .linkedLibrary("icuuc"), .linkedLibrary("icudata")]),
        // Pure protocol code: Noise, wire schema, framing, identities. No sockets, no UI.
        .target(
            name: "SottoCore",
            dependencies: [
                "CSpoof",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        // How Sotto opens its SQLite databases (GRDB): private files, WAL, migrations.
        .target(
            name: "SottoStorage",
            dependencies: ["SottoCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // SwiftNIO glue shared by server and client: frame decoder, Noise channel handler.
        .target(
            name: "SottoTransport",
            dependencies: [
                "SottoCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swift5
        ),
        .target(
            name: "SottoServer",
            dependencies: [
                "SottoCore", "SottoTransport", "SottoStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swift5
        ),
        .executableTarget(
            name: "sotto-server",
            dependencies: [
                "SottoServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swift5
        ),
        .target(
            name: "SottoClient",
            dependencies: [
                "SottoCore", "SottoTransport", "SottoStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swift5
        ),
        .executableTarget(
            name: "sotto-cli",
            dependencies: [
                "SottoClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift5
        ),
        .executableTarget(
            name: "sotto-vectors",
            dependencies: ["SottoCore"],
            path: "tools/sotto-vectors"
        ),
        // Fuzz harnesses (library) and their driver: a corpus replayer normally, a libFuzzer
        // binary when built by `make fuzz` (-sanitize=fuzzer -DFUZZING).
        .target(
            name: "SottoFuzzing",
            dependencies: ["SottoCore", "SottoTransport", "SottoServer", "SottoClient", .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift5
        ),
        .executableTarget(
            name: "sotto-bench",
            dependencies: [
                "SottoClient", "SottoCore", "SottoWindow", "CSDL2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/bench",
            swiftSettings: swift5
        ),
        .executableTarget(name: "sotto-fuzz", dependencies: ["SottoFuzzing"], path: "tools/fuzz", swiftSettings: swift5),
        // SDL2 + SDL2_ttf, found through pkg-config (tools/setup installs them).
        .systemLibrary(
            name: "CSDL2",
            pkgConfig: "SDL2_ttf",
            providers: [.apt(["libsdl2-dev", "libsdl2-ttf-dev"])]
        ),

        // Our immediate-mode toolkit: widgets, layout, text editing, draw lists. No SDL: it
        // builds and is tested with injected metrics and input alone.
        .target(name: "SottoUI"),
        // SDL2 under the toolkit: fonts and text textures, the draw-list renderer, input translation.
        .target(name: "SottoSDL", dependencies: ["SottoUI", "SottoCore", "CSDL2"]),
        // The windowed client's screens, on SottoUI and SottoClient.
        .target(name: "SottoWindow", dependencies: ["SottoUI", "SottoSDL", "SottoClient", "CSDL2"], swiftSettings: swift5),
        .executableTarget(
            name: "sotto",
            dependencies: ["SottoWindow", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swift5
        ),

        .testTarget(name: "SottoCoreTests", dependencies: ["SottoCore"]),
        .testTarget(name: "SottoUITests", dependencies: ["SottoUI"]),
        .testTarget(name: "SottoWindowTests", dependencies: ["SottoWindow", "SottoSDL", "SottoServer"], swiftSettings: swift5),
        .testTarget(
            name: "SottoTransportTests",
            dependencies: [
                "SottoTransport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swift5
        ),
        .testTarget(
            name: "SottoServerTests",
            dependencies: [
                "SottoServer", "SottoFuzzing", "SottoClient", "SottoStorage",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swift5
        ),
        .testTarget(name: "SottoClientTests", dependencies: ["SottoClient", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: swift5),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["SottoServer", "SottoClient", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swift5
        ),
    ]
)
