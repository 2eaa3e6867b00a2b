import Foundation

/// A form screen's view of one draft: the core's `DraftState` (visible fields with display text,
/// editability and lock reason, every problem at once, the materials with the actions allowed, the summary),
/// republished after each edit. Every edit is one FFI call that saves it (encrypted) and returns the new
/// state; a refused edit throws `ZhangbanError.Validation` naming the field and leaves the draft as it was.
/// Nothing here decides what is required, valid, visible or editable.
@MainActor
public final class DraftFormModel: ObservableObject, Identifiable {
    public let draft: ZhangbanDraft
    private let store: ZhangbanStore

    @Published public private(set) var state: DraftState?
    @Published public private(set) var error: ZhangbanError?

    public nonisolated let id: String

    init(store: ZhangbanStore, draft: ZhangbanDraft) {
        self.store = store
        self.draft = draft
        let first = try? draft.state()
        self.id = first?.id ?? UUID().uuidString
        self.state = first
    }

    public func reload() { edit { try draft.state() } }

    public func issues(for path: String) -> [Issue] { state?.issues.filter { $0.path == path } ?? [] }

    private func edit(_ change: () throws -> DraftState) {
        do {
            state = try change()
            error = nil
        } catch let e as ZhangbanError {
            error = e
        } catch {}
    }

    /// Sets a field (`nil` clears it): the text as typed, a Bool, a choice, or an array of choices.
    public func set(_ path: String, _ value: Any?) {
        edit { try draft.set(path: path, value: try FormJSON.encode(value)) }
    }

    public func confirm(_ path: String) { edit { try draft.confirm(path: path) } }
    public func addInstance(_ group: String) { edit { try draft.addInstance(group: group) } }
    /// Signs a commitment (告知承诺) instead of material `code`, where the item allows it.
    public func commitMaterial(_ code: String) { edit { try draft.commitMaterial(code: code) } }
    /// Supplies material `code` later (容缺), where the item allows it.
    public func deferMaterial(_ code: String) { edit { try draft.deferMaterial(code: code) } }
    public func clearMaterial(_ code: String) { edit { try draft.clearMaterial(code: code) } }

    /// Attaches material `code` already written to the store (an agent's photo for a principal: `AgentModel.attach`).
    public func attachMaterial(_ code: String, attachmentId: String) {
        edit { try draft.attachMaterial(code: code, attachmentId: attachmentId) }
    }

    /// Encrypts `data` into the store and attaches it as material `code`.
    public func attach(_ code: String, name: String, data: Data) {
        edit {
            let a = try store.writeAttachment(subject: selfSubject(), name: name, data: data)
            return try draft.attachMaterial(code: code, attachmentId: a.id)
        }
    }
}
