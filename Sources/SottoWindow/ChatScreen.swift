import CSDL2
import Foundation
import SottoClient
import SottoCore
import SottoUI

extension ChatApp {
    /// What an empty direct conversation shows in its log's place, centred.
    func emptyDirectHint(for name: String, in r: Rect) {
        let text = "No messages with \(name) yet. What you write here only \(name) and you can read; if \(name) is away, it waits for them on the server, sealed."
        let width = min(r.w - 40, 520)
        let wrapped = TextWrap.lines(text, width: width, style: .small, metrics: ui.metrics)
        var block = r.centered(w: width, h: wrapped.count * 18)
        for line in wrapped { ui.label(line, in: block.cutTop(18), color: ui.theme.mutedText, style: .small, align: .center) }
    }

    func chatScreen() {
        if model.current != draftConversation {
            drafts[draftConversation] = draft.isEmpty ? nil : draft
            draft = drafts.removeValue(forKey: model.current) ?? ""
            draftConversation = model.current
            // Typing goes on at the end of this conversation's draft, not where the caret
            // stood in the last one (in the middle of this text, or past its end).
            ui.placeCaretAtEnd("message", text: draft)
            historyIndex = nil
        }
        // Typed while the chat was opening, or in the frame before the composer takes the
        // focus (it takes it at the end of a frame): into the composer, where the person looks.
        if focusInputNextFrame, verifyDialog == nil, !ui.isFocused(ui.id("field:message")) {
            typeAhead += ui.input.text  // its text only: a key here is for what it is over
            ui.input.text = ""
        }
        if !typeAhead.isEmpty {
            // After a kept draft put back meanwhile, on a line of its own.
            draft = Self.joined(draft, takeTypeAhead())
            ui.placeCaretAtEnd("message", text: draft)
            typeAheadLandedAt = SDL_GetTicks()
        }
        // First: an open dialog owns the input (and the focus waits for the frame after it).
        dialogDrawn = verifyDialog != nil
        verificationDialog()
        let t = ui.theme
        var r = Rect(x: 0, y: 0, w: ui.width, h: ui.height)
        let status = r.cutBottom(26)
        statusBar(in: status)
        if case .reconnecting(let attempt, let delay) = model.state {
            var banner = r.cutTop(30)
            ui.fill(banner, t.warning)
            // The wait grows to 30 s; someone who knows the server is back need not sit it out.
            if ui.button("Retry now", in: banner.cutRight(110).inset(x: 8, y: 3), idLabel: "retry-now") {
                client?.connect()
                focusInputNextFrame = true  // the banner goes; typing goes on in the composer
            }
            let left = reconnectSecondsLeft ?? Int(delay.rounded(.up))
            shownCountdown = left
            let next = left > 0 ? "next try in \(left) s" : "trying now"
            ui.label("Reconnecting… (attempt \(attempt), \(next)). Messages you send now are kept and sent when the connection is back.",
                     in: banner.inset(x: 12, y: 0), color: Color(30, 30, 30), style: .small)
        } else if case .failed(let failure) = model.state {
            var banner = r.cutTop(30)
            ui.fill(banner, t.danger)
            // Nothing reconnects by itself after a failure that needs a person (this session
            // replaced by another, an error of the server's): they choose to.
            if ui.button("Reconnect", in: banner.cutRight(110).inset(x: 8, y: 3), idLabel: "reconnect") {
                client?.connect()
            }
            ui.label(failure.description, in: banner.inset(x: 12, y: 0), color: t.accentText, style: .small)
        } else if model.state == .disconnected {
            // Only after `/leave` (the window never disconnects otherwise): the way back is
            // a new membership, chosen by the person.
            var banner = r.cutTop(30)
            ui.fill(banner, t.panelAlt)
            if ui.button("Join again", in: banner.cutRight(110).inset(x: 8, y: 3), idLabel: "join-again") {
                client?.connect()
                focusInputNextFrame = true
            }
            ui.label("Not connected: you left this server. Joining again makes you a new member, if your name is still free.",
                     in: banner.inset(x: 12, y: 0), color: t.text, style: .small)
        }
        // Narrower in a narrow window: the conversation keeps most of the width.
        let sidebar = r.cutLeft(min(230, max(180, r.w * 3 / 10)))
        conversationsAndPeople(in: sidebar)
        ui.fill(Rect(x: r.x, y: r.y, w: 1, h: r.h), t.border)
        conversationView(in: r)
    }

