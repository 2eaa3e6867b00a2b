import SwiftUI
import ZhangbanKit

/// 我的办件: the case list (published by the session, kept current by the core's listener) and progress.
@MainActor
struct CasesView: View {
    @EnvironmentObject var session: ZhangbanSession

    var body: some View {
        NavigationStack {
            List(session.caseList, id: \.id) { c in
                NavigationLink {
                    CaseDetailView(caseId: c.id)
                } label: {
                    VStack(alignment: .leading) {
                        Text(c.title).font(.headline)
                        Text(c.stateText(lang))
                        if let r = c.receipt { Text(lang.pick("受理回执 \(r)", "Receipt \(r)")).font(.caption) }
                        if let p = c.problem { Text(p).font(.caption).foregroundStyle(.red) }
                    }
                }
            }
            .overlay { if session.caseList.isEmpty { Text(lang.pick("还没有办件。", "No applications yet.")) } }
            .refreshable { await session.syncNow() }
            .navigationTitle("我的办件 Cases")
        }
    }
}

@MainActor
struct CaseDetailView: View {
    let caseId: String
    @EnvironmentObject var session: ZhangbanSession
    @State private var progress: CaseProgress?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            if let p = progress {
                Section {
                    Text(p.case.stateText(lang)).font(.headline)
                    if let r = p.case.receipt { Text(lang.pick("受理回执 \(r)", "Receipt \(r)")) }
                    if let d = p.promisedDate {
                        Text(lang.pick("承诺办结日期 \(d)", "Promised by \(d)")
                            + (p.provisional ? lang.pick("（暂定：该年度官方日历尚未发布）", " (provisional: no official calendar yet)") : ""))
                    }
                    if let left = p.workingDaysLeft {
                        Text(lang.pick("剩余 \(left) 个工作日", "\(left) working days left"))
                    }
                    if p.overdue { Text(lang.pick("已超期", "Overdue")).foregroundStyle(.red) }
                }
                if !p.neededNow.isEmpty {
                    Section(lang.pick("现在需要", "Needed now")) {
                        ForEach(Array(p.neededNow.enumerated()), id: \.offset) { _, n in
                            Text(n.text(lang) + (n.due.map { " · \($0)" } ?? ""))
                        }
                    }
                }
                Section(lang.pick("办理进度", "Timeline")) {
                    ForEach(Array(p.timeline.enumerated()), id: \.offset) { _, t in
                        VStack(alignment: .leading) {
                            Text("\(formatTime(t.at)) · \(t.stateText(lang))").font(.caption)
                            if !t.note.isEmpty { Text(t.note) }
                        }
                    }
                }
            }
        }
        .navigationTitle(progress?.case.title ?? "")
        // Reloaded whenever the list changes (a notice arrived): the deadline and what is needed follow.
        .task(id: session.caseList) { await load() }
    }

    private func load() {
        do {
            progress = try session.progress(caseId)
        } catch {
            self.error = errorText(error, lang)
        }
    }
}
