import SwiftUI
import ZhangbanKit

/// 我的办件: the case list (published by the session, kept current by the core's listener) and progress.
@MainActor
struct CasesView: View {
    @EnvironmentObject var session: ZhangbanSession
    /// The latest notice from the core (receipt, state changed, supplement requested, …), in its words.
    @State private var latest: String?

    var body: some View {
        NavigationStack {
            List(session.caseList, id: \.id) { c in
                NavigationLink {
                    CaseDetailView(caseId: c.id)
                } label: {
                    VStack(alignment: .leading) {
                        Text(lang.pick(c.title)).font(.headline)
                        Text(lang.pick(c.stateText))
                        if let r = c.receipt { Text("Receipt \(r)").font(.caption) }
                        if let p = c.problem { Text(lang.pick(p)).font(.caption).foregroundStyle(.red) }
                    }
                }
            }
            .overlay { if session.caseList.isEmpty { Text(String(localized: "No applications yet.")) } }
            .refreshable { await session.syncNow() }
            .safeAreaInset(edge: .top) {
                if let latest { Text(latest).font(.footnote).padding(.horizontal) }
            }
            .task {
                // The notices as they arrive (AsyncStream; the stream ends with this task).
                for await notice in session.notices() { latest = notice.text(lang).title }
            }
            .navigationTitle("Cases")
        }
    }
}

@MainActor
struct CaseDetailView: View {
    let caseId: String
    @EnvironmentObject var session: ZhangbanSession
    @State private var view: CaseView?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            if let p = view {
                Section {
                    Text(lang.pick(p.summary.stateText)).font(.headline)
                    if let r = p.summary.receipt { Text("Receipt \(r)") }
                    // The deadline line as the core words it (working days, overdue, provisional calendar).
                    if let d = p.deadlineText { Text(lang.pick(d)).foregroundStyle(p.overdue ? .red : .primary) }
                }
                if !p.neededNow.isEmpty {
                    Section(String(localized: "Needed now")) {
                        ForEach(Array(p.neededNow.enumerated()), id: \.offset) { _, n in
                            Text(lang.pick(n.text) + (n.due.map { " · \($0)" } ?? ""))
                        }
                    }
                }
                CaseActionsSection(view: p, done: { load() })
                Section(String(localized: "Timeline")) {
                    ForEach(Array(p.timeline.enumerated()), id: \.offset) { _, t in
                        VStack(alignment: .leading) {
                            Text("\(formatTime(t.at)) · \(lang.pick(t.stateText))").font(.caption)
                            if !lang.pick(t.note).isEmpty { Text(lang.pick(t.note)) }
                        }
                    }
                }
            }
        }
        .navigationTitle(view.map { lang.pick($0.summary.title) } ?? "")
        // Reloaded whenever the list changes (a notice arrived): the deadline and what is needed follow.
        .task(id: session.caseList) { await load() }
    }

    private func load() {
        do {
            view = try session.view(caseId)
        } catch {
            self.error = errorText(error, lang)
        }
    }
}
