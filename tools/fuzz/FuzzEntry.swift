#if FUZZING
import Foundation
import SottoFuzzing

/// libFuzzer's entry point; the harness is chosen by SOTTO_FUZZ_TARGET.
let selectedHarness: Harness = {
    let name = ProcessInfo.processInfo.environment["SOTTO_FUZZ_TARGET"] ?? ""
    guard let h = Harness(rawValue: name) else {
        FileHandle.standardError.write(Data("set SOTTO_FUZZ_TARGET to one of \(Harness.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return h
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selectedHarness.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#endif
