import CSDL2
import Foundation
import SottoCore
import SottoUI

/// Fonts for each style with a fallback chain (SDL_ttf 2.20 has none of its own): text is
/// split into runs by the first font that has each character, so accented Latin, CJK and
/// emoji show instead of empty boxes. Measures in points; renders at the pixel density.
public final class SDLFonts: TextMeasuring {
    struct Face {
        let font: OpaquePointer
        /// Bitmap fonts (colour emoji) come in one size; their glyphs are scaled to fit.
        let scale: Double
        /// The colour emoji font: emoji go to it first, whatever the text font has.
        var isColorEmoji = false
    }

    public let pixelScale: Double
    private var faces: [FontStyle: [Face]] = [:]
    private var widthCache: [String: Int] = [:]
    private let pointSizes: [FontStyle: Int] = [.regular: 15, .bold: 15, .small: 12, .mono: 14]

    /// Where the shipped fonts are; falls back to the system's DejaVu.
    public static func assetsDirectory() -> URL? {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["SOTTO_ASSETS"] { candidates.append(URL(fileURLWithPath: env)) }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        candidates += [exe.appendingPathComponent("Assets"), exe.appendingPathComponent("../../../Assets").standardized,
                       exe.appendingPathComponent("../../Assets").standardized,
                       URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Assets").standardized]
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("fonts/DejaVuSans.ttf").path) }
    }

    static let fallbackFiles = [
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    ]

    public init(pixelScale: Double) throws {
        self.pixelScale = pixelScale
        if TTF_WasInit() == 0 { TTF_Init() }
        let assets = Self.assetsDirectory()
        for style in [FontStyle.regular, .bold, .small, .mono] {
            let px = Int32((Double(pointSizes[style]!) * pixelScale).rounded())
            var chain: [Face] = []
            let primaryName = style == .bold ? "DejaVuSans-Bold.ttf" : style == .mono ? "DejaVuSansMono.ttf" : "DejaVuSans.ttf"
            let primaryPaths = [assets?.appendingPathComponent("fonts/\(primaryName)").path, "/usr/share/fonts/truetype/dejavu/\(primaryName)"].compactMap { $0 }
            for path in primaryPaths where chain.isEmpty {
                if let f = TTF_OpenFont(path, px) { chain.append(Face(font: f, scale: 1)) }
            }
            guard !chain.isEmpty else { throw SDLError("no usable font found (looked in \(primaryPaths))") }
            for path in Self.fallbackFiles where FileManager.default.fileExists(atPath: path) {
                guard let f = TTF_OpenFont(path, px) else { continue }
                // A bitmap face ignores the size: measure it and scale its glyphs to our height.
                let natural = Double(TTF_FontHeight(f)), wanted = Double(TTF_FontHeight(chain[0].font))
                chain.append(Face(font: f, scale: natural > wanted * 1.5 ? wanted / natural : 1, isColorEmoji: path.contains("ColorEmoji")))
            }
            faces[style] = chain
        }
    }

    deinit {
        for chain in faces.values { for face in chain { TTF_CloseFont(face.font) } }
    }

    /// Splits text into runs, each drawn with one face of the chain.
    func runs(_ text: String, style: FontStyle) -> [(text: String, face: Face)] {
        let chain = faces[style]!
        let emoji = chain.firstIndex(where: \.isColorEmoji)
        let scalars = Array(text.unicodeScalars)
        var out: [(String, Int)] = []
        for (i, scalar) in scalars.enumerated() {
            var index = 0
            if scalar.value > 0x7f {
                // An emoji (drawn as one by default, or asked to be by VS16) goes to the colour
                // font first: DejaVu has monochrome outlines of some (😀) and not of others.
                let wantsEmoji = scalar.properties.isEmojiPresentation || (i + 1 < scalars.count && scalars[i + 1].value == 0xFE0F)
                if wantsEmoji, let emoji, TTF_GlyphIsProvided32(chain[emoji].font, scalar.value) != 0 {
                    index = emoji
                } else {
                    index = chain.firstIndex { TTF_GlyphIsProvided32($0.font, scalar.value) != 0 } ?? 0
                }
                // Variation selectors, joiners and skin tones stay with the run they belong to.
                if scalar.properties.isVariationSelector || scalar.value == 0x200D || scalar.properties.isEmojiModifier,
                   let last = out.last { index = last.1 }
            }
            if let last = out.last, last.1 == index {
                out[out.count - 1].0.unicodeScalars.append(scalar)
            } else {
                out.append((String(scalar), index))
            }
        }
        return out.map { ($0.0, chain[$0.1]) }
    }

    func pixelWidth(_ run: String, face: Face) -> Double {
        var w: Int32 = 0, h: Int32 = 0
        TTF_SizeUTF8(face.font, run, &w, &h)
        return Double(w) * face.scale
    }

    public func width(_ text: String, style: FontStyle) -> Int {
        let key = "\(style)\u{0}\(text)"
        if let w = widthCache[key] { return w }
        let px = runs(text, style: style).reduce(0.0) { $0 + pixelWidth($1.text, face: $1.face) }
        let w = Int((px / pixelScale).rounded(.up))
        if widthCache.count > 20_000 { widthCache.removeAll(keepingCapacity: true) }
        widthCache[key] = w
        return w
    }

    public func lineHeight(_ style: FontStyle) -> Int {
        Int((Double(TTF_FontHeight(faces[style]![0].font)) / pixelScale).rounded(.up))
    }
}

