import Foundation
import SottoCore

// sotto-vectors FILE...: replays Noise test-vector files (cacophony/snow JSON format).
// Prints PASS/FAIL/SKIP per vector; exits non-zero if any vector fails or none ran.

let files = CommandLine.arguments.dropFirst()
if files.isEmpty || files.contains("--help") || files.contains("-h") {
    print("usage: sotto-vectors FILE...\nReplays Noise test vectors (JSON: {\"vectors\": [...]}) and prints PASS, FAIL or SKIP for each.")
    exit(files.isEmpty ? 2 : 0)
}

var passed = 0, failed = 0, skipped = 0
for path in files {
    let vectors: [NoiseVector]
    do {
        vectors = try NoiseVector.load(from: try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        print("FAIL \(path): cannot read vectors (\(error.localizedDescription))")
        failed += 1
        continue
    }
    for (index, vector) in vectors.enumerated() {
        let label = "\(path)#\(index) \(vector.protocol_name)"
        switch vector.run() {
        case .pass: print("PASS \(label)"); passed += 1
        case .skip(let why): print("SKIP \(label) (\(why))"); skipped += 1
        case .fail(let why): print("FAIL \(label): \(why)"); failed += 1
        }
    }
}
print("\(passed) passed, \(failed) failed, \(skipped) skipped")
exit(failed > 0 || passed == 0 ? 1 : 0)
