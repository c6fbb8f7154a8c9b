import CSDL2
import Foundation
import SottoClient
import SottoCore

/// Unsent drafts outlive the window: kept in the history database, per conversation, as they
/// change (written off the frame, a moment after typing pauses), and put back in their
/// composers when the chat opens again. With history off nothing is kept.
extension ChatApp {
    /// Every conversation's draft as it stands: the open composer's and the others'.
    var currentDrafts: [Conversation: String] {
        var all = drafts
        all[draftConversation] = draft.isEmpty ? nil : draft
        return all
    }

    /// Hands the recorder what changed since it was last told (after each frame of the chat).
    /// A draft holding the password is not kept (nor is an earlier version of it).
    func keepChangedDrafts() {
        guard let recorder, draftsRestored else { return }
        // Names' colours, once the kept ones were taken back (before the drafts).
        if model.colorGeneration != keptColorGeneration {
            keptColorGeneration = model.colorGeneration
            recorder.keepColors(model.colorsToKeep)
        }
        if model.current != keptOpenConversation {
            keptOpenConversation = model.current
            recorder.keepOpenConversation(model.current)
        }
        let now = keepableDrafts
        guard now != keptDrafts else { return }
        for conversation in Set(now.keys).union(keptDrafts.keys) where now[conversation] != keptDrafts[conversation] {
            recorder.keepDraft(now[conversation] ?? "", in: conversation)
        }
        keptDrafts = now
    }

    /// The open conversation is read up to the newest message its log has shown (a newcomer's
    /// run: quitting with 39 of 60 new messages below the view marked them all read): noted,
    /// off the frame, so what comes after it is unread at the next start (once the marks
    /// kept were read). Not while the window is in the background: shown is not read there.
    func keepReadMarks() {
        guard let recorder, readMarks != nil, model.reading, let bottom = ui.logBottomKey(model.current.logID),
              let lines = model.conversations[model.current]?.lines else { return }
        // Keys increase down the log: the first line past the bottom shown, found by halves.
        var low = 0, high = lines.count
        while low < high {
            let mid = (low + high) / 2
            if lines[mid].key <= bottom { low = mid + 1 } else { high = mid }
        }
        guard let newest = lines[..<low].last(where: { $0.kind == .message && $0.pendingID == nil }),
              newest.key > keptReadKeys[model.current] ?? .min,
              let id = newest.messageID.flatMap(ChatModel.parseMessageID) else { return }
        keptReadKeys[model.current] = newest.key
        recorder.keepReadMark(model.current, upTo: id.sender, id.clientMessageID)
    }

    /// What is typed in the composers that may be kept: not a draft holding the password.
    var keepableDrafts: [Conversation: String] {
        password.isEmpty ? currentDrafts : currentDrafts.filter { !$0.value.contains(password) }
    }

    /// Closed before the history's opening read was back (a loaded machine, a slow disk; a
    /// CI run): what was typed meanwhile was never written, nor where the person went, and
    /// the next start had neither. Kept now, after what was kept before (as the opening read
    /// would have put it back); staying in the room leaves the conversation kept alone. At
    /// exit: the store is read here, on the closing thread, as nothing is drawn any more.
    func keepBeforeTheOpeningRead() {
        guard let recorder, !draftsRestored else { return }
        let typed = keepableDrafts
        if !typed.isEmpty, let kept = recorder.withStore({ try? $0?.drafts() }) {
            for (conversation, text) in typed { recorder.keepDraft(Self.joined(kept[conversation] ?? "", text), in: conversation) }
        }
        if model.current != .room { recorder.keepOpenConversation(model.current) }
    }

