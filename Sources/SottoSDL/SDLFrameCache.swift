import CSDL2

/// The last frame drawn, kept in a texture: when only the caret blinks, the frame is
/// presented from here with the caret over it, and nothing is laid out or drawn again.
/// Renderers without render targets get nil from `begin` and draw every frame in full.
public final class SDLFrameCache {
    let renderer: OpaquePointer
    private var texture: OpaquePointer?
    private var width: Int32 = 0, height: Int32 = 0
    /// Whether the texture holds a whole frame (lost with a resize or a device reset).
    public private(set) var isValid = false

    public init(renderer: OpaquePointer) { self.renderer = renderer }

    /// Frees the texture; call before the renderer is destroyed (its textures go with it).
    public func release() {
        if let texture { SDL_DestroyTexture(texture) }
        texture = nil
        isValid = false
    }

    /// Draws from here into the cache; false if the renderer cannot, then the caller draws
    /// to the window directly.
    public func begin() -> Bool {
        isValid = false
        guard SDL_RenderTargetSupported(renderer) == SDL_TRUE else { return false }
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetRendererOutputSize(renderer, &w, &h)
        guard w > 0, h > 0 else { return false }
        if texture == nil || w != width || h != height {
            if let texture { SDL_DestroyTexture(texture) }
            texture = SDL_CreateTexture(renderer, SDL_PIXELFORMAT_ARGB8888.rawValue, Int32(SDL_TEXTUREACCESS_TARGET.rawValue), w, h)
            // A whole opaque frame is copied, not blended (an alpha format defaults to BLEND,
            // which costs the software renderer a division per channel per pixel).
            if let texture { SDL_SetTextureBlendMode(texture, SDL_BLENDMODE_NONE) }
            (width, height) = (w, h)
        }
        guard let texture, SDL_SetRenderTarget(renderer, texture) == 0 else { return false }
        return true
    }

    /// Back to the window, with the frame just drawn copied onto it.
    public func end() {
        SDL_SetRenderTarget(renderer, nil)
        isValid = copyToWindow()
    }

    /// Puts the cached frame on the window (to be presented after the caret is drawn).
    @discardableResult
    public func copyToWindow() -> Bool {
        guard let texture else { return false }
        var w: Int32 = 0, h: Int32 = 0
        SDL_GetRendererOutputSize(renderer, &w, &h)
        guard w == width, h == height else { isValid = false; return false }
        return SDL_RenderCopy(renderer, texture, nil, nil) == 0
    }

    /// The renderer lost its textures' contents (SDL_RENDER_TARGETS_RESET and the like).
    public func invalidate() { isValid = false }
}
