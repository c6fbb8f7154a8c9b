import Foundation
import SottoCore

/// A session that outlives the prekey rotation period (a window left open for weeks) rotates
/// its prekey as a login would, and publishes the new one: otherwise, once the login's
/// prekey is older than `PrekeyPolicy.maxAge`, members stop sharing new chains with it, and
/// replaced private halves would outlive their grace.
extension ClientCore {
    /// After a failed or fruitless rotation, the next look.
    static let prekeyRetry: TimeInterval = 3_600

    func rotatePrekeysIfDue(_ session: Session, on connection: Int, now: Date) {
        guard !session.rotatingPrekeys, !session.leaving, let created = session.prekeyCreated, now >= session.prekeyCheck,
              now.timeIntervalSince(created) >= configuration.prekeyPolicy.rotation else { return }
        session.rotatingPrekeys = true
        emit(.rotatePrekeys(connection: connection, server: session.hello.serverFingerprint))
    }

    /// The store rotated (and kept) this device's prekeys: the session opens shares with
    /// these from now on, and the newest is published if it is newer than the one listed.
    func prekeysRotated(_ prekeys: [PrekeyPair], session: Session, on connection: Int, now: Date) {
        session.rotatingPrekeys = false
        session.endToEnd.replacePrekeys(prekeys)
        guard let newest = prekeys.max(by: { $0.signed.createdMillis < $1.signed.createdMillis }),
              session.prekeyCreated.map({ newest.signed.created > $0 }) ?? true else {
            // Not rotated (a clock set back?): looked at again later, not every second.
            session.prekeyCheck = now.addingTimeInterval(Self.prekeyRetry)
            return
        }
        session.prekeyCreated = newest.signed.created
        emit(.write(connection: connection, ClientRecord.prekey(newest.signed.encoded()).encoded()))
        emit(.flush(connection: connection))
    }
}
