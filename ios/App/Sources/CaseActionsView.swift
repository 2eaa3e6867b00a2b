import SwiftUI
import UniformTypeIdentifiers
import ZhangbanKit

/// What the person can do with a case now, as the core's `CaseActions` allow: 补正 (attach what was asked and
/// send it), resend or give up a submission the platform refused, 好差评 after completion (the levels and
/// their words from the core), a complaint. The core checks every call; its error is shown under the section.
/// Calls run off the main actor. (The Compose twin: CasesScreen.kt `CaseActionsPanel`.)
@MainActor
struct CaseActionsSection: View {
    let view: CaseView
    let done: () -> Void
    @EnvironmentObject var session: ZhangbanSession
    @State private var attached: [AttachmentInfo] = []
    @State private var importing = false
    @State private var note = ""
    @State private var complaint = ""
    @State private var levelIndex: Int?
    @State private var reason = ""
    @State private var message: String?
    @State private var error: String?
    private let choices = ratingChoices()

    var body: some View {
        let a = view.actions
        let id = view.summary.id
        let cases = session.cases
        if a.supplement {
            Section(String(localized: "Supply what was asked for")) {
                Button(String(localized: "Attach")) { importing = true }
                ForEach(attached, id: \.id) { f in Text("Attached: \(f.name)").font(.caption) }
                TextField(String(localized: "A note (optional)"), text: $note)
                Button(String(localized: "Send the supplement")) {
                    let ids = attached.map(\.id)
                    let n = note
                    act(String(localized: "Supplement saved: it goes with the next sync.")) {
                        try cases.supply(caseId: id, values: "{}", attachmentIds: ids, note: n)
                    }
                    attached = []
                    note = ""
                }
                .disabled(attached.isEmpty && note.isEmpty)
            }
            .fileImporter(isPresented: $importing, allowedContentTypes: [.data]) { result in
                if case .success(let url) = result { attach(url) }
            }
        }
        if a.resubmit || a.discard {
            Section(String(localized: "The platform sent this submission back")) {
                if let p = view.summary.problem { Text(lang.pick(p)).foregroundStyle(.red) }
                if a.resubmit {
                    Button(String(localized: "Send it again")) {
                        act(String(localized: "Sent again: it goes with the next sync.")) {
                            _ = try cases.resubmit(caseId: id, values: nil, replaceValues: false, itemCodes: nil, attachmentIds: nil)
                        }
                    }
                }
                if a.discard {
                    let why = String(localized: "The applicant gave it up")
                    Button(String(localized: "Give it up"), role: .destructive) {
                        act(String(localized: "Given up.")) { _ = try cases.discardRefused(caseId: id, reason: why) }
                    }
                }
            }
        }
        if a.rate {
            Section(String(localized: "Rate this service")) {
                Picker(String(localized: "Rating"), selection: $levelIndex) {
                    ForEach(Array(choices.enumerated()), id: \.offset) { i, r in Text(lang.pick(r.label)).tag(Optional(i)) }
                }
                let needsReason = levelIndex.map { choices[$0].needsReason } ?? false
                TextField(needsReason ? String(localized: "Please say what went wrong") : String(localized: "Why (optional)"), text: $reason)
                Button(String(localized: "Send the rating")) {
                    guard let i = levelIndex else { return }
                    let level = choices[i].level
                    let r = reason.isEmpty ? nil : reason
                    act(String(localized: "Rating sent. Thank you.")) { try cases.rate(caseId: id, level: level, reason: r) }
                }
                .disabled(levelIndex == nil)
            }
        }
        if a.complain {
            Section(String(localized: "Complain")) {
                TextField(String(localized: "What went wrong"), text: $complaint)
                Button(String(localized: "Send the complaint")) {
                    let text = complaint
                    act(String(localized: "Complaint saved: it goes with the next sync.")) {
                        _ = try cases.complain(caseId: id, text: text)
                    }
                    complaint = ""
                }
                .disabled(complaint.isEmpty)
            }
        }
        if let error { Text(error).foregroundStyle(.red) }
        if let message { Text(message).foregroundStyle(.tint) }
    }

    /// Runs [call] off the main actor; the core's error is shown, else [msg], and the case is reloaded.
    private func act(_ msg: String, _ call: @escaping @Sendable () throws -> Void) {
        Task {
            do {
                try await Task.detached(priority: .userInitiated) { try call() }.value
                error = nil
                message = msg
                await session.refresh()
                done()
            } catch {
                self.error = errorText(error, lang)
            }
        }
    }

    /// Encrypts a picked file into the store as an attachment of the case's subject (read inside the
    /// security-scoped access a picked file needs).
    private func attach(_ url: URL) {
        let scoped = url.startAccessingSecurityScopedResource()
        defer { if scoped { url.stopAccessingSecurityScopedResource() } }
        do {
            let data = try Data(contentsOf: url)
            attached.append(try session.store.writeAttachment(subject: view.summary.subject, name: url.lastPathComponent, data: data))
        } catch {
            self.error = errorText(error, lang)
        }
    }
}
