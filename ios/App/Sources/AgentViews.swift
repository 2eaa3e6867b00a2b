import PhotosUI
import SwiftUI
import ZhangbanKit

/// Agent mode (帮办代办) on the agent's phone, matching android/ui's AgentScreens.kt: the home (every
/// principal with what each needs now), door intake for a principal without a phone, a principal's page with
/// the banner saying whose data is shown, their draft (FormView, every edit checked by the core), and the
/// summary the principal confirms before the agent submits. Every rule and every word about the principal's
/// data comes from the core; a refused action shows the core's PermissionDenied text.
@MainActor
struct AgentHomeView: View {
    @ObservedObject var model: AgentModel
    @State private var error: String?
    @State private var doorOpen = false
    @State private var delegationCode = ""
    /// The principal just accepted from a delegation code: their page opens at once (as on Android).
    @State private var opened: String?

    var body: some View {
        NavigationStack {
            List {
                Section(String(localized: "Scan a principal's delegation code")) {
                    // The principal's code, scanned with the camera or its text pasted: the same `accept`. The core
                    // verifies it offline (signature, agent key, validity, revocation) and says why it refuses.
                    ScanCodeButton(title: String(localized: "Scan with the camera")) { scanned in accept(scanned) }
                    TextField(String(localized: "The text of the delegation code (ZBD1:…)"), text: $delegationCode)
                    Button(String(localized: "Next")) { accept(delegationCode) }
                        .disabled(delegationCode.isEmpty)
                }
                Button(String(localized: "Door intake (principal without a phone)")) { doorOpen = true }
                NavigationLink(String(localized: "My agent card")) { AgentCardView(model: model) }
                // Under the actions: an error that arrives after the first frame pushes no button down (ADR 0040).
                if let error { Text(error).foregroundStyle(.red) }
                ForEach(model.principals, id: \.subject) { p in
                    NavigationLink {
                        PrincipalDetailView(model: model, subject: p.subject)
                    } label: {
                        VStack(alignment: .leading) {
                            Text("\(p.name)  \(p.idMasked)").font(.headline)
                            Text(lang.pick(p.needsNow))
                            Text(lang.pick(p.assuranceText)).font(.caption)
                        }
                    }
                }
            }
            .overlay {
                if model.principals.isEmpty {
                    Text(String(localized: "No principals yet: scan a delegation, or start a door intake."))
                }
            }
            .navigationTitle(String(localized: "Agent mode: my principals"))
            // (isPresented, not item: the app targets iOS 16.)
            .navigationDestination(isPresented: Binding(get: { opened != nil }, set: { if !$0 { opened = nil } })) {
                if let subject = opened { PrincipalDetailView(model: model, subject: subject) }
            }
            .task { await load() }
            .sheet(isPresented: $doorOpen, onDismiss: { Task { await load() } }) { DoorIntakeView(model: model) }
        }
    }

    private func load() async {
        do {
            try await model.refresh()
        } catch {
            self.error = errorText(error, lang)
        }
    }

    /// The scanned (or pasted) delegation: kept by the core after its offline check, then that principal's page.
    private func accept(_ code: String) {
        let text = code.trimmingCharacters(in: .whitespacesAndNewlines)
        Task {
            do {
                let line = try await model.scanDelegation(text)
                error = nil
                delegationCode = ""
                opened = line.subject
            } catch {
                self.error = errorText(error, lang)
            }
        }
    }
}

/// On every page for a principal: whose data this is (the core's words) and what they need now.
struct PrincipalBannerView: View {
    let view: PrincipalView

    var body: some View {
        VStack(alignment: .leading) {
            Text(lang.pick(view.banner)).font(.subheadline.bold())
            Text(lang.pick(view.line.needsNow)).font(.caption)
        }
        .padding(12)
        .frame(maxWidth: .infinity, alignment: .leading)
        .background(Color.orange.opacity(0.2))
    }
}

/// A principal's page after switching to them (one audited call): banner, what the mandate covers, drafts, cases.
@MainActor
struct PrincipalDetailView: View {
    @ObservedObject var model: AgentModel
    let subject: String
    @State private var view: PrincipalView?
    @State private var form: DraftFormModel?
    @State private var reviewing = false
    @State private var error: String?

