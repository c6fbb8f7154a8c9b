public enum Key: Hashable, Sendable {
    case tab, enter, escape, backspace, delete, left, right, up, down, home, end, pageUp, pageDown
    case a, c, f, v, x
}

public struct Modifiers: OptionSet, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let shift = Modifiers(rawValue: 1)
    public static let control = Modifiers(rawValue: 2)
}

/// What happened since the last frame, accumulated from platform events.
public struct InputState: Sendable {
    public var mouseX = -1, mouseY = -1
    public var mouseDown = false
    public var mousePressed = false
    public var mouseReleased = false
    public var clickCount = 0
    public var wheel = 0
    public var keys: [(Key, Modifiers)] = []
    /// The modifier keys held now (kept across frames, as the mouse button is): a
    /// Shift-click works however long ago Shift went down.
    public var modifiers: Modifiers = []
    public var text = ""
    /// IME composition in progress (shown, not yet committed).
    public var composition = ""
    /// Whether the window has the keyboard (kept across frames): one in the background, or
    /// minimised, is not being looked at.
    public var windowFocused = true

    public init() {}

    public func pressed(_ key: Key, _ mods: Modifiers = []) -> Bool {
        keys.contains { $0.0 == key && $0.1 == mods }
    }

    /// Clears the per-frame parts, keeps what persists (mouse position and button state).
    public mutating func nextFrame() {
        mousePressed = false
        mouseReleased = false
        wheel = 0
        keys = []
        text = ""
    }
}