    /// The drafts kept from last time go back in their composers; one typed since the chat
    /// opened (typed ahead while connecting) follows the kept one on a line of its own,
    /// where the person sees both before anything is sent.
    func restoreDrafts(_ kept: [Conversation: String], reopening open: Conversation? = nil) {
        // Typed since the chat opened (or typed ahead): the person is at work where they
        // are, and the window does not move them elsewhere.
        let untouched = draft.isEmpty && drafts.values.allSatisfy(\.isEmpty) && typeAhead.isEmpty
            && ui.input.text.isEmpty && ui.input.keys.isEmpty
        for (conversation, text) in kept.sorted(by: { $0.key.title < $1.key.title }) where !text.isEmpty {
            model.list(conversation)
            if conversation == draftConversation {
                draft = Self.joined(text, draft)
                ui.placeCaretAtEnd("message", text: draft)
                // Not shown yet: an Enter pressed before it is would send it unseen.
                typeAheadLandedAt = SDL_GetTicks()
            } else {
                drafts[conversation] = Self.joined(text, drafts[conversation] ?? "")
            }
        }
        keptDrafts = kept.filter { !$0.value.isEmpty }
        draftsRestored = true
        // What the history holds: where the person went before it was read is written next
        // (set to where they were, it was never written, and the next start reopened the
        // conversation before).
        keptOpenConversation = open
        // Back where the person was, if they have not gone elsewhere meanwhile and the
        // conversation is listed (kept, or with a draft).
        if let open, untouched, open != model.current, model.current == .room, model.order.contains(open) {
            model.open(open)
            openAtNewSince()
            focusInputNextFrame = true
            // Not shown yet: an Enter pressed before it is would send its draft unseen.
            typeAheadLandedAt = SDL_GetTicks()
        }
        model.endOpening()
    }

    /// Closing before the server had what was typed (a message written on the train, the
    /// window closed before the connection came back, was lost): online, a moment for it to
    /// be acknowledged; then what is left goes back in its conversation's draft, theirs
    /// first, kept in the history and said at the next opening. A message holding the
    /// password is not kept (as drafts are not). At exit, before the client shuts down.
    func keepUnsent() {
        guard let client else { return }
        var (online, unsent) = client.unsentMessages()
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.unsentGrace
        while online, !unsent.isEmpty, DispatchTime.now().uptimeNanoseconds < deadline {
            usleep(20_000)
            (online, unsent) = client.unsentMessages()
        }
        guard let recorder, !unsent.isEmpty else { return }
        // What is in the boxes, as drafts are kept: one holding the password is not (a review:
        // joined to a message put back, it was written to the history all the same). Closed
        // before the kept drafts were back, the store has them, with what was typed since
        // (`keepBeforeTheOpeningRead`).
        let base = draftsRestored ? keepableDrafts : recorder.withStore({ try? $0?.drafts() }) ?? [:]
        let keepable = unsent.filter { password.isEmpty || !$0.text.contains(password) }
        for (conversation, messages) in Dictionary(grouping: keepable, by: { Conversation(recipient: $0.to) }) {
            let text = messages.map(\.text).joined(separator: "\n")
            recorder.keepUnsent(messages, in: conversation, draft: Self.joined(text, base[conversation] ?? ""))
        }
    }

    /// How long a closing window waits for what is on its way to be acknowledged.
    static let unsentGrace: UInt64 = 2_000_000_000

    /// What the next opening says where messages were put back (`keepUnsent`).
    static func unsentBack(count: Int, mayHaveGone: Int) -> String {
        let what = count == 1 ? "A message you wrote was not sent before Sotto closed: it is back in the message box (Enter sends it)."
            : "\(count) messages you wrote were not sent before Sotto closed: they are back in the message box, one a line (Enter sends them together, as one message)."
        guard mayHaveGone > 0 else { return what }
        return what + (count == 1 ? " The connection was lost while it was on its way, so it may have reached the others: check before sending it again."
            : " The connection was lost while \(mayHaveGone == count ? "they were" : "\(mayHaveGone) of them were") on their way, so they may have reached the others: check before sending them again.")
    }

    static func joined(_ kept: String, _ typed: String) -> String {
        kept.isEmpty || typed.isEmpty ? kept + typed : kept.hasSuffix("\n") ? kept + typed : kept + "\n" + typed
    }
}
