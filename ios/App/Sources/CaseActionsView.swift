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
            Section(lang.pick("补正材料", "Supply what was asked for")) {
                Button(lang.pick("上传", "Attach")) { importing = true }
                ForEach(attached, id: \.id) { f in Text(lang.pick("已附：\(f.name)", "Attached: \(f.name)")).font(.caption) }
                TextField(lang.pick("补充说明（可不填）", "A note (optional)"), text: $note)
                Button(lang.pick("提交补正", "Send the supplement")) {
                    let ids = attached.map(\.id)
                    let n = note
                    act(lang.pick("补正材料已保存，将随同步发送。", "Supplement saved: it goes with the next sync.")) {
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
            Section(lang.pick("平台退回了这次提交", "The platform sent this submission back")) {
                if let p = view.summary.problem { Text(p).foregroundStyle(.red) }
                if a.resubmit {
                    Button(lang.pick("重新提交", "Send it again")) {
                        act(lang.pick("已重新提交，将随同步发送。", "Sent again: it goes with the next sync.")) {
                            _ = try cases.resubmit(caseId: id, values: nil, replaceValues: false, itemCodes: nil, attachmentIds: nil)
                        }
                    }
                }
                if a.discard {
                    let why = lang.pick("申请人放弃办理", "The applicant gave it up")
                    Button(lang.pick("放弃办理", "Give it up"), role: .destructive) {
                        act(lang.pick("已放弃办理。", "Given up.")) { _ = try cases.discardRefused(caseId: id, reason: why) }
                    }
                }
            }
        }
        if a.rate {
            Section(lang.pick("评价本次办理（好差评）", "Rate this service")) {
                Picker(lang.pick("评价", "Rating"), selection: $levelIndex) {
                    ForEach(Array(choices.enumerated()), id: \.offset) { i, r in Text(lang.pick(r.label)).tag(Optional(i)) }
                }
                let needsReason = levelIndex.map { choices[$0].needsReason } ?? false
                TextField(needsReason ? lang.pick("请填写不满意的原因", "Please say what went wrong") : lang.pick("评价说明（可不填）", "Why (optional)"), text: $reason)
                Button(lang.pick("提交评价", "Send the rating")) {
                    guard let i = levelIndex else { return }
                    let level = choices[i].level
                    let r = reason.isEmpty ? nil : reason
                    act(lang.pick("评价已提交，谢谢。", "Rating sent. Thank you.")) { try cases.rate(caseId: id, level: level, reason: r) }
                }
                .disabled(levelIndex == nil)
            }
        }
        if a.complain {
            Section(lang.pick("投诉（办不成事反映）", "Complain")) {
                TextField(lang.pick("遇到了什么问题", "What went wrong"), text: $complaint)
                Button(lang.pick("提交投诉", "Send the complaint")) {
                    let text = complaint
                    act(lang.pick("投诉已提交，将随同步发送。", "Complaint saved: it goes with the next sync.")) {
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
