import Foundation

/// When a member who is away was last online, as the list says it: the clock today, "yesterday"
/// and the clock, the day this year, the day and the year before. The time is the server's
/// word: one ahead of this device's clock is said to be so, not shown as a plausible time (an
/// attacker's review: a time 31 years ahead read "since 02:02:13").
public enum LastSeen {
    /// "since 14:05", "since yesterday 09:12", "since 2 Dec", "since 2 Dec 2025" (or that the
    /// time is ahead of this device's clock).
    public static func since(_ date: Date, now: Date = Date(), calendar: Calendar = .current) -> String {
        if date.timeIntervalSince(now) > aheadTolerance { return "last seen at a time ahead of this device's clock" }
        if calendar.isDate(date, inSameDayAs: now) { return "since " + clock.string(from: date) }
        if let yesterday = calendar.date(byAdding: .day, value: -1, to: now), calendar.isDate(date, inSameDayAs: yesterday) {
            return "since yesterday " + clock.string(from: date)
        }
        let sameYear = calendar.component(.year, from: date) == calendar.component(.year, from: now)
        return "since " + (sameYear ? day : dayAndYear).string(from: date)
    }

    /// Clocks differ a little between machines: a few minutes ahead is not called wrong.
    static let aheadTolerance: TimeInterval = 300

    // Made once: the window's list says it every frame.
    private static let clock = formatter("HH:mm")
    private static let day = formatter("d MMM")
    private static let dayAndYear = formatter("d MMM yyyy")
    private static func formatter(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.dateFormat = format
        return formatter
    }
}
