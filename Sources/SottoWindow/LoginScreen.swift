import SottoCore
import SottoUI

extension ChatApp {
    static let formFields = ["username", "server", "port", "password"]
    /// Lines of an error the form shows (the name-taken one, with its advice, takes five).
    static let formErrorLines = 6

    func loginScreen() {
        if connecting { holdTypeAhead() }
        // While a dialog is drawn the form takes no input (nor the focus): it waits a frame.
        let dialogDrawn = trustPrompt != nil || keyChangedWarning != nil
        dialogs()
        // Before the fields take this frame's input: what was typed as the window first
        // appeared (the first frame may come late on a busy machine) lands in the field that
        // gets the focus. Set after them, it went nowhere: "correct horse battery staple"
        // typed into a window just shown arrived as "battery staple".
        if focusFormNextFrame, !dialogDrawn {
            focusFormNextFrame = false
            let values = [form.username, form.server, form.port, password]
            let first = Self.formFields[values.firstIndex { $0.isEmpty } ?? 3]
            ui.focusNow(ui.id("field:" + first))
        }
        let t = ui.theme
        let typedAhead = connecting && !typeAhead.isEmpty
        // As tall as the error's lines (up to six: the advice ends the longest), not always six.
        let errorLines = formError.map { min(Self.formErrorLines, TextWrap.lines($0, width: 460 - 56, style: .small, metrics: ui.metrics).count) } ?? 0
        let errorHeight = errorLines == 0 ? 0 : errorLines * 18 + 6
        let fullHeight = 466 + (expectedFingerprint == nil ? 0 : 40) + errorHeight + (typedAhead ? 24 : 0)
        // A window too short for the form (it may be 420 px high) gets it tighter: smaller
        // margins and gaps, no subtitle, and the error under the button, as many lines as fit.
        let compact = fullHeight > ui.height - 20
        // What the compact layout below takes (a card as tall as the window left a large empty
        // area under a form that needs less).
        let compactHeight = 352 + (expectedFingerprint == nil ? 0 : 34) + errorHeight + (typedAhead ? 24 : 0)
        var card = Rect(x: 0, y: 0, w: ui.width, h: ui.height).centered(w: 460, h: min(ui.height - 20, compact ? compactHeight : fullHeight))
        // An error grows the card downwards, from where it stood without one (centred again,
        // the whole form jumped up as the error appeared), as far as the window allows.
        if errorHeight > 0 {
            let withoutError = Rect(x: 0, y: 0, w: ui.width, h: ui.height).centered(w: 460, h: min(ui.height - 20, card.h - errorHeight))
            card.y = max(10, min(withoutError.y, ui.height - 10 - card.h))
        }
        ui.fill(card, t.panel)
        ui.stroke(card, t.border)
        var r = card.inset(compact ? 16 : 28)
        let labelHeight = compact ? 18 : 22, gap = compact ? 4 : 8
        if compact {
            ui.label("Sotto", in: r.cutTop(26), style: .bold)
            _ = r.cutTop(2)
        } else {
            ui.label("Sotto", in: r.cutTop(34), style: .bold)
            ui.label("Secure chat for your local network", in: r.cutTop(22), color: t.mutedText, style: .small)
            _ = r.cutTop(14)
        }

        var submitted = false
        func field(_ name: String, _ title: String, _ value: inout String, placeholder: String, secure: Bool = false) {
            ui.label(title, in: r.cutTop(labelHeight), color: t.mutedText, style: .small)
            let result = ui.textField(name, text: &value, in: r.cutTop(34), placeholder: placeholder, secure: secure,
                                      invalid: fieldErrors.contains(name))
            if result.submitted { submitted = true }
            if result.changed { fieldErrors.remove(name) }
            _ = r.cutTop(gap)
        }
        field("username", "Username", &form.username, placeholder: "how others see you")
        let serverBefore = form.server
        field("server", "Server (address or invite link)", &form.server, placeholder: "192.168.1.20 or sotto://…")
        if form.server != serverBefore {
            if form.server.lowercased().hasPrefix(InviteLink.scheme) { applyInvite(form.server) }
            else if !serverBefore.isEmpty { expectedFingerprint = nil }
        }
        if let fp = expectedFingerprint {
            ui.label("The invite vouches for the server key", in: r.cutTop(16), color: t.success, style: .small)
            ui.label(fp, in: r.cutTop(compact ? 16 : 18), color: t.success, style: .small)
            _ = r.cutTop(compact ? 2 : 4)
        }
        field("port", "Port", &form.port, placeholder: "8888")
        ui.label("Password", in: r.cutTop(labelHeight), color: t.mutedText, style: .small)
        var row = r.cutTop(34)
        let toggleRect = row.cutRight(86)
        let result = ui.textField("password", text: &password, in: row, placeholder: "server password", secure: !showPassword,
                                  invalid: fieldErrors.contains("password"))
        if result.submitted { submitted = true }
        if result.changed { fieldErrors.remove("password") }
        ui.checkbox("Show", value: &showPassword, in: toggleRect.inset(x: 10, y: 0))
        _ = r.cutTop(gap)
        // --no-history wins for this run, and is not saved as the setting.
        var keep = form.keepsHistory && options.keepHistory
        if ui.checkbox(options.keepHistory ? "Keep history on this device" : "Keep history on this device (off: --no-history)", value: &keep,
                       in: r.cutTop(24)), options.keepHistory {
            form.keepHistory = keep
        }
        _ = r.cutTop(compact ? 6 : 10)

        func showError(maxLines: Int) {
            guard let error = formError else { return }
            let lines = TextWrap.lines(error, width: r.w, style: .small, metrics: ui.metrics)
            let shown = Array(lines.prefix(maxLines))
            for (i, line) in shown.enumerated() {
                // Cut short: the last line shown says there is more.
                let text = i == shown.count - 1 && lines.count > shown.count ? line + " …" : line
                ui.label(text, in: r.cutTop(18), color: t.danger, style: .small)
            }
            _ = r.cutTop(6)
        }
        if !compact { showError(maxLines: Self.formErrorLines) }
        let button = r.cutTop(compact ? 34 : 40)
        if ui.button(connecting ? "Connecting…" : "Connect", in: button, style: .primary, enabled: !connecting) || (submitted && !connecting) {
            connect()
        }
        if compact {
            _ = r.cutTop(4)
            showError(maxLines: max(0, min(Self.formErrorLines, r.h / 18)))
        }
        if typedAhead {  // said, not shown: it may be anything, a password typed again too
            let count = typeAhead.count
            ui.label("Typed ahead for the message box: \(count) \(count == 1 ? "character" : "characters") (Esc clears)",
                     in: r.cutTop(24).inset(x: 0, y: 2), color: t.mutedText, style: .small)
        }
    }

