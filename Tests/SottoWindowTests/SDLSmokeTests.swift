import CSDL2
import Foundation
@testable import SottoSDL
import Testing

/// SDL2 + SDL2_ttf from Swift, headless: the dummy video driver with the software
/// renderer draws text that can be read back pixel by pixel and saved as a screenshot.
extension SDLTests {
@Suite struct Smoke {
    static let fontURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Assets/fonts/DejaVuSans.ttf")

    @Test func rendersTextOffscreenWithTheSoftwareRenderer() throws {
        setenv("SDL_VIDEODRIVER", "dummy", 1)
        SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software")
        #expect(SDL_Init(SDL_INIT_VIDEO) == 0, "\(String(cString: SDL_GetError()))")
        defer { SDL_Quit() }
        #expect(TTF_Init() == 0)
        defer { TTF_Quit() }

        let width: Int32 = 320, height: Int32 = 80
        let window = try #require(SDL_CreateWindow("Sotto smoke", 0, 0, width, height, SDL_WINDOW_HIDDEN.rawValue))
        defer { SDL_DestroyWindow(window) }
        let renderer = try #require(SDL_CreateRenderer(window, -1, SDL_RENDERER_SOFTWARE.rawValue))
        defer { SDL_DestroyRenderer(renderer) }
        var info = SDL_RendererInfo()
        SDL_GetRendererInfo(renderer, &info)
        #expect(String(cString: info.name) == "software")

        let font = try #require(TTF_OpenFont(Self.fontURL.path, 24), "cannot open \(Self.fontURL.path)")
        defer { TTF_CloseFont(font) }
        var textWidth: Int32 = 0, textHeight: Int32 = 0
        #expect(TTF_SizeUTF8(font, "Sotto ✓ zoë", &textWidth, &textHeight) == 0)
        #expect(textWidth > 50 && textHeight > 10)

        SDL_SetRenderDrawColor(renderer, 20, 22, 30, 255)
        SDL_RenderClear(renderer)
        let surface = try #require(TTF_RenderUTF8_Blended(font, "Sotto ✓ zoë", SDL_Color(r: 240, g: 240, b: 240, a: 255)))
        let texture = try #require(SDL_CreateTextureFromSurface(renderer, surface))
        var dst = SDL_Rect(x: 10, y: 20, w: surface.pointee.w, h: surface.pointee.h)
        SDL_FreeSurface(surface)
        SDL_RenderCopy(renderer, texture, nil, &dst)
        SDL_DestroyTexture(texture)

        // Read back: the text area has light pixels, the corner keeps the background.
        var pixels = [UInt32](repeating: 0, count: Int(width * height))
        #expect(SDL_RenderReadPixels(renderer, nil, SDL_PIXELFORMAT_ARGB8888.rawValue, &pixels, width * 4) == 0)
        let light = pixels.filter { (($0 >> 16) & 0xff) > 180 }.count
        #expect(light > 100, "expected rendered glyphs, found \(light) light pixels")
        #expect((pixels[0] >> 16) & 0xff == 20)

        // Screenshot for a person to look at.
        if let dir = ProcessInfo.processInfo.environment["SOTTO_TEST_ARTIFACTS"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let shot = try #require(SDL_CreateRGBSurfaceWithFormatFrom(&pixels, width, height, 32, width * 4, SDL_PIXELFORMAT_ARGB8888.rawValue))
            defer { SDL_FreeSurface(shot) }
            #expect(SDL_SaveBMP_RW(shot, SDL_RWFromFile("\(dir)/sdl-smoke.bmp", "wb"), 1) == 0)
        }
    }
}

    /// Issue 13.8: 😀 was drawn with DejaVu's monochrome outline while 👋 and 🙂 were in
    /// colour. Emoji go to the colour font first, whatever the text font has.
    @Test func emojiAreDrawnFromTheColourFontWhateverTheTextFontHas() throws {
        #expect(TTF_Init() == 0)
        defer { TTF_Quit() }
        let fonts = try SDLFonts(pixelScale: 1)
        guard FileManager.default.fileExists(atPath: "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf") else {
            Issue.record("fonts-noto-color-emoji is not installed (tools/setup installs it)"); return
        }
        for emoji in ["😀", "👋", "🙂", "👍🏽", "❤️", "👩‍💻"] {
            let runs = fonts.runs("hi \(emoji) there", style: .regular)
            #expect(runs.map(\.text) == ["hi ", emoji, " there"], "\(emoji): \(runs.map(\.text))")
            #expect(runs.count == 3 && runs[1].face.isColorEmoji, "\(emoji) is not drawn in colour")
        }
        // Text symbols that are not emoji by default stay in the text font.
        #expect(fonts.runs("✓ done", style: .regular).allSatisfy { !$0.face.isColorEmoji })
    }
}