    func statusBar(in r: Rect) {
        let t = ui.theme
        let stateText: String
        let stateColor: Color
        switch model.state {
        case .online: stateText = "● online"; stateColor = t.success
        case .reconnecting: stateText = "● reconnecting"; stateColor = t.warning
        case .failed: stateText = "● disconnected"; stateColor = t.danger
        case .disconnected: stateText = "● not connected"; stateColor = t.mutedText
        default: stateText = "● connecting"; stateColor = t.warning
        }
        let me = client?.fingerprint ?? ""
        ui.statusBar([("\(form.server):\(form.port)", nil), (stateText, stateColor),
                      ("End-to-end: sender keys, X-Wing HPKE · transport Noise XX", nil),
                      ("You: \(model.myName) \(me.prefix(20))…", nil)], in: r)
    }

    func conversationsAndPeople(in area: Rect) {
        let t = ui.theme
        var r = area
        ui.fill(r, t.panel)
        ui.label("CONVERSATIONS", in: r.cutTop(30).inset(x: 12, y: 0), color: t.mutedText, style: .small)
        // Under the pointer the rows keep their places (one moving up as a message arrives
        // would take the click meant for another); new ones join at the end until it leaves.
        let pointerHere = area.contains(ui.input.mouseX, ui.input.mouseY)
        if pointerHere {
            let listed = Set(model.order), held = Set(sidebarOrder)
            sidebarOrder = sidebarOrder.filter(listed.contains) + model.order.filter { !held.contains($0) }
        } else {
            sidebarOrder = model.order
        }
        let names = sidebarOrder
        var rows = names.count
        if let held = conversationRowsHeld {
            if ui.input.mouseX == held.x, ui.input.mouseY == held.y, now < held.until { rows = min(rows, held.rows) } else { conversationRowsHeld = nil }
        }
        // As many conversations as fit beside the members (a third of the column at least):
        // with a dozen conversations and three members, half the column stood empty.
        let membersWant = 38 + model.members.count * 42
        let convHeight = min(rows * 34, max(r.h / 3, r.h - membersWant - 32))
        let selectedRow = names.firstIndex(of: model.current)
        // The open conversation is shown in the list when it changes (Ctrl+Tab, a /msg); not
        // while rows are held under a still pointer (after it).
        let reveal = conversationRowsHeld == nil && revealedConversation != model.current ? selectedRow : nil
        if conversationRowsHeld == nil { revealedConversation = model.current }
        let items = names.map { name -> UIContext.ListItem in
            let unread = model.conversations[name]?.unread ?? 0, mentions = model.conversations[name]?.unreadMentions ?? 0
            // A draft left in another conversation is marked, as mail clients mark one.
            let hasDraft = name != model.current && !(drafts[name] ?? "").isEmpty
            // What calls you stands out from the rest that is new: "@2 · 14".
            let badge = unread == 0 ? "" : mentions == 0 ? "\(unread)" : mentions == unread ? "@\(mentions)" : "@\(mentions) · \(unread)"
            return UIContext.ListItem(title: name.title + (hasDraft ? "  ✎" : ""), badge: badge)
        }
        let listRect = r.cutTop(convHeight)
        if let picked = ui.list("conversations", items: items, selected: selectedRow, in: listRect, rowHeight: 34, revealing: reveal) {
            model.open(names[picked])
            openAtNewSince()
            focusInputNextFrame = true
        }
        // Unread conversations scrolled out of sight are said under the list, and a click
        // brings the first of them into view (the title counted them; no badge could be seen).
        let shownRows = ui.listRowsShown("conversations", count: names.count, rowHeight: 34, height: listRect.h)
        let hidden = names.indices.filter { !shownRows.contains($0) && (model.conversations[names[$0]]?.unread ?? 0) > 0 }
        if let first = hidden.first {
            let below = hidden.allSatisfy { $0 >= shownRows.upperBound }
            let text = "\(hidden.count) more unread\(below ? " ↓" : "")"
            if ui.button(text, in: r.cutTop(24).inset(x: 10, y: 2), style: .link, idLabel: "unread-hidden") {
                ui.scrollList("conversations", toShow: first, rowHeight: 34, height: listRect.h)
            }
        }
        _ = r.cutTop(8)
        // Online first, then those away: a member stays one while offline (messages wait for them).
        // Each group in natural order (user2 before user10: a newcomer's run read user1, user10, user11, user2).
        func natural(_ members: [Member]) -> [Member] { members.sorted { $0.name.localizedStandardCompare($1.name) == .orderedAscending } }
        let shown = natural(model.members.filter(\.online)) + natural(model.members.filter { !$0.online })
        let online = shown.count { $0.online }
        // While reconnecting the list stays as last seen, said so.
        let heading = model.state != .online && !shown.isEmpty ? "MEMBERS (AS LAST SEEN)"
            : online == shown.count ? "MEMBERS (\(online) ONLINE)" : "MEMBERS (\(online) ONLINE, \(shown.count - online) AWAY)"
        ui.label(heading,
                 in: r.cutTop(30).inset(x: 12, y: 0), color: t.mutedText, style: .small)
        let people = shown.map { m -> UIContext.ListItem in
            let mark: String
            switch m.trust {
            case .verified?: mark = m.isMe ? "you" : "✓ verified"
            case .changed?: mark = "⚠ key changed"
            case .unverified?: mark = "not verified"
            case nil: mark = "no end-to-end key"
            }
            guard m.online else {
                return UIContext.ListItem(title: m.name, detail: "\(Self.away(since: m.lastSeen)) · \(mark)", color: t.mutedText)
            }
            return UIContext.ListItem(title: m.name, detail: "\(mark) · \(m.fingerprint.prefix(19))…", color: model.color(for: m.name))
        }
        if let picked = ui.list("people", items: people, selected: nil, in: r, rowHeight: 42) {
            let member = shown[picked]
            if !member.isMe {
                if !names.contains(.direct(member.name)) {
                    conversationRowsHeld = (names.count, ui.input.mouseX, ui.input.mouseY, now + Self.rowsHeldSeconds)
                }
                model.open(.direct(member.name))
                openAtNewSince()
                focusInputNextFrame = true
            }
        }
    }

