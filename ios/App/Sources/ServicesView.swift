import SwiftUI
import ZhangbanKit

/// 办事: search the catalog offline, read the one-time checklist (一次性告知), start the form.
@MainActor
struct ServicesView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var query = ""
    @State private var hits: [Hit] = []
    @State private var browse: Browse?
    @State private var error: String?

    var body: some View {
        NavigationStack {
            List {
                if let error { Text(error).foregroundStyle(.red) }
                ForEach(hits, id: \.code) { hit in
                    NavigationLink(lang.pick(hit.name)) { ChecklistView(code: hit.code) }
                }
                // No query: browse the bundles (一件事一次办), then the items by department, as the core lists them.
                if query.isEmpty, let b = browse {
                    Section(String(localized: "Life events (one application for several services)")) {
                        ForEach(b.bundles, id: \.code) { hit in
                            NavigationLink(lang.pick(hit.name)) { ChecklistView(code: hit.code) }
                        }
                    }
                    ForEach(b.departments, id: \.name.zh) { d in
                        Section(lang.pick(d.name)) {
                            ForEach(d.items, id: \.code) { hit in
                                NavigationLink(lang.pick(hit.name)) { ChecklistView(code: hit.code) }
                            }
                        }
                    }
                }
            }
            .task {
                do {
                    browse = try catalogBrowse(store: session.store)
                } catch {
                    self.error = errorText(error, lang)
                }
            }
            .searchable(text: $query, prompt: "个体工商户, 出生, birth…")
            .task(id: query) {
                try? await Task.sleep(nanoseconds: 200_000_000) // search when typing pauses
                do {
                    hits = try await session.search(query)
                } catch {
                    self.error = errorText(error, lang)
                }
            }
            .navigationTitle("Services")
        }
    }
}

@MainActor
struct ChecklistView: View {
    let code: String
    @EnvironmentObject var session: ZhangbanSession
    @State private var checklist: Checklist?
    @State private var form: DraftFormModel?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            if let c = checklist {
                Section {
                    Text(lang.pick(c.terms)) // the fee and the promised time, worded by the core
                }
                Section(String(localized: "What you need (told at once)")) {
                    ForEach(c.entries, id: \.key) { line in
                        VStack(alignment: .leading) {
                            Text(lang.pick(line.title))
                            if !line.why.zh.isEmpty { Text(lang.pick(line.why)).font(.caption) }
                        }
                    }
                }
                Button(String(localized: "Start the application")) {
                    do {
                        form = try session.startDraft(code)
                    } catch {
                        self.error = errorText(error, lang)
                    }
                }
            }
        }
        .navigationTitle(checklist.map { lang.pick($0.name) } ?? code)
        .task {
            do {
                checklist = try await session.checklist(code)
            } catch {
                self.error = errorText(error, lang)
            }
        }
        .sheet(item: $form) { f in FormView(form: f) }
    }
}
