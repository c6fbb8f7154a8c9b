import Foundation
import SottoCore

/// Sealing the outbox onto the connection, and what a person asks about members.
extension ClientCore {
    /// The most written in one turn before yielding, so replies keep being read meanwhile.
    static let pumpSliceBytes = 64 * 1024

    /// Seals and writes unsent outbox entries while the socket keeps up; the rest wait for
    /// it to be writable again, so a long outbox never piles up below the outbox.
    func pump(now: Date) {
        applyMembershipChange(now: now)
        guard case .online(let connection, _, let session) = phase, !session.leaving, writable, roster.isComplete,
              !outbox.awaitingRelayedAnswer, outbox.hasUntransmitted else { return }
        let endToEnd = session.endToEnd
        let maxBodyBytes = session.hello.maxBodyBytes
        var sliceBytes = 0
        var awaitingIdentities = false
        var wrote = false
        while let entry = outbox.next, sliceBytes < Self.pumpSliceBytes {
            // Everyone it is for must get our chain before it: fetch missing keys first.
            let needed = endToEnd.identitiesNeeded(for: entry.to)
            if !needed.isEmpty {
                requestIdentities(needed, on: connection, session: session)
                awaitingIdentities = true
                break
            }
            // Too long for this server once sealed: refused before it takes a chain index
            // (which receivers would later report as a lost message).
            guard MessageEnvelope.encodedLength(textLength: entry.text.count, direct: !entry.to.isEmpty) <= maxBodyBytes else {
                refuseNext(.tooLong(limit: maxBodyBytes))
                continue
            }
            // Sealed now, under this session's chains; one written on a lost connection and not relayed is sealed anew.
            let sealed: (body: [UInt8], events: [EndToEndSession.Event])
            do { sealed = try endToEnd.seal(entry.text, to: entry.to, now: now) } catch {
                refuseNext((error as? EndToEndError).map { .unsealable($0) } ?? .couldNotSeal("\(error)"))
                continue
            }
            guard sealed.body.count <= maxBodyBytes else {
                refuseNext(.tooLong(limit: maxBodyBytes))
                continue
            }
            outbox.markNextTransmitted(sentMillis: KeyShare.Chain.millis(now))
            process(sealed.events, on: connection, now: now)
            let record = ClientRecord.send(SendRequest(clientMessageID: entry.id, to: entry.to, body: sealed.body)).encoded()
            sliceBytes += record.count
            emit(.write(connection: connection, record))
            wrote = true
        }
        if wrote { emit(.flush(connection: connection)) }
        // Waiting for identities: their answer pumps again.
        if outbox.hasUntransmitted, !awaitingIdentities { emit(.schedule(.pump, after: 0)) }
    }

    static let rejection: (UInt64) -> Outbox.Report = { .rejected(id: $0) }

    /// The next entry cannot be sent: the person is told why.
    private func refuseNext(_ reason: ClientNotice.NotSentReason) {
        let report = outbox.dropNext(as: ClientCore.rejection)
        emit(.notice(.notSent(reason)))
        tell(report)
    }

    private func requestIdentities(_ names: [String], on connection: Int, session: Session) {
        guard !session.identityRequestInFlight else { return }
        session.identityRequestInFlight = true
        // As many names as fit one record (long names in other scripts take up to 512
        // bytes each); the rest are asked for once this answer is in.
        var batch: [String] = []
        let empty = ClientRecord.identityRequest([]).encoded().count
        var size = empty
        for name in names.prefix(WireLimits.maxIdentityRequest) {
            // An entry's size from the writer: a one-name request less an empty one.
            let entry = ClientRecord.identityRequest([name]).encoded().count - empty
            guard size + entry <= WireLimits.maxRecordLength else { break }
            batch.append(name)
            size += entry
        }
        session.identitiesAsked = batch
        emit(.write(connection: connection, ClientRecord.identityRequest(batch).encoded()))
        emit(.flush(connection: connection))
    }

    // MARK: Asked by the person

    /// Your identity fingerprint, or a member's with the safety number you share.
    func identityInfo(of name: String?, now: Date) -> (fingerprint: String, safetyNumber: String?)? {
        guard let name else { return (identity.fingerprint, nil) }
        applyMembershipChange(now: now)
        guard let endToEnd = endToEndSession, let member = endToEnd.members[name] else { return nil }
        return (member.fingerprint, endToEnd.safetyNumber(with: name))
    }

    /// Answers `.showIdentity`: an `.identity` event, or a notice that they are not online.
    func showIdentity(of name: String?, now: Date) {
        guard let info = identityInfo(of: name, now: now) else { return emit(.notice(.notOnline(name ?? ""))) }
        emit(.identity(name: name, fingerprint: info.fingerprint, safetyNumber: info.safetyNumber))
    }

    /// Marks a member's current identity key as verified (after comparing safety numbers);
    /// this also accepts a changed key. The answer is a notice.
    func verify(_ name: String, now: Date) {
        applyMembershipChange(now: now)
        guard case .online(let connection, _, let session) = phase, let member = session.endToEnd.members[name] else {
            return emit(.notice(.notOnline(name)))
        }
        do {
            try store.markVerified(server: session.hello.serverFingerprint, name: name, fingerprint: member.fingerprint)
        } catch {
            return emit(.notice(.verificationNotSaved(name: name, reason: "\(error)")))
        }
        process(session.endToEnd.updateTrust(of: name, to: .verified, now: now), on: connection, now: now)
        publishUsers()
        emit(.notice(.verified(name: name, fingerprint: member.fingerprint)))
    }
}
