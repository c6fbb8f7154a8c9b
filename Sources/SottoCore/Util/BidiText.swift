import CSpoof

/// A line of text as it is drawn left to right (a newcomer's run: Arabic came out reversed,
/// its letters unjoined). What no right-to-left letter is in comes back as it is, at no cost.
public enum BidiText {
    public static func visual(_ line: String) -> String {
        guard line.unicodeScalars.contains(where: isRightToLeft) else { return line }
        let utf16 = Array(line.utf16)
        var capacity = utf16.count * 2 + 16
        for _ in 0..<2 {
            var out = [UInt16](repeating: 0, count: capacity)
            let n = utf16.withUnsafeBufferPointer { source in
                out.withUnsafeMutableBufferPointer { sotto_bidi_visual(source.baseAddress, Int32(source.count), $0.baseAddress, Int32(capacity)) }
            }
            guard n >= 0 else { return line }
            if Int(n) <= capacity { return String(decoding: out.prefix(Int(n)), as: UTF16.self) }
            capacity = Int(n)
        }
        return line
    }

    /// Hebrew, Arabic, Syriac, Thaana, N'Ko and the like, with their presentation forms.
    static func isRightToLeft(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0590...0x08FF, 0xFB1D...0xFDFF, 0xFE70...0xFEFF, 0x10800...0x10FFF, 0x1E800...0x1EFFF: return true
        default: return false
        }
    }
}