    /// Up and Down through `lines` (oldest first), from the draft below the newest; typing
    /// goes on at the end of the line brought back, as in a shell.
    func recall(step: Int, in lines: [String]) {
        guard !lines.isEmpty else { return }
        let index = max(0, min(lines.count, (historyIndex ?? lines.count) + step))
        historyIndex = index < lines.count ? index : nil
        draft = historyIndex.map { lines[$0] } ?? ""
        ui.placeCaretAtEnd("message", text: draft)
    }

    /// Lines you sent in a conversation, as its log shows them, that Up reaches at most.
    static let recalledFromLog = 50

    /// "away since 14:05" today, "away since 2 Dec" this year (`LastSeen`).
    static func away(since date: Date?) -> String {
        guard let date else { return "away" }
        let since = LastSeen.since(date)
        return since.hasPrefix("since ") ? "away " + since : "away (\(since))"
    }

    func conversationView(in area: Rect) {
        let t = ui.theme
        var r = area
        let header = r.cutTop(44)
        ui.fill(header, t.panelAlt)
        let title: String
        switch model.current {
        case .room: title = "# room — every member, online or away"
        case .direct(let name):
            // Someone away is written to as anyone is; the header says where it goes meanwhile.
            if let member = model.members.first(where: { $0.name == name }), !member.online, !member.isMe {
                title = "@ \(name) — only you two can read it · \(Self.away(since: member.lastSeen)): it waits for them"
            } else if model.state == .online, !model.members.contains(where: { $0.name == name }) {
                // Left the server (or a conversation kept from before): nothing reaches them.
                title = "@ \(name) — no longer a member: messages cannot be sent"
            } else {
                title = "@ \(name) — only you two can read it"
            }
        }
        var headerRow = header.inset(x: 14, y: 0)
        if case .direct(let name) = model.current, let member = model.members.first(where: { $0.name == name }), !member.isMe {
            if member.trust != .verified, ui.button("Verify…", in: headerRow.cutRight(90).inset(x: 0, y: 8), idLabel: "verify") {
                answersGoTo = .direct(member.name)
                verifyRequestedFor = member.name
                client?.showIdentity(of: member.name)
            }
        }
        ui.label(title, in: headerRow, style: .bold)

        // As tall as the draft's lines, wrapped at the field's width (the margins and Send off).
        // Whole lines (up to six): a part of one showed at the top edge, like a glitch.
        let composerLines = min(6, ui.wrappedLineCount(draft, fieldWidth: r.w - 20 - 80 - 8))
        var composer = r.cutBottom(max(56, 28 + composerLines * ui.metrics.lineHeight(.regular)))
        composer = composer.inset(10)
        // The button keeps its size at the bottom as the box grows (it stretched into a tall block).
        var sendColumn = composer.cutRight(80)
        let sendRect = sendColumn.cutBottom(min(sendColumn.h, 36))
        _ = composer.cutRight(8)
        completeName()
        let result = ui.textField("message", text: &draft, in: composer, placeholder: "Message \(model.current == .room ? "everyone" : model.current.recipient)  (Enter sends, Shift-Enter new line)", multiline: true)
        if result.historyStep != 0, draft.isEmpty || historyIndex != nil {
            // What was typed here this session, after what you sent here before it (shown in
            // the log, kept from earlier sessions: a newcomer's run found Up empty after a restart).
            let typed = typedLines.filter { $0.conversation == model.current }.map(\.text)
            let typedSet = Set(typed)
            // From the end, as far as needed (a long log is not walked at each key press).
            let sentBefore = Array((model.conversations[model.current]?.lines ?? []).reversed().lazy
                .filter { $0.kind == .message && $0.isOwn && $0.pendingID == nil && !typedSet.contains($0.text) }
                .prefix(Self.recalledFromLog).map(\.text).reversed())
            recall(step: result.historyStep, in: sentBefore + typed)
        }

        if ui.button("Send", in: sendRect, style: .primary, focusable: false) || result.submitted {
            submitDraft()
            focusInputNextFrame = true
        }
        if focusInputNextFrame, !dialogDrawn {
            focusInputNextFrame = false
            ui.focus(ui.id("field:message"))
        }

        if ui.input.pressed(.f, .control), !dialogDrawn {
            searchOpen = true
            focusSearchNextFrame = true
        }
        // The next conversation in the list, or the one before, from the keyboard (as tabs
        // in a browser): Ctrl+Tab and Ctrl+Page Down; with Shift, or Page Up, back.
        let input = ui.input
        let step = input.pressed(.tab, .control) || input.pressed(.pageDown, .control) ? 1
            : input.pressed(.tab, [.control, .shift]) || input.pressed(.pageUp, .control) ? -1 : 0
        let cycle = sidebarOrder.isEmpty ? model.order : sidebarOrder
        if step != 0, !dialogDrawn, !searchOpen, let here = cycle.firstIndex(of: model.current) {
            model.open(cycle[(here + step + cycle.count) % cycle.count])
            openAtNewSince()
            focusInputNextFrame = true
        }
        if searchOpen {
            searchPanel(in: r)
            return
        }
        if let marked = markedMessage, marked.conversation != model.current { markedMessage = nil }
        // Only the entries on screen are made into log entries (a frame costs what it shows).
        let lines = model.conversations[model.current]?.lines ?? []
        let source = UIContext.LogSource(count: lines.count, entry: { self.logEntry(lines[$0]) }, key: { lines[$0].key },
                                         countsAsNew: { lines[$0].kind == .message })
        let logRect = r
        // The jump button floats over the log: its place is reserved before the log is
        // drawn, so clicking it never selects the row beneath. It is as wide as its label.
        // With nothing new below, scrolled up it still leads back to the newest (a newcomer's
        // run: 40 Page Downs from the top, or a thin scrollbar, and End did nothing).
        let jumpLabel = { (n: Int) in n > 0 ? "\(n) new message\(n == 1 ? "" : "s") ↓" : "Newest ↓" }
        let jumpRect = { (n: Int) -> Rect in
            let w = max(n > 0 ? 170 : 120, self.fonts.width(jumpLabel(n), style: .bold) + 32)
            // Centred: at the right it covered the messages' "e2e" marks.
            return Rect(x: logRect.x + (logRect.w - w) / 2, y: logRect.maxY - 44, w: w, h: 32)
        }
        if jumpShown { ui.reserveOverlay(jumpRect(jumpShownFor)) }
        if ui.input.pressed(.end, .control), !dialogDrawn { ui.scrollLogToBottom(model.current.logID) }
        let result2 = ui.log(model.current.logID, source: source, in: logRect, wrapCache: wrapCache)
        if let key = result2.clickedEntry, let target = foundTargets[key] { jump(to: target) }
        if let link = result2.clickedLink, !openLink(link) {
            // Nothing to open it with (a newcomer's run: a click did nothing at all, unsaid).
            ui.setClipboard(link)
            model.system("The link could not be opened (no web browser here?): it is copied, to paste where you read it.", warning: true, conversation: model.current)
        }
        if model.reading, let bottom = ui.logBottomKey(model.current.logID) {
            seenThroughKeys[model.current] = max(seenThroughKeys[model.current] ?? .min, bottom)
        }
        let newBelow = max(result2.newBelow, unreadBelowView(lines))
        jumpShownFor = newBelow
        jumpShown = newBelow > 0 || !result2.atBottom
        if lines.isEmpty, case .direct(let name) = model.current {
            // An empty conversation says what it is, not a blank panel (as the room does).
            emptyDirectHint(for: name, in: logRect)
        }
        // Scrolled to the top: the page before it comes from the history (the view keeps its place).
        if result2.atTop { loadOlder(model.current) }
        if jumpShown {
            ui.overlayLayer {
                if ui.button(jumpLabel(newBelow), in: jumpRect(newBelow), style: .primary, idLabel: "jump") {
                    ui.scrollLogToBottom(model.current.logID)
                }
            }
        }
        // Shown in a window being looked at is read; behind other windows it waits (`attend`).
        if model.reading, model.conversations[model.current]?.unread ?? 0 > 0 { model.conversations[model.current]!.unread = 0 }
    }

