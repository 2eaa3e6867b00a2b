import Foundation

/// A form screen's view of one draft: the core's `DraftState` (visible fields with display text,
/// editability and lock reason, every problem at once, the materials with the actions allowed, the summary),
/// republished after each edit. Every edit is one FFI call that saves it (encrypted) and returns the new
/// state; a refused edit throws `ZhangbanError.Validation` naming the field and leaves the draft as it was.
/// Nothing here decides what is required, valid, visible or editable. The calls run off the main actor, one
/// after another in the order typed (a keystroke never waits on the store on the main thread, and an older
/// keystroke never lands after a newer one); the state is republished on the main actor.
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

    public func reload() { let d = draft; edit { try d.state() } }

    public func issues(for path: String) -> [Issue] { state?.issues.filter { $0.path == path } ?? [] }

    /// The edit queued last: each edit waits for the one before it.
    private var last: Task<Void, Never>?

    private func edit(_ change: @escaping @Sendable () throws -> DraftState) {
        let before = last
        last = Task { @MainActor [weak self] in
            await before?.value
            let result = await Task.detached(priority: .userInitiated) { Result { try change() } }.value
            guard let self else { return }
            switch result {
            case .success(let s):
                self.state = s
                self.error = nil
            case .failure(let e as ZhangbanError):
                self.error = e
            case .failure:
                break
            }
        }
    }

    /// Sets a field (`nil` clears it): the text as typed, a Bool, a choice, or an array of choices.
    public func set(_ path: String, _ value: Any?) {
        let draft = self.draft
        do {
            let json = try FormJSON.encode(value)
            edit { try draft.set(path: path, value: json) }
        } catch {}
    }

    public func confirm(_ path: String) { let d = draft; edit { try d.confirm(path: path) } }
    public func addInstance(_ group: String) { let d = draft; edit { try d.addInstance(group: group) } }
    /// Signs a commitment (告知承诺) instead of material `code`, where the item allows it.
    public func commitMaterial(_ code: String) { let d = draft; edit { try d.commitMaterial(code: code) } }
    /// Supplies material `code` later (容缺), where the item allows it.
    public func deferMaterial(_ code: String) { let d = draft; edit { try d.deferMaterial(code: code) } }
    public func clearMaterial(_ code: String) { let d = draft; edit { try d.clearMaterial(code: code) } }

    /// Attaches material `code` already written to the store (an agent's photo for a principal: `AgentModel.attach`).
    public func attachMaterial(_ code: String, attachmentId: String) {
        let d = draft
        edit { try d.attachMaterial(code: code, attachmentId: attachmentId) }
    }

    /// Encrypts `data` into the store and attaches it as material `code`.
    public func attach(_ code: String, name: String, data: Data) {
        let (d, store) = (draft, self.store)
        edit {
            let a = try store.writeAttachment(subject: selfSubject(), name: name, data: data)
            return try d.attachMaterial(code: code, attachmentId: a.id)
        }
    }

    /// Waits for the edits queued so far (before submitting: the last keystroke is in the draft).
    public func settled() async { await last?.value }
}
