/// Layout works in points; the renderer multiplies by the window's pixel density.
public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, w: Int, h: Int

    public init(x: Int, y: Int, w: Int, h: Int) {
        self.x = x; self.y = y; self.w = max(0, w); self.h = max(0, h)
    }

    public static let zero = Rect(x: 0, y: 0, w: 0, h: 0)
    public var maxX: Int { x + w }
    public var maxY: Int { y + h }

    public func contains(_ px: Int, _ py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }

    public func inset(_ d: Int) -> Rect { Rect(x: x + d, y: y + d, w: w - 2 * d, h: h - 2 * d) }
    public func inset(x dx: Int, y dy: Int) -> Rect { Rect(x: x + dx, y: y + dy, w: w - 2 * dx, h: h - 2 * dy) }

    public func intersection(_ o: Rect) -> Rect {
        let x0 = max(x, o.x), y0 = max(y, o.y)
        return Rect(x: x0, y: y0, w: min(maxX, o.maxX) - x0, h: min(maxY, o.maxY) - y0)
    }

    /// Rect-cut layout: take a slice off one side, keep the rest.
    public mutating func cutTop(_ n: Int) -> Rect {
        let n = min(n, h); defer { y += n; h -= n }
        return Rect(x: x, y: y, w: w, h: n)
    }
    public mutating func cutBottom(_ n: Int) -> Rect {
        let n = min(n, h); defer { h -= n }
        return Rect(x: x, y: y + h - n, w: w, h: n)
    }
    public mutating func cutLeft(_ n: Int) -> Rect {
        let n = min(n, w); defer { x += n; w -= n }
        return Rect(x: x, y: y, w: n, h: h)
    }
    public mutating func cutRight(_ n: Int) -> Rect {
        let n = min(n, w); defer { w -= n }
        return Rect(x: x + w - n, y: y, w: n, h: h)
    }

    public func centered(w cw: Int, h ch: Int) -> Rect {
        Rect(x: x + (w - cw) / 2, y: y + (h - ch) / 2, w: min(cw, w), h: min(ch, h))
    }
}

public struct Color: Equatable, Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8, a: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8 = 255) {
        self.r = r; self.g = g; self.b = b; self.a = a
    }
}

/// The palette every widget draws with.
public struct Theme: Sendable {
    public var background = Color(24, 26, 33)
    public var panel = Color(32, 35, 44)
    public var panelAlt = Color(38, 42, 53)
    public var border = Color(58, 63, 78)
    public var text = Color(225, 228, 235)
    public var mutedText = Color(140, 147, 163)
    public var accent = Color(86, 156, 255)
    public var accentText = Color(255, 255, 255)
    public var fieldBackground = Color(20, 22, 28)
    public var focus = Color(86, 156, 255)
    /// Around a focused button, outside it: light, to stand out beside any fill (a ring in the
    /// focus blue beside the primary button read as a slightly larger button).
    public var focusRing = Color(225, 228, 235)
    public var selection = Color(60, 95, 160)
    /// Behind a marked log entry (where a search went): the log's background, warmed.
    public var marked = Color(58, 52, 36)
    /// Behind a log entry that calls you by name (a bar in `accent` at its left): the log's
    /// background, cooled, apart from `marked`.
    public var mention = Color(33, 43, 64)
    /// Behind the words a search matched.
    public var match = Color(110, 86, 18)
    /// Under a link.
    public var link = Color(86, 156, 255)
    public var hover = Color(48, 53, 66)
    public var danger = Color(235, 87, 87)
    public var warning = Color(242, 183, 5)
    public var success = Color(80, 200, 120)
    public var overlay = Color(0, 0, 0, 150)
    public var padding = 8
    public var rowHeight = 30
    public init() {}
}