    /// Tab in the message box completes a name begun before the caret (`NameCompletion`), and
    /// otherwise does nothing: it never leaves the box (a newcomer's run: it went to the Send
    /// button, and a Space sent half a message; with nothing else to go to, it came back to
    /// the box selecting all of it, and the next key typed over the draft). Shift+Tab leaves.
    func completeName() {
        guard ui.isFocused(ui.id("field:message")), ui.input.pressed(.tab) else { return }
        _ = ui.takeTab()
        guard let state = ui.editState("message"), state.selection == nil else { return }
        let names = model.members.filter { !$0.isMe }.map(\.name)
        guard let done = NameCompletion.complete(state.characters, caret: state.caret, names: names, last: lastCompletion) else {
            lastCompletion = nil
            return
        }
        draft = String(done.text)
        ui.setText("message", text: draft, caret: done.caret)
        lastCompletion = done.state
    }

    /// Others' messages under the "new since" line, below the view and never shown while the
    /// window was looked at: what the person came back to and has not reached (a newcomer's
    /// run: back to 38 new, the view at the first, no button said more were below, as the log
    /// counts only what arrives after it was first drawn; a review: read to the end and
    /// scrolled back above the line, they were all called new, your own too).
    func unreadBelowView(_ lines: [ChatLine]) -> Int {
        guard let shown = ui.logBottomKey(model.current.logID) else { return 0 }
        let seen = max(shown, seenThroughKeys[model.current] ?? .min)
        guard let newest = lines.last, newest.key > seen, let marker = lines.lastIndex(where: { $0.kind == .newSince }) else { return 0 }
        var count = 0
        for line in lines[(marker + 1)...].reversed() {
            guard line.key > seen else { break }
            if line.kind == .message, !line.isOwn { count += 1 }
        }
        return count
    }

