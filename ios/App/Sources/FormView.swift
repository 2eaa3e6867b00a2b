import PhotosUI
import SwiftUI
import ZhangbanKit

/// A draft's form: one input per visible field, each edit saved by the core at once; the core's problems
/// under their fields; materials to attach, commit to or defer; submit when the core says complete.
/// Agent mode reuses it for a principal's draft: `banner` says whose data it is, `attach` writes a photo
/// under the principal's key, and `review` (the principal's confirmation) replaces submitting.
@MainActor
struct FormView: View {
    @ObservedObject var form: DraftFormModel
    var banner: PrincipalView? = nil
    var attach: ((String, Data) -> Void)? = nil
    var review: (() -> Void)? = nil
    @EnvironmentObject var session: ZhangbanSession
    @Environment(\.dismiss) private var dismiss
    @State private var submitError: String?

    var body: some View {
        NavigationStack {
            Form {
                if let banner { PrincipalBannerView(view: banner) }
                if let s = form.state?.summary {
                    Text(lang.pick(s.filledText)) // worded by the core
                        .font(.caption)
                }
                if let e = form.error { Text(e.text(lang)).foregroundStyle(.red) }
                Section {
                    ForEach(form.state?.fields ?? [], id: \.path) { f in
                        let readOnly = form.state?.submittedCase != nil
                        FieldRow(field: f) { v in form.set(f.path, v) }
                        // A repeat group gets entries; a prefilled value the core marks as possibly out of
                        // date is confirmed (without these some drafts could never be completed).
                        if f.kind == .repeat && !readOnly {
                            Button(String(localized: "Add an entry")) { form.addInstance(f.path) }
                        }
                        if f.confirm && !readOnly {
                            Button(String(localized: "Confirm")) { form.confirm(f.path) }
                                .accessibilityLabel(Text("Confirm “\(lang.pick(f.label))” is still right"))
                        }
                    }
                }
                Section {
                    ForEach(form.state?.materials ?? [], id: \.code) { m in
                        MaterialRow(material: m, issues: form.issues(for: "material:" + m.code), form: form, attach: attach)
                    }
                }
                if let review, form.state?.submittedCase == nil {
                    Button(String(localized: "Review with the principal")) { review() }
                        .disabled(form.state?.complete != true)
                } else if let id = form.state?.submittedCase {
                    Text("Submitted as case \(id)")
                } else {
                    if let submitError { Text(submitError).foregroundStyle(.red) }
                    Button(String(localized: "Submit")) {
                        Task {
                            do {
                                try await session.submit(form)
                                dismiss()
                            } catch {
                                submitError = errorText(error, lang)
                            }
                        }
                    }
                    .disabled(form.state?.complete != true)
                }
            }
            .navigationTitle(form.state?.target ?? "")
            .toolbar { Button(String(localized: "Close")) { dismiss() } }
        }
    }
}

@MainActor
private struct FieldRow: View {
    let field: FieldState
    let onChange: (Any?) -> Void
    @State private var text = ""

    private var isTextInput: Bool { ![.bool, .choice, .repeat, .attachment, .multiChoice].contains(field.kind) }

    var body: some View {
        // Whether it can be changed, and why not, is the core's (a licence, computed, submitted).
        let locked = !field.editable
        let label = lang.pick(field.label)
        VStack(alignment: .leading) {
            switch field.kind {
            case .bool:
                Toggle(label, isOn: Binding(get: { field.value == "true" }, set: { onChange($0) }))
                    .disabled(locked)
            case .choice:
                Picker(label, selection: Binding(get: { FormJSON.decode(field.value) as? String ?? "" }, set: { onChange($0) })) {
                    ForEach(field.options, id: \.value) { Text(lang.pick($0.label)).tag($0.value) }
                }
                .disabled(locked)
            case .multiChoice:
                // One toggle per option; the value is the list of chosen option values.
                let chosen = FormJSON.decode(field.value) as? [String] ?? []
                Text(label).font(.headline)
                ForEach(field.options, id: \.value) { option in
                    Toggle(lang.pick(option.label), isOn: Binding(
                        get: { chosen.contains(option.value) },
                        set: { on in onChange(on ? chosen + [option.value] : chosen.filter { $0 != option.value }) }
                    ))
                    .disabled(locked)
                }
            case .repeat, .attachment:
                Text(label).font(.headline)
            default:
                // Every keystroke is sent; the core autosaves it and reports what is wrong.
                HStack {
                    if locked {
                        Image(systemName: "lock.fill").accessibilityHidden(true)
                    }
                    TextField(label, text: $text)
                        .disabled(locked)
                        .onAppear { text = lang.pick(field.display) }
                        .onChange(of: text) { t in if t != lang.pick(field.display) { onChange(t) } }
                }
            }
            if let why = field.lockReason { Text(lang.pick(why)).font(.caption) }
            // A text box shows its problem once something is typed (an empty form is not all red).
            if let issue = field.issues.first, !isTextInput || !text.isEmpty {
                Text(lang.pick(issue.message)).font(.caption).foregroundStyle(.red)
            }
        }
    }
}

@MainActor
private struct MaterialRow: View {
    let material: MaterialState
    let issues: [Issue]
    @ObservedObject var form: DraftFormModel
    let attach: ((String, Data) -> Void)?
    @State private var picked: PhotosPickerItem?

    var body: some View {
        VStack(alignment: .leading) {
            Text(lang.pick(material.name))
            Text(lang.pick(material.statusText)).font(.caption)
            if let issue = issues.first { Text(lang.pick(issue.message)).font(.caption).foregroundStyle(.red) }
            // The actions allowed are the core's.
            HStack {
                ForEach(material.actions, id: \.self) { action in
                    switch action {
                    case .attach:
                        PhotosPicker(String(localized: "Attach"), selection: $picked, matching: .images)
                    case .commit:
                        Button(String(localized: "Sign a commitment")) { form.commitMaterial(material.code) }
                    case .defer:
                        Button(String(localized: "Supply later")) { form.deferMaterial(material.code) }
                    case .clear:
                        Button(String(localized: "Undo")) { form.clearMaterial(material.code) }
                    }
                }
            }
            .buttonStyle(.borderless)
        }
        .onChange(of: picked) { item in
            guard let item else { return }
            Task {
                if let data = try? await item.loadTransferable(type: Data.self) {
                    if let attach {
                        attach(material.code, data)
                    } else {
                        await form.attach(material.code, name: material.code + ".jpg", data: data)
                    }
                }
            }
        }
    }
}