    var body: some View {
        List {
            if let v = view {
                PrincipalBannerView(view: v)
                Section(String(localized: "May apply for")) {
                    ForEach(v.items, id: \.code) { item in
                        Button("Start: \(lang.pick(item.name))") {
                            Task { await open { try await model.startDraft(subject: subject, target: item.code) } }
                        }
                    }
                }
                let open = v.drafts.filter { !$0.submitted }
                if !open.isEmpty {
                    Section(String(localized: "Unfinished applications")) {
                        ForEach(open, id: \.id) { d in
                            Button(v.items.first { $0.code == d.target }.map { lang.pick($0.name) } ?? d.target) {
                                Task { await self.open { try await model.resumeDraft(subject: subject, draftId: d.id) } }
                            }
                        }
                    }
                }
                if !v.cases.isEmpty {
                    Section(String(localized: "Cases")) {
                        ForEach(v.cases, id: \.id) { c in
                            VStack(alignment: .leading) {
                                Text(lang.pick(c.title)).font(.headline)
                                Text(lang.pick(c.stateText))
                                if let r = c.receipt { Text("Receipt \(r)").font(.caption) }
                            }
                        }
                    }
                }
            }
            if let error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(view?.line.name ?? "")
        .task { load() }
        .sheet(item: $form, onDismiss: { load() }) { f in
            if let v = view {
                if reviewing {
                    AgentSummaryView(model: model, view: v, form: f)
                } else {
                    FormView(
                        form: f,
                        banner: v,
                        attach: { code, data in
                            do {
                                try model.attach(form: f, subject: subject, code: code, name: code + ".jpg", data: data)
                            } catch {
                                self.error = errorText(error, lang)
                            }
                        },
                        review: { reviewing = true }
                    )
                }
            }
        }
    }

    private func load() {
        do {
            view = try model.agent.switchPrincipal(principal: subject)
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func open(_ make: () async throws -> DraftFormModel) async {
        do {
            reviewing = false
            form = try await make()
        } catch {
            self.error = errorText(error, lang)
        }
    }
}

/// The summary the principal reads in large text; they sign (a picture of the signature) and the agent submits.
@MainActor
struct AgentSummaryView: View {
    @ObservedObject var model: AgentModel
    let view: PrincipalView
    @ObservedObject var form: DraftFormModel
    @Environment(\.dismiss) private var dismiss
    @State private var summary: ZhangbanKit.Text?
    @State private var signature: PhotosPickerItem?
    @State private var confirmed = false
    @State private var error: String?

    var body: some View {
        ScrollView {
            VStack(alignment: .leading, spacing: 16) {
                PrincipalBannerView(view: view)
                Text(String(localized: "The principal checks this")).font(.headline)
                if let summary { Text(lang.pick(summary)).font(.title2) }
                if let error { Text(error).foregroundStyle(.red) }
                if confirmed {
                    Text(String(localized: "The principal confirmed")).font(.headline)
                } else {
                    PhotosPicker(String(localized: "The principal signs to confirm"), selection: $signature, matching: .images)
                }
                Button(String(localized: "Submit for the principal")) {
                    Task {
                        do {
                            _ = try await model.submit(subject: view.line.subject, form: form)
                            dismiss()
                        } catch {
                            self.error = errorText(error, lang)
                        }
                    }
                }
                .disabled(!confirmed)
            }
            .padding()
        }
        .task {
            do {
                summary = try model.summary(subject: view.line.subject, form: form)
            } catch {
                self.error = errorText(error, lang)
            }
        }
        .onChange(of: signature) { item in
            guard let item else { return }
            Task {
                guard let data = try? await item.loadTransferable(type: Data.self) else { return }
                do {
                    let id = try model.photo(subject: view.line.subject, name: "signature.png", data: data)
                    _ = try model.confirm(subject: view.line.subject, form: form, signatureImage: id, phoneSignature: nil)
                    confirmed = true
                } catch {
                    self.error = errorText(error, lang)
                }
            }
        }
    }
}

/// Door intake for a principal without a phone: who, the three pictures (under their own key), the items
/// offered at home, the summary read out (the core's words); the consent is signed by this phone's key.
@MainActor
struct DoorIntakeView: View {
    @ObservedObject var model: AgentModel
    @Environment(\.dismiss) private var dismiss
    @State private var name = ""
    @State private var idNumber = ""
    @State private var subject: String?
    @State private var pictures: [String: String] = [:]
    @State private var items: [ScopeItem] = []
    @State private var chosen: [String] = []
    @State private var summary: ZhangbanKit.Text?
    @State private var error: String?

    var body: some View {
        NavigationStack {
            Form {
                if let error { Text(error).foregroundStyle(.red) }
                if let subject {
                    Text(name).font(.headline)
                    ForEach(kinds, id: \.0) { kind, label in
                        PictureRow(label: label, done: pictures[kind] != nil) { data in
                            do {
                                pictures[kind] = try model.agent.capture(principal: subject, name: kind + ".jpg", bytes: data)
                            } catch {
                                self.error = errorText(error, lang)
                            }
                        }
                    }
                    Section(String(localized: "Items to apply for (offered at home)")) {
                        ForEach(items, id: \.code) { item in
                            Toggle(lang.pick(item.name), isOn: Binding(
                                get: { chosen.contains(item.code) },
                                set: { on in
                                    chosen = on ? chosen + [item.code] : chosen.filter { $0 != item.code }
                                    loadSummary(subject)
                                }
                            ))
                        }
                    }
                    if let summary {
                        Section(String(localized: "Read this out to the principal (large text):")) {
                            Text(lang.pick(summary)).font(.title2)
                        }
                    }
                    Button(String(localized: "The principal agreed: save the door consent")) { save(subject) }
                        .disabled(summary == nil || pictures.count < 3)
                } else {
                    TextField(String(localized: "Principal's name"), text: $name)
                    TextField(String(localized: "Principal's ID number"), text: $idNumber)
                    Button(String(localized: "Start the door intake")) { Task { await start() } }
                }
            }
            .navigationTitle(String(localized: "Door intake"))
            .toolbar { Button(String(localized: "Close")) { dismiss() } }
        }
    }

    private var kinds: [(String, String)] {
        [("id_photo", String(localized: "Photograph the ID card")),
         ("principal_photo", String(localized: "Photograph the principal")),
         ("signature", String(localized: "The principal's signature"))]
    }

    private func start() async {
        do {
            subject = try await model.openDoorIntake(name: name, idNumber: idNumber).subject
            items = try model.doorItems()
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func loadSummary(_ subject: String) {
        summary = nil
        guard !chosen.isEmpty else { return }
        do {
            summary = try model.doorSummary(subject: subject, items: chosen)
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func save(_ subject: String) {
        guard let summary, let id = pictures["id_photo"], let photo = pictures["principal_photo"],
              let sig = pictures["signature"] else { return }
        let input = DoorConsentInput(items: chosen, idPhoto: id, principalPhoto: photo, signature: sig,
                                     summary: summary.zh, validDays: nil, singleUse: false)
        Task {
            do {
                _ = try await model.doorConsent(subject: subject, input: input)
                dismiss()
            } catch {
                self.error = errorText(error, lang)
            }
        }
    }
}

/// One picture of the door intake (the camera or the photo library on a phone).
private struct PictureRow: View {
    let label: String
    let done: Bool
    let onPicked: (Data) -> Void
    @State private var picked: PhotosPickerItem?

    var body: some View {
        if done {
            Text("\(label) · \(String(localized: "captured"))")
        } else {
            PhotosPicker(label, selection: $picked, matching: .images)
                .onChange(of: picked) { item in
                    guard let item else { return }
                    Task {
                        if let data = try? await item.loadTransferable(type: Data.self) { onPicked(data) }
                    }
                }
        }
    }
}

/// 我的帮办员证 (as android/ui's AgentCardScreen): the `ZBA1:` code a principal scans before she delegates, with the
/// name and organisation it carries; on a phone without a certificate, the registration with the platform.
@MainActor
struct AgentCardView: View {
    @ObservedObject var model: AgentModel
    @State private var loaded = false
    @State private var card: AgentCard?
    @State private var text: String?
    @State private var name = ""
    @State private var orgCode = ""
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        List {
            if let card, let text {
                // Accesses the platform refused for good (ADR 0045), worded by the core: first, seen at large text too.
                if let notDelivered = card.notDelivered {
                    Section { Text(lang.pick(notDelivered)).foregroundStyle(.red) }
                }
                Section(String(localized: "Let the principal scan this code with their phone, then authorise you.")) {
                    if let image = qrCodeImage(text) {
                        Image(uiImage: image).interpolation(.none).resizable().scaledToFit()
                            .accessibilityLabel(String(localized: "My agent card"))
                    }
                    Text(card.certificate.name).font(.title2.bold())
                    Text(card.certificate.orgName).font(.title3)
                    Text(lang.pick(card.validText))
                }
            } else if loaded {
                Section(String(localized: "Register as an agent")) {
                    Text(String(localized: "This phone has no agent card yet. Enter your name and your organisation's code as it registered you; the platform checks them and issues the card."))
                    TextField(String(localized: "Name"), text: $name)
                    TextField(String(localized: "Organisation's unified social credit code"), text: $orgCode)
                    Button(String(localized: "Register")) { register() }
                        .disabled(busy || name.isEmpty || orgCode.isEmpty)
                }
            }
            // Under the actions: an error that arrives pushes nothing down.
            if let error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(String(localized: "My agent card"))
        .task { load() }
    }

    private func load() {
        do {
            card = try model.card()
            text = card == nil ? nil : try model.certificateQR()
        } catch {
            self.error = errorText(error, lang)
        }
        loaded = true
    }

    private func register() {
        busy = true
        Task {
            do {
                _ = try await model.register(name: name.trimmingCharacters(in: .whitespaces),
                                             orgCode: orgCode.trimmingCharacters(in: .whitespaces))
                error = nil
                load()
            } catch {
                self.error = errorText(error, lang)
            }
            busy = false
        }
    }
}
