import PhotosUI
import SwiftUI
import ZhangbanKit

/// A draft's form: one input per visible field, each edit saved by the core at once; the core's problems
/// under their fields; materials to attach, commit to or defer; submit when the core says complete.
@MainActor
struct FormView: View {
    @ObservedObject var form: DraftFormModel
    @EnvironmentObject var session: ZhangbanSession
    @Environment(\.dismiss) private var dismiss
    @State private var submitError: String?

    var body: some View {
        NavigationStack {
            Form {
                if let s = form.summary {
                    Text(lang.pick("已填 \(s.fieldsFilled) / \(s.fieldsTotal) 项", "\(s.fieldsFilled) of \(s.fieldsTotal) fields filled"))
                        .font(.caption)
                }
                if let e = form.error { Text(e.text(lang)).foregroundStyle(.red) }
                Section {
                    ForEach(form.fields, id: \.path) { f in
                        let readOnly = form.submittedCaseId != nil
                        FieldRow(field: f, issues: form.issues(for: f.path), readOnly: readOnly) { v in
                            form.set(f.path, v)
                        }
                        // A repeat group gets entries; a prefilled value the core marks as possibly out of
                        // date is confirmed (without these some drafts could never be completed).
                        if f.kind == "repeat" && !readOnly {
                            Button(lang.pick("添加一项", "Add an entry")) { form.addInstance(f.path) }
                        }
                        if f.confirm && !readOnly {
                            Button(lang.pick("确认无误", "Confirm")) { form.confirm(f.path) }
                                .accessibilityLabel(lang.pick("确认“\(f.label(lang))”仍然正确", "Confirm “\(f.label(lang))” is still right"))
                        }
                    }
                }
                Section {
                    ForEach(form.materials, id: \.code) { m in
                        MaterialRow(material: m, issues: form.issues(for: "material:" + m.code), form: form)
                    }
                }
                if let id = form.submittedCaseId {
                    Text(lang.pick("已提交，办件号 \(id)", "Submitted as case \(id)"))
                } else {
                    if let submitError { Text(submitError).foregroundStyle(.red) }
                    Button(lang.pick("提交", "Submit")) {
                        Task {
                            do {
                                try await session.submit(form)
                                dismiss()
                            } catch {
                                submitError = errorText(error, lang)
                            }
                        }
                    }
                    .disabled(!form.complete)
                }
            }
            .navigationTitle((try? form.draft.target()) ?? "")
            .toolbar { Button(lang.pick("关闭", "Close")) { dismiss() } }
        }
    }
}

@MainActor
private struct FieldRow: View {
    let field: FieldInfo
    let issues: [FormIssue]
    let readOnly: Bool
    let onChange: (Any?) -> Void
    @State private var text = ""

    private var isTextInput: Bool { !["bool", "choice", "repeat", "attachment", "multi_choice"].contains(field.kind) }

    var body: some View {
        let locked = readOnly || field.locked || field.computed
        VStack(alignment: .leading) {
            switch field.kind {
            case "bool":
                Toggle(field.label(lang), isOn: Binding(get: { field.valueJson == "true" }, set: { onChange($0) }))
                    .disabled(locked)
            case "choice":
                Picker(field.label(lang), selection: Binding(get: { field.displayValue }, set: { onChange($0) })) {
                    ForEach(field.options, id: \.self) { Text($0).tag($0) }
                }
                .disabled(locked)
            case "multi_choice":
                // One toggle per option; the value is the list of chosen options.
                let chosen = FormJSON.decode(field.valueJson) as? [String] ?? []
                Text(field.label(lang)).font(.headline)
                ForEach(field.options, id: \.self) { option in
                    Toggle(option, isOn: Binding(
                        get: { chosen.contains(option) },
                        set: { on in onChange(on ? chosen + [option] : chosen.filter { $0 != option }) }
                    ))
                    .disabled(locked)
                }
            case "repeat", "attachment":
                Text(field.label(lang)).font(.headline)
            default:
                // Every keystroke is sent; the core autosaves it and reports what is wrong.
                HStack {
                    if field.locked {
                        Image(systemName: "lock.fill").accessibilityHidden(true)
                    }
                    TextField(field.label(lang), text: $text)
                        .disabled(locked)
                        .onAppear { text = field.displayValue }
                        .onChange(of: text) { t in if t != field.displayValue { onChange(t) } }
                }
                if field.locked && field.source == "licence" {
                    // visibly locked, and why
                    Text(lang.pick("来自电子证照，不可修改", "From an e-licence; cannot be changed")).font(.caption)
                }
            }
            // A text box shows its problem once something is typed (an empty form is not all red).
            if let issue = issues.first, !isTextInput || !text.isEmpty {
                Text(issue.message(lang)).font(.caption).foregroundStyle(.red)
            }
        }
    }
}

@MainActor
private struct MaterialRow: View {
    let material: MaterialInfo
    let issues: [FormIssue]
    @ObservedObject var form: DraftFormModel
    @State private var picked: PhotosPickerItem?

    var body: some View {
        VStack(alignment: .leading) {
            Text(material.name(lang))
            Text(material.statusText(lang)).font(.caption)
            if let issue = issues.first { Text(issue.message(lang)).font(.caption).foregroundStyle(.red) }
            if material.blocks || ["deferrable", "commitment", "optional"].contains(material.status) {
                HStack {
                    PhotosPicker(lang.pick("上传", "Attach"), selection: $picked, matching: .images)
                    if material.status == "commitment" {
                        Button(lang.pick("签署告知承诺", "Sign a commitment")) { form.commitMaterial(material.code) }
                    }
                    if material.status == "deferrable" {
                        Button(lang.pick("容缺后补", "Supply later")) { form.deferMaterial(material.code) }
                    }
                }
                .buttonStyle(.borderless)
            }
        }
        .onChange(of: picked) { item in
            guard let item else { return }
            Task {
                if let data = try? await item.loadTransferable(type: Data.self) {
                    await form.attach(material.code, name: material.code + ".jpg", data: data)
                }
            }
        }
    }
}