public struct SDLError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
    public static func last(_ what: String) -> SDLError { SDLError("\(what): \(String(cString: SDL_GetError()))") }
}

/// Textures of rendered text runs, keyed by text, style, colour and face, least recently
/// used evicted: a frame renders only what is new on screen.
final class TextTextureCache {
    struct Key: Hashable {
        let text: String
        let style: FontStyle
        let color: Color
        let face: Int
    }
    struct Entry {
        let texture: OpaquePointer
        let w: Int32, h: Int32
        var lastUsed: UInt64
    }

    private var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0
    let capacity: Int
    /// Pixels' bytes held: a stream of long lines filled 1,500 textures with ~45 MB; a few
    /// screens' worth is what a frame can reuse (the renderer raises it for a large window).
    var maxBytes: Int
    private(set) var bytes = 0
    private(set) var misses = 0

    init(capacity: Int = 1_500, maxBytes: Int = 12 << 20) {
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    private static func size(_ e: Entry) -> Int { Int(e.w) * Int(e.h) * 4 }

    func texture(_ key: Key, renderer: OpaquePointer, make: () -> UnsafeMutablePointer<SDL_Surface>?) -> Entry? {
        clock += 1
        if var hit = entries[key] {
            hit.lastUsed = clock
            entries[key] = hit
            return hit
        }
        misses += 1
        guard let surface = make() else { return nil }
        defer { SDL_FreeSurface(surface) }
        guard let texture = SDL_CreateTextureFromSurface(renderer, surface) else { return nil }
        let entry = Entry(texture: texture, w: surface.pointee.w, h: surface.pointee.h, lastUsed: clock)
        entries[key] = entry
        bytes += Self.size(entry)
        if entries.count > capacity || bytes > maxBytes { evict(keeping: key) }
        return entry
    }

    /// Least recently used first, down to three quarters of both bounds (amortized: one
    /// sort per quarter of the cache).
    /// `keeping`: the entry just made, about to be drawn (one larger than the whole budget,
    /// a pasted line of thousands of characters, would otherwise be destroyed before its use).
    private func evict(keeping newest: Key) {
        for (key, entry) in entries.sorted(by: { $0.value.lastUsed < $1.value.lastUsed }) where key != newest {
            guard entries.count > capacity * 3 / 4 || bytes > maxBytes * 3 / 4 else { break }
            SDL_DestroyTexture(entry.texture)
            bytes -= Self.size(entry)
            entries[key] = nil
        }
    }

    func removeAll() {
        for entry in entries.values { SDL_DestroyTexture(entry.texture) }
        entries = [:]
        bytes = 0
    }

    deinit { removeAll() }
}

/// Replays draw commands on an SDL renderer, in pixels (points × density).
public final class SDLCommandRenderer {
    public let renderer: OpaquePointer
    public let fonts: SDLFonts
    private let cache = TextTextureCache()

