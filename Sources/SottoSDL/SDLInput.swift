import CSDL2
import SottoUI

/// Translates SDL events into the toolkit's input state. Returns true if the event
/// changes what the UI shows (so the loop knows to draw a frame).
public enum SDLInput {
    public static func apply(_ event: SDL_Event, to input: inout InputState, pixelScale: Double) -> Bool {
        let type = event.type
        switch type {
        case SDL_MOUSEMOTION.rawValue:
            input.mouseX = Int(Double(event.motion.x))
            input.mouseY = Int(Double(event.motion.y))
            return true
        case SDL_MOUSEBUTTONDOWN.rawValue where event.button.button == UInt8(SDL_BUTTON_LEFT):
            input.mouseX = Int(event.button.x)
            input.mouseY = Int(event.button.y)
            input.mouseDown = true
            input.mousePressed = true
            input.clickCount = Int(event.button.clicks)
            return true
        case SDL_MOUSEBUTTONUP.rawValue where event.button.button == UInt8(SDL_BUTTON_LEFT):
            input.mouseX = Int(event.button.x)
            input.mouseY = Int(event.button.y)
            input.mouseDown = false
            input.mouseReleased = true
            return true
        case SDL_MOUSEWHEEL.rawValue:
            input.wheel += Int(event.wheel.y)
            return true
        case SDL_TEXTINPUT.rawValue:
            var raw = event.text.text
            let text = withUnsafeBytes(of: &raw) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            input.text += text
            input.composition = ""
            return true
        case SDL_TEXTEDITING.rawValue:
            var raw = event.edit.text
            input.composition = withUnsafeBytes(of: &raw) { buffer in
                String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            }
            return true
        case SDL_KEYUP.rawValue:
            // A modifier let go (the event carries the state including it; it is gone now).
            var mods = modifiers(event.key.keysym.mod)
            switch Int(event.key.keysym.sym) {
            case Int(SDLK_LSHIFT.rawValue), Int(SDLK_RSHIFT.rawValue): mods.remove(.shift)
            case Int(SDLK_LCTRL.rawValue), Int(SDLK_RCTRL.rawValue), Int(SDLK_LGUI.rawValue), Int(SDLK_RGUI.rawValue): mods.remove(.control)
            default: break
            }
            input.modifiers = mods
            return false
        case SDL_KEYDOWN.rawValue:
            let mods = modifiers(event.key.keysym.mod)
            // Held modifiers live in the input state, Shift alone too.
            input.modifiers = mods
            switch Int(event.key.keysym.sym) {
            case Int(SDLK_LSHIFT.rawValue): input.modifiers.insert(.shift)
            case Int(SDLK_RSHIFT.rawValue): input.modifiers.insert(.shift)
            case Int(SDLK_LCTRL.rawValue), Int(SDLK_RCTRL.rawValue): input.modifiers.insert(.control)
            default: break
            }
            let key = Self.key(event.key.keysym.sym)
            if let key { input.keys.append((key, mods)) }
            return key != nil
        case SDL_WINDOWEVENT.rawValue:
            switch UInt32(event.window.event) {
            case SDL_WINDOWEVENT_FOCUS_GAINED.rawValue: input.windowFocused = true
            case SDL_WINDOWEVENT_FOCUS_LOST.rawValue: input.windowFocused = false
            default: break
            }
            return true
        default:
            return false
        }
    }

    /// The toolkit's key for an SDL key symbol, if it has one.
    static func key(_ sym: SDL_Keycode) -> Key? {
        switch Int(sym) {
        case Int(SDLK_TAB.rawValue): return .tab
        case Int(SDLK_RETURN.rawValue), Int(SDLK_KP_ENTER.rawValue): return .enter
        case Int(SDLK_ESCAPE.rawValue): return .escape
        case Int(SDLK_BACKSPACE.rawValue): return .backspace
        case Int(SDLK_DELETE.rawValue): return .delete
        case Int(SDLK_LEFT.rawValue): return .left
        case Int(SDLK_RIGHT.rawValue): return .right
        case Int(SDLK_UP.rawValue): return .up
        case Int(SDLK_DOWN.rawValue): return .down
        case Int(SDLK_HOME.rawValue): return .home
        case Int(SDLK_END.rawValue): return .end
        case Int(SDLK_PAGEUP.rawValue): return .pageUp
        case Int(SDLK_PAGEDOWN.rawValue): return .pageDown
        case Int(SDLK_a.rawValue): return .a
        case Int(SDLK_c.rawValue): return .c
        case Int(SDLK_f.rawValue): return .f
        case Int(SDLK_v.rawValue): return .v
        case Int(SDLK_x.rawValue): return .x
        default: return nil
        }
    }

    /// Enter (or the keypad's), with or without modifiers.
    public static func isEnter(_ event: SDL_Event) -> Bool {
        event.type == SDL_KEYDOWN.rawValue && key(event.key.keysym.sym) == .enter
    }

    /// A key press that acts on what was typed before it: Enter sends it, Backspace and the
    /// arrows edit it, Tab and Escape leave it (a letter without Control is only text). A
    /// frame applies its keys before its text, so after text in one batch of events such a
    /// key belongs to the next frame: "hello", Enter, "wor" in one batch sent "hellowor".
    public static func actsOnTypedText(_ event: SDL_Event) -> Bool {
        guard event.type == SDL_KEYDOWN.rawValue, let key = key(event.key.keysym.sym) else { return false }
        switch key {
        case .a, .c, .f, .v, .x: return modifiers(event.key.keysym.mod).contains(.control)
        default: return true
        }
    }

    private static func modifiers(_ raw: UInt16) -> Modifiers {
        let mod = UInt32(raw)
        var mods: Modifiers = []
        if mod & UInt32(KMOD_SHIFT.rawValue) != 0 { mods.insert(.shift) }
        if mod & UInt32(KMOD_CTRL.rawValue) != 0 || mod & UInt32(KMOD_GUI.rawValue) != 0 { mods.insert(.control) }
        return mods
    }
}