    func logEntry(_ line: ChatLine) -> UIContext.LogEntry {
        let t = ui.theme
        switch line.kind {
        case .daySeparator:
            return .init(key: line.key, text: "— \(line.text) —", centered: true)
        case .newSince:
            return .init(key: line.key, text: "— \(line.text) —", textColor: t.accent, centered: true)
        case .system:
            return .init(key: line.key, text: line.text, textColor: t.mutedText, centered: true)
        case .warning:
            return .init(key: line.key, prefix: line.timeText, prefixColor: t.mutedText, text: line.text, textColor: t.warning)
        case .help:
            return .init(key: line.key, prefix: line.from, prefixColor: t.accent, text: line.text, textColor: t.mutedText)
        case .found:
            return .init(key: line.key, prefix: "\(line.timeText) \(line.from)", prefixColor: model.color(for: line.from), text: line.text,
                         highlights: line.highlights, acts: foundTargets[line.key] != nil)
        case .message:
            let isMarked = markedMessage.map { line.messageID == $0.id } ?? false
            let badge: String
            switch line.trust {
            case .changed: badge = "⚠"
            default: badge = line.pendingID == nil ? "e2e" : "…"
            }
            return .init(key: line.key, prefix: "\(line.timeText) \(line.from)", prefixColor: model.color(for: line.from),
                         text: line.text, textColor: line.pendingID == nil ? nil : t.mutedText, badge: badge,
                         marked: isMarked, highlights: isMarked ? markedMessage?.matches ?? [] : [], links: ChatLinks.find(in: line.text),
                         mentionsReader: line.mentionsMe)
        }
    }
}

