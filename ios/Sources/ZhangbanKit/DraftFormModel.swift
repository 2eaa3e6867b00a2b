import Foundation

/// A form screen's view of one draft: visible fields, the fill summary, every problem at once and the
/// materials, republished after each edit. Every edit is saved (encrypted) by the core before the call
/// returns; a refused edit throws `ZhangbanError.Validation` naming the field and leaves the draft as it was.
/// Nothing here decides what is required, valid or visible.
@MainActor
public final class DraftFormModel: ObservableObject, Identifiable {
    public let draft: ZhangbanDraft
    private let store: ZhangbanStore

    @Published public private(set) var fields: [FieldInfo] = []
    @Published public private(set) var issues: [FormIssue] = []
    @Published public private(set) var materials: [MaterialInfo] = []
    @Published public private(set) var summary: FillSummary?
    @Published public private(set) var complete = false
    @Published public private(set) var submittedCaseId: String?
    @Published public private(set) var error: ZhangbanError?

    public nonisolated let id: String

    init(store: ZhangbanStore, draft: ZhangbanDraft) {
        self.store = store
        self.draft = draft
        self.id = (try? draft.id()) ?? UUID().uuidString
        reload()
    }

    public func reload() {
        do {
            fields = try draft.fields().filter { $0.visible }
            issues = try draft.validate()
            materials = try draft.materials()
            summary = try draft.summary()
            complete = try draft.isComplete()
            submittedCaseId = try draft.submittedCaseId()
        } catch let e as ZhangbanError {
            error = e
        } catch {}
    }

    public func issues(for path: String) -> [FormIssue] { issues.filter { $0.path == path } }

    private func edit(_ change: () throws -> Void) {
        do {
            try change()
            error = nil
        } catch let e as ZhangbanError {
            error = e
        } catch {}
        reload()
    }

    /// Sets a field (`nil` clears it): the text as typed, a Bool, a choice, or an array of choices.
    public func set(_ path: String, _ value: Any?) {
        edit { try draft.set(path: path, valueJson: try FormJSON.encode(value)) }
    }

    public func confirm(_ path: String) { edit { try draft.confirm(path: path) } }
    public func addInstance(_ group: String) { edit { _ = try draft.addInstance(group: group) } }
    /// Signs a commitment (告知承诺) instead of material `code`, where the item allows it.
    public func commitMaterial(_ code: String) { edit { try draft.commitMaterial(code: code) } }
    /// Supplies material `code` later (容缺), where the item allows it.
    public func deferMaterial(_ code: String) { edit { try draft.deferMaterial(code: code) } }

    /// Encrypts `data` into the store and attaches it as material `code`.
    public func attach(_ code: String, name: String, data: Data) {
        edit {
            let a = try store.writeAttachment(subject: selfSubject(), name: name, data: data)
            try draft.attachMaterial(code: code, attachmentId: a.id)
        }
    }
}
