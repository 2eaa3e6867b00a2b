import SwiftUI
import UIKit
import ZhangbanKit

/// The principal's own phone (委托人, often elderly), or a family member's, matching android/ui's
/// PrincipalScreens.kt: who may act for them and what each may do, revoking one (asked twice), what agents
/// did for them (entries the platform signed), and authorising an agent: the agent's `ZBA1:` code, the items,
/// the actions, which elements of which licences (each with its value), how long; the sentence the core words;
/// sign; show the `ZBD1:` code. Big type, plain words; every sentence about the delegation is the core's.
@MainActor
struct PrincipalHomeView: View {
    let model: PrincipalModel
    @State private var home: PrincipalHome?
    @State private var error: String?
    @State private var agentCode = ""
    @State private var delegating: String?
    @State private var confirming: String?
    @State private var showing: DelegationLine?

    var body: some View {
        NavigationStack {
            List {
                if let home { Text(lang.pick(home.summary)).font(.title3) }
                if let error { Text(error).foregroundStyle(.red) }
                Section(String(localized: "Authorise an agent: scan the agent's code")) {
                    // The agent's code, scanned with the camera or its text pasted: the same sheet, whose first
                    // step asks the core about the code.
                    ScanCodeButton(title: String(localized: "Scan with the camera")) { scanned in
                        delegating = scanned.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    TextField(String(localized: "The text of the agent's code (ZBA1:…)"), text: $agentCode)
                    Button(String(localized: "Next")) { delegating = agentCode.trimmingCharacters(in: .whitespacesAndNewlines) }
                        .disabled(agentCode.isEmpty)
                }
                ForEach(home?.delegations ?? [], id: \.delegation.id) { line in
                    VStack(alignment: .leading, spacing: 8) {
                        Text(lang.pick(line.title)).font(.title3.bold())
                        Text(lang.pick(line.status)).font(.body)
                        Text(lang.pick(line.covers)).font(.title3)
                        if line.active {
                            if confirming == line.delegation.id {
                                Text(String(localized: "After this the agent can no longer act for you. Revoke?"))
                                    .foregroundStyle(.red)
                                HStack {
                                    Button(String(localized: "Yes, revoke"), role: .destructive) { revoke(line) }
                                    Button(String(localized: "No, keep it")) { confirming = nil }
                                }.buttonStyle(.bordered)
                            } else {
                                HStack {
                                    Button(String(localized: "Show the code")) { showing = line }
                                    Button(String(localized: "Revoke"), role: .destructive) { confirming = line.delegation.id }
                                }.buttonStyle(.bordered)
                            }
                        }
                    }
                }
                if let activity = home?.activity, !activity.isEmpty {
                    Section(String(localized: "What agents did for you")) {
                        ForEach(activity, id: \.entry.seq) { a in
                            VStack(alignment: .leading) {
                                Text(lang.pick(a.day)).font(.body)
                                Text(lang.pick(a.text)).font(.title3)
                            }
                        }
                    }
                }
            }
            .navigationTitle(String(localized: "Who may act for me"))
            .task { load() }
            .sheet(item: Binding(get: { delegating.map(AgentCode.init) }, set: { delegating = $0?.text }),
                   onDismiss: { load() }) { code in
                DelegateView(model: model, agentCode: code.text) { signed in
                    delegating = nil
                    load()
                    showing = home?.delegations.first { $0.delegation.id == signed.id }
                }
            }
            .sheet(item: Binding(get: { showing.map { ShownLine(line: $0) } }, set: { showing = $0?.line })) { shown in
                DelegationCodeView(line: shown.line)
            }
        }
    }

    private func load() {
        do {
            home = try model.home()
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func revoke(_ line: DelegationLine) {
        do {
            _ = try model.revoke(line.delegation.id)
            confirming = nil
            load()
        } catch {
            self.error = errorText(error, lang)
        }
    }
}

private struct AgentCode: Identifiable {
    let text: String
    var id: String { text }
}

private struct ShownLine: Identifiable {
    let line: DelegationLine
    var id: String { line.delegation.id }
}

/// Authorising the agent whose code was read: choices and the sentence from the core; sign.
@MainActor
struct DelegateView: View {
    let model: PrincipalModel
    let agentCode: String
    let onSigned: (GivenDelegation) -> Void
    @State private var choices: DelegationChoices?
    @State private var name = ""
    @State private var idNumber = ""
    @State private var items: [String] = []
    @State private var actions: [Action] = [.fill, .submit, .follow, .receiveResults]
    @State private var shared: [String: [String]] = [:]
    @State private var days: UInt32 = 30
    @State private var preview: DelegationPreview?
    @State private var error: String?
    @State private var allItems = false

    var body: some View {
        NavigationStack {
            Form {
                if let error { Text(error).foregroundStyle(.red) }
                if let ch = choices {
                    Section {
                        Text(lang.pick(ch.agent.text)).font(.title3)
                        Text(lang.pick(ch.agent.validText))
                    }
                    Section(String(localized: "You (the principal)")) {
                        TextField(String(localized: "Your name"), text: $name)
                        TextField(String(localized: "Your ID number"), text: $idNumber)
                    }
                    Section(String(localized: "Which services should the agent apply for?")) {
                        // The first page: the items offered at home (and any chosen); the rest on asking.
                        ForEach(Array(ch.items.enumerated()).filter { i, item in
                            allItems || i < Int(ch.atHome) || items.contains(item.code)
                        }.map { _, item in item }, id: \.code) { item in
                            Toggle(lang.pick(item.name), isOn: toggle(item.code, in: $items))
                        }
                        if !allItems && ch.items.count > Int(ch.atHome) {
                            Button(lang.pick(ch.moreItems)) { allItems = true }
                        }
                    }
                    Section(String(localized: "What may the agent do?")) {
                        ForEach(ch.actions, id: \.action) { a in
                            Toggle(lang.pick(a.label), isOn: toggle(a.action, in: $actions))
                        }
                    }
                    ForEach(ch.licences, id: \.licenceId) { l in
                        Section(lang.pick(l.typeName)) {
                            ForEach(l.elements, id: \.key) { e in
                                Toggle("\(lang.pick(e.name))：\(e.display)", isOn: Binding(
                                    get: { shared[l.licenceId, default: []].contains(e.key) },
                                    set: { on in
                                        let mine = shared[l.licenceId, default: []]
                                        shared[l.licenceId] = on ? mine + [e.key] : mine.filter { $0 != e.key }
                                        loadPreview()
                                    }
                                ))
                            }
                        }
                    }
                    Section(String(localized: "For how long?")) {
                        Picker(String(localized: "For how long?"), selection: $days) {
                            // the lengths and their words are the core's
                            ForEach(ch.durations, id: \.days) { d in
                                Text(lang.pick(d.label)).tag(d.days)
                            }
                        }.pickerStyle(.segmented)
                    }
                    if let preview {
                        Section(String(localized: "Please read this:")) {
                            Text(lang.pick(preview.text)).font(.title2)
                            Text(lang.pick(preview.until)).font(.title3)
                        }
                    }
                    Button(String(localized: "I agree: sign and make the code")) { sign() }
                        .disabled(preview == nil)
                }
            }
            .navigationTitle(String(localized: "Authorise an agent"))
            .task { load() }
            .onChange(of: items) { _ in loadPreview() }
            .onChange(of: actions) { _ in loadPreview() }
            .onChange(of: days) { _ in loadPreview() }
        }
    }

    private func toggle<T: Equatable>(_ v: T, in list: Binding<[T]>) -> Binding<Bool> {
        Binding(get: { list.wrappedValue.contains(v) },
                set: { on in list.wrappedValue = on ? list.wrappedValue + [v] : list.wrappedValue.filter { $0 != v } })
    }

    private var request: DelegationRequest {
        DelegationRequest(
            agentCertificate: agentCode, principalName: name.trimmingCharacters(in: .whitespaces),
            principalIdNumber: idNumber.trimmingCharacters(in: .whitespaces),
            scope: Scope(items: items, licenceTypes: [], actions: actions, elements: []), validDays: days,
            singleUse: false,
            shares: shared.filter { !$0.value.isEmpty }.map { LicenceShare(licenceId: $0.key, elements: $0.value) },
            relative: nil)
    }

    private func load() {
        do {
            let ch = try model.choices(agentQR: agentCode)
            choices = ch
            name = ch.ownName ?? ""
            idNumber = ch.ownIdNumber ?? ""
            days = ch.defaultDays
            for l in ch.licences { shared[l.licenceId] = l.elements.filter { $0.suggested }.map { $0.key } }
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func loadPreview() {
        preview = nil
        guard choices != nil, !items.isEmpty, !actions.isEmpty else { return }
        do {
            preview = try model.preview(request)
            error = nil
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func sign() {
        do {
            onSigned(try model.sign(request))
        } catch {
            self.error = errorText(error, lang)
        }
    }
}

/// The signed delegation as a code for the agent to scan, with what it covers.
struct DelegationCodeView: View {
    let line: DelegationLine

    var body: some View {
        VStack(spacing: 16) {
            Text(String(localized: "Let the agent scan this code")).font(.title2.bold())
            if let image = qrCodeImage(line.delegation.text) {
                Image(uiImage: image).interpolation(.none).resizable().scaledToFit()
                    .accessibilityLabel(String(localized: "Delegation code"))
            }
            Text(lang.pick(line.title)).font(.title3)
            Text(lang.pick(line.covers)).font(.title3)
        }
        .padding()
    }
}
