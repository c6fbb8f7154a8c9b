#if FUZZING
import Foundation
import SottoFuzzing

/// libFuzzer's per-input callback; the harness is chosen by SOTTO_FUZZ_TARGET.
let selectedHarness: Harness = {
    let name = ProcessInfo.processInfo.environment["SOTTO_FUZZ_TARGET"] ?? ""
    guard let h = Harness(rawValue: name) else {
        FileHandle.standardError.write(Data("set SOTTO_FUZZ_TARGET to one of \(Harness.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return h
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { selectedHarness.run([]); return 0 }
    selectedHarness.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// SwiftPM gives every executable its own entry point, so libFuzzer's `main` is not used:
/// this one hands the command line to libFuzzer's driver.
@main
struct FuzzMain {
    static func main() {
        _ = selectedHarness
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#endif