    /// While connecting, what is typed is kept for the composer and the form takes none of it:
    /// a "/" typed as the welcome was on its way went into the password field, and the rest,
    /// "msg bob …", into the composer, where Enter sent it to the room. Enter is not acted on
    /// (what was typed is seen in the composer before it is sent): it starts a new line there.
    /// Backspace takes back.
    /// Escape clears what was typed ahead.
    func holdTypeAhead() {
        typeAhead += ui.input.text
        for (key, _) in ui.input.keys {
            switch key {
            case .backspace where !typeAhead.isEmpty: typeAhead.removeLast()
            case .escape: typeAhead = ""
            // A line of its own, as Shift-Enter makes one: never two lines run together.
            case .enter where !typeAhead.isEmpty && !typeAhead.hasSuffix("\n"): typeAhead += "\n"
            default: break
            }
        }
        ui.input.text = ""
        ui.input.keys = []
    }

    /// What was typed ahead, as it goes into the composer: never the password. Someone who
    /// saw nothing happen after Enter and typed the password again would otherwise find it
    /// in the composer, one Enter away from the room.
    func takeTypeAhead() -> String {
        defer { typeAhead = "" }
        guard !password.isEmpty, typeAhead.contains(password) else { return typeAhead }
        model.system("What you typed while connecting was not kept: it held your password.", warning: true, conversation: model.current)
        return ""
    }

    /// Trust prompt and changed-key warning, drawn first so they own the input.
    func dialogs() {
        let t = ui.theme
        if let fingerprint = trustPrompt {
            var dismissed = false
            ui.dialog {
                var r = ui.modal(title: "New server: check its key", width: 620, height: 270, dismissed: &dismissed)
                for line in TextWrap.lines("Sotto has not connected to \(form.server):\(form.port) before, and no invite link vouched for it. Compare this fingerprint with the one the server printed before you trust it:", width: r.w, metrics: ui.metrics) {
                    ui.label(line, in: r.cutTop(20))
                }
                _ = r.cutTop(8)
                ui.label(fingerprint, in: r.cutTop(24), color: t.warning, style: .mono)
                var buttons = r.cutBottom(38)
                let cancelRect = buttons.cutRight(110)
                _ = buttons.cutRight(10)
                let trustRect = buttons.cutRight(170)
                // The primary action is first in Tab order, but nothing has the focus when the
                // dialog opens: the Enter that sent the form (or one pressed out of habit)
                // never trusts a key. Trusting takes a click, or Tab then Enter: a deliberate
                // act, as ssh's typed "yes" is. Escape cancels.
                if ui.button("Trust and connect", in: trustRect, style: .primary, idLabel: "trust-accept") {
                    trustPrompt = nil
                    connecting = true
                    client?.trustServer(fingerprint: fingerprint)
                }
                if ui.button("Cancel", in: cancelRect, idLabel: "trust-cancel") { dismissed = true }
            }
            if dismissed {
                trustPrompt = nil
                typeAhead = ""
                formError = "Not connected: the server's key was not trusted."
                focusFormNextFrame = true  // back where typing belongs
            }
        }
        if let warning = keyChangedWarning {
            var dismissed = false
            ui.dialog {
                var r = ui.modal(title: "WARNING: the server's key has changed", width: 620, height: 320, dismissed: &dismissed)
                for line in TextWrap.lines("The server at \(form.server):\(form.port) presented a different key than the one you trusted. Someone may be intercepting the connection, so Sotto will not connect.", width: r.w, metrics: ui.metrics) {
                    ui.label(line, in: r.cutTop(20), color: t.danger)
                }
                _ = r.cutTop(8)
                ui.label("Expected  \(warning.expected)", in: r.cutTop(22), color: t.mutedText, style: .mono)
                ui.label("Presented \(warning.actual)", in: r.cutTop(22), color: t.warning, style: .mono)
                _ = r.cutTop(6)
                for line in TextWrap.lines("If the operator really re-created the server, check the new fingerprint with them and remove the old one from known_servers.", width: r.w, style: .small, metrics: ui.metrics) {
                    ui.label(line, in: r.cutTop(18), color: t.mutedText, style: .small)
                }
                var buttons = r.cutBottom(38)
                // Only a way out: nothing here connects anyway.
                if ui.button("Close", in: buttons.cutRight(110), style: .danger, idLabel: "warning-close") { dismissed = true }
            }
            if dismissed {
                keyChangedWarning = nil
                formError = "Not connected: the server's key has changed."
                focusFormNextFrame = true
            }
        }
    }
}
