#if !FUZZING
import Foundation
import SottoFuzzing

/// Without the fuzzer: `sotto-fuzz TARGET FILE...` replays inputs (crash regressions).
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let harness = Harness(rawValue: name) else {
            print("usage: sotto-fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) FILE...")
            exit(2)
        }
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); exit(1) }
            harness.run(Array(data))
            print("ok \(path)")
        }
    }
}
#endif
