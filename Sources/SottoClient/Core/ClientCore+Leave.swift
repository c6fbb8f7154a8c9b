import Foundation
import SottoCore

/// `/leave`: the person leaves the server for good (their name is freed, what waited for them
/// dropped, the room renews its chains without them).
extension ClientCore {
    /// Goes only online, and only when the person typed their own name after the command:
    /// leaving cannot be undone (the name may be taken by someone else at once).
    func leave(confirming typed: String?) {
        guard case .online(let connection, _, let session) = phase else { return emit(.notice(.leaveNeedsConnection)) }
        guard !session.leaving else { return }
        let me = configuration.username
        guard let typed, let key = try? Username(typed).key, key == (try? Username(me).key) else {
            return emit(.notice(.leaveNeedsName(me, typed: typed)))
        }
        session.leaving = true
        // What was handled is stored first: the history keeps it.
        checkpoint(session, on: connection)
        emit(.write(connection: connection, ClientRecord.leave.encoded()))
        emit(.flush(connection: connection))
        // A server that never answers does not keep the session half-alive.
        emit(.schedule(.leaveAnswer, after: Self.leaveAnswerTimeout))
    }

    static let leaveAnswerTimeout: Double = 15

    /// The server's `removed` for us, the last record of a session that asked to leave.
    /// Nothing reconnects: a new login would register the name again.
    func left(session: Session, on connection: Int) {
        emit(.cancel(.reconnect))
        emit(.cancel(.leaveAnswer))
        emit(.close(connection: connection))
        for report in outbox.dropUntransmitted(as: { .rejected(id: $0) }) { tell(report) }
        outbox.closedOnPurpose()
        endSession(wasOnline: true)
        phase = .idle
        hasLeft = true
        announce()
        emit(.notice(.youLeft(configuration.username)))
    }
}