extension ChatApp {
    /// Both fingerprints and the safety number in a monospace font (l and I, 0 and O differ),
    /// "They match" and "Cancel". As with the trust dialog, nothing is focused when it opens:
    /// confirming takes a click, or Tab then Enter; Escape cancels.
    func verificationDialog() {
        guard let dialog = verifyDialog else { return }
        let t = ui.theme
        var dismissed = false
        var confirmed = false
        ui.dialog {
            var r = ui.modal(title: "Verify \(dialog.name)", width: 640, height: 380, dismissed: &dismissed)
            for line in TextWrap.lines("Compare these with \(dialog.name) in person or on a call, not in this chat. If all of it matches on both screens, their key is really theirs.", width: r.w, metrics: ui.metrics) {
                ui.label(line, in: r.cutTop(20))
            }
            _ = r.cutTop(10)
            ui.label("Your fingerprint", in: r.cutTop(18), color: t.mutedText, style: .small)
            ui.label(client?.fingerprint ?? "", in: r.cutTop(22), style: .mono)
            _ = r.cutTop(6)
            ui.label("\(dialog.name)'s fingerprint", in: r.cutTop(18), color: t.mutedText, style: .small)
            ui.label(dialog.theirs, in: r.cutTop(22), style: .mono)
            _ = r.cutTop(6)
            ui.label("Safety number (the same on both screens)", in: r.cutTop(18), color: t.mutedText, style: .small)
            let groups = dialog.safetyNumber.split(separator: " ")
            for row in stride(from: 0, to: groups.count, by: 4) {
                ui.label(groups[row..<min(row + 4, groups.count)].joined(separator: "  "), in: r.cutTop(22), color: t.warning, style: .mono)
            }
            var buttons = r.cutBottom(38)
            let cancelRect = buttons.cutRight(110)
            _ = buttons.cutRight(10)
            if ui.button("They match", in: buttons.cutRight(150), style: .primary, idLabel: "verify-match") { confirmed = true }
            if ui.button("Cancel", in: cancelRect, idLabel: "verify-cancel") { dismissed = true }
        }
        if confirmed {
            // The confirmation is a notice, shown in their conversation, where it started.
            answersGoTo = .direct(dialog.name)
            client?.verify(dialog.name)
        }
        if confirmed || dismissed {
            verifyDialog = nil
            focusInputNextFrame = true
        }
    }
}

extension Conversation {
    /// As the conversation list shows it.
    var title: String {
        switch self {
        case .room: return "# room"
        case .direct(let name): return "@ \(name)"
        }
    }

    /// The log widget's id: a member called "room" has a log of their own.
    var logID: String {
        switch self {
        case .room: return "#room"
        case .direct(let name): return "@" + name
        }
    }
}
