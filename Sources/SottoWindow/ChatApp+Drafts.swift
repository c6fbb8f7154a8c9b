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
        if model.current != keptOpenConversation {
            keptOpenConversation = model.current
            recorder.keepOpenConversation(model.current)
        }
        let now = password.isEmpty ? currentDrafts : currentDrafts.filter { !$0.value.contains(password) }
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
        guard let recorder, readMarks != nil, model.attending, let bottom = ui.logBottomKey(model.current.logID),
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
        // Back where the person was, if they have not gone elsewhere meanwhile and the
        // conversation is listed (kept, or with a draft).
        keptOpenConversation = model.current
        if let open, untouched, open != model.current, model.current == .room, model.order.contains(open) {
            model.open(open)
            focusInputNextFrame = true
            // Not shown yet: an Enter pressed before it is would send its draft unseen.
            typeAheadLandedAt = SDL_GetTicks()
        }
    }

    static func joined(_ kept: String, _ typed: String) -> String {
        kept.isEmpty || typed.isEmpty ? kept + typed : kept.hasSuffix("\n") ? kept + typed : kept + "\n" + typed
    }
}