    /// The least the text textures may hold; the renderer raises it to three screens' worth.
    public var textureBudget = 12 << 20

    public init(renderer: OpaquePointer, fonts: SDLFonts) {
        self.renderer = renderer
        self.fonts = fonts
        SDL_SetRenderDrawBlendMode(renderer, SDL_BLENDMODE_BLEND)
    }

    public var textureMisses: Int { cache.misses }
    /// Bytes of pixels the text textures hold (bounded).
    public var textureBytes: Int { cache.bytes }
    public var textureBytesBound: Int { cache.maxBytes }

    /// Frees the text textures; call before the renderer is destroyed (its textures go
    /// with it, and destroying one afterwards would touch freed memory).
    public func release() { cache.removeAll() }

    private func px(_ v: Int) -> Int32 { Int32((Double(v) * fonts.pixelScale).rounded()) }
    private func px(_ r: Rect) -> SDL_Rect { SDL_Rect(x: px(r.x), y: px(r.y), w: px(r.w), h: px(r.h)) }

    /// Opaque colours are drawn without blending: SDL's software renderer blends every pixel
    /// of a fill in BLEND mode (a division per channel) even at full alpha, and that was most
    /// of a frame's cost.
    private var blending = true

    private func setColor(_ c: Color) {
        let blend = c.a != 255
        if blend != blending {
            SDL_SetRenderDrawBlendMode(renderer, blend ? SDL_BLENDMODE_BLEND : SDL_BLENDMODE_NONE)
            blending = blend
        }
        SDL_SetRenderDrawColor(renderer, c.r, c.g, c.b, c.a)
    }

    public func render(_ commands: [DrawCommand]) {
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetRendererOutputSize(renderer, &w, &h)
        cache.maxBytes = max(textureBudget, 3 * Int(w) * Int(h) * 4)
        for command in commands {
            switch command {
            case .rect(let r, let c):
                setColor(c)
                var rect = px(r)
                SDL_RenderFillRect(renderer, &rect)
            case .border(let r, let c):
                setColor(c)
                var rect = px(r)
                SDL_RenderDrawRect(renderer, &rect)
            case .clip(let r):
                if let r {
                    var rect = px(r)
                    SDL_RenderSetClipRect(renderer, &rect)
                } else {
                    SDL_RenderSetClipRect(renderer, nil)
                }
            case .text(let s, let x, let y, let c, let style):
                drawText(s, x: x, y: y, color: c, style: style)
            }
        }
        SDL_RenderSetClipRect(renderer, nil)
    }

    private func drawText(_ logical: String, x: Int, y: Int, color: Color, style: FontStyle) {
        // Right-to-left runs drawn as they are read (each line was wrapped in logical order).
        let s = BidiText.visual(logical)
        var penX = Double(px(x))
        let baseY = px(y)
        let lineHeight = Double(fonts.lineHeight(style)) * fonts.pixelScale
        for (index, run) in fonts.runs(s, style: style).enumerated() {
            _ = index
            let faceID = Int(bitPattern: UInt(bitPattern: run.face.font.hashValue))
            let key = TextTextureCache.Key(text: run.text, style: style, color: color, face: faceID)
            guard let entry = cache.texture(key, renderer: renderer, make: {
                TTF_RenderUTF8_Blended(run.face.font, run.text, SDL_Color(r: color.r, g: color.g, b: color.b, a: color.a))
            }) else { continue }
            let w = Double(entry.w) * run.face.scale, h = Double(entry.h) * run.face.scale
            var dst = SDL_Rect(x: Int32(penX), y: baseY + Int32(max(0, (lineHeight - h) / 2)), w: Int32(w), h: Int32(h))
            SDL_RenderCopy(renderer, entry.texture, nil, &dst)
            penX += w
        }
    }
}
