import ArgumentParser
import Foundation
import SottoClient
import SottoCore

/// The local history's costs: storing (as the recorder does, in batches), the size per
/// message, opening a long conversation (its last page, then older pages as a person scrolls)
/// and full-text search over all of it.
struct HistoryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Local history: store, open and page a long conversation, search a million messages.")
    @Option(help: "Messages stored before the queries (one room, plus one direct conversation in 20).") var messages = 1_000_000
    @Option(help: "Messages per transaction while filling (the recorder groups what arrives meanwhile).") var batch = 500
    @Option(help: "Repetitions of each query.") var repeats = 50
    @Option(help: "Keep the database here instead of a temporary directory (reused if it holds enough).") var path: String?
    @Option(help: "Write every figure to this JSON file.") var json: String?

    func run() throws {
        let directory = path.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("sotto-history-bench-\(getpid())")
        defer { if path == nil { try? FileManager.default.removeItem(at: directory) } }
        let url = directory.appendingPathComponent("bench.sqlite")
        var store = try HistoryStore(url: url)

        // Fill: a varied vocabulary so that words are common, rare, or unique.
        let common = "the a to and of we is it for on this that build deploy meeting lunch review".split(separator: " ")
        let start = nowNanos()
        var stored = try store.count()
        while stored < messages {
            let n = min(batch, messages - stored)
            let page = (stored..<(stored + n)).map { i -> ReceivedMessage in
                let words = (0..<(4 + i % 12)).map { k in k % 3 == 0 ? "w\((i * 31 + k) % 50_000)" : String(common[(i + k) % common.count]) }
                let direct = i % 20 == 0
                return ReceivedMessage(sequence: UInt64(i + 1), time: Date(timeIntervalSince1970: 1_790_000_000 + Double(i)), from: direct ? "bob" : "alice",
                                       to: direct ? "me" : "", text: "\(words.joined(separator: " ")) m\(i)", isOwn: false,
                                       clientMessageID: UInt64(i + 1), trust: .unverified)
            }
            try store.append(page)
            stored += n
        }
        let fillSeconds = Double(nowNanos() - start) / 1e9
        let size = ["", "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: url.path + $0)[.size] as? Int }.reduce(0, +)

        func time(_ body: () throws -> Void) rethrows -> Percentiles {
            var samples: [Double] = []
            for _ in 0..<repeats {
                let t = nowNanos()
                try body()
                samples.append(Double(nowNanos() - t) / 1e6)
            }
            return Percentiles(samples)
        }
        // Opening: a fresh connection (as at login) and the conversation's last page.
        let open = try time {
            store = try HistoryStore(url: url)
            _ = try store.recent(in: .room, limit: 200)
        }
        var oldest = try store.recent(in: .room, limit: 200).first!.id
        let page = try time {
            let older = try store.recent(in: .room, limit: 100, before: oldest)
            oldest = older.first?.id ?? oldest
        }
        let rare = try time { _ = try store.search("m\(messages / 2)", limit: 100) }
        let word = try time { _ = try store.search("w12345", limit: 100) }
        let frequent = try time { _ = try store.search("deploy", limit: 100) }
        let prefix = try time { _ = try store.search("w1234", limit: 100) }
        let two = try time { _ = try store.search("lunch review", limit: 100) }

        print("history: \(stored) messages, \(String(format: "%.1f", Double(size) / 1_048_576)) MiB (\(size / max(stored, 1)) B per message with the index); filled at \(Int(Double(messages) / max(fillSeconds, 1e-9)))/s in batches of \(batch)")
        print("  open + last 200 of the room: \(open.text)")
        print("  an older page of 100 (scrolling up): \(page.text)")
        print("  search, a unique word: \(rare.text)")
        print("  search, a word in ~\(messages / 50_000 * 4 / 3) messages: \(word.text)")
        print("  search, a frequent word (in about a third of messages): \(frequent.text)")
        print("  search, a prefix: \(prefix.text)")
        print("  search, two frequent words: \(two.text)")
        if let json {
            let figures: [String: Any] = [
                "mode": "history", "messages": stored, "bytes": size, "fill_per_second": Double(messages) / max(fillSeconds, 1e-9),
                "open_p50_ms": open.p50, "open_max_ms": open.max, "page_p50_ms": page.p50, "page_max_ms": page.max,
                "search_unique_p50_ms": rare.p50, "search_word_p50_ms": word.p50, "search_frequent_p50_ms": frequent.p50,
                "search_frequent_max_ms": frequent.max, "search_prefix_p50_ms": prefix.p50, "search_two_p50_ms": two.p50,
                "search_two_max_ms": two.max,
            ]
            try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        let worst = [rare, word, frequent, prefix, two].map(\.max).max() ?? 0
        print(String(format: "summary: history messages=%d open_p50=%.2fms search_max=%.1fms bytes_per_message=%d", stored, open.p50, worst, size / max(stored, 1)))
    }
}
