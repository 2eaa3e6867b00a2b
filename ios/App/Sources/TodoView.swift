import SwiftUI
import ZhangbanKit

/// 待办: the core's home in one call — what needs the person now (per principal for an agent), cases under
/// way with working days left, licences expiring, drafts, the outbox and the last sync. Every line's text
/// is the core's; opening the tab also re-plans the reminders (the diff only).
@MainActor
struct TodoView: View {
    @EnvironmentObject var session: ZhangbanSession
    @StateObject private var model = TodoModelBox()
    @State private var error: String?

    var body: some View {
        NavigationStack {
            List {
                if let error { Text(error).foregroundStyle(.red) }
                if let home = model.reminders?.home {
                    ForEach(home.principals, id: \.subject) { p in
                        Section(lang.pick(p.label)) {
                            ForEach(p.needs, id: \.id) { n in
                                VStack(alignment: .leading) {
                                    Text(lang.pick(n.title)).font(.headline)
                                    Text(lang.pick(n.body)).font(.caption)
                                    if let a = n.action {
                                        Button(lang.pick(reminderActionLabel(action: a))) { Task { await act(a, n) } }
                                    }
                                }
                                .foregroundStyle(n.urgency == .urgent ? .red : .primary)
                            }
                        }
                    }
                    if !home.cases.isEmpty {
                        Section(String(localized: "Under way")) {
                            ForEach(home.cases, id: \.caseId) { c in
                                NavigationLink { CaseDetailView(caseId: c.caseId) } label: {
                                    VStack(alignment: .leading) {
                                        Text(lang.pick(c.title))
                                        Text(lang.pick(c.stateLabel)).font(.caption)
                                        if let left = c.workingDaysText { Text(lang.pick(left)).font(.caption) }
                                    }
                                }
                            }
                        }
                    }
                    if !home.licences.isEmpty {
                        Section(String(localized: "Licences expiring")) {
                            ForEach(home.licences, id: \.licenceId) { l in
                                Text("\(lang.pick(l.name)) · \(l.validUntil)")
                            }
                        }
                    }
                    // Counts worded by the core (plural included): nothing is built here.
                    if let more = home.casesMore { Text(lang.pick(more)) }
                    if let waiting = home.outboxText { Text(lang.pick(waiting)) }
                    if let t = home.lastSyncAt { Text(formatTime(t)).font(.caption) }
                }
            }
            .refreshable { await load() }
            .task { await load() }
            .navigationTitle("To do")
        }
    }

    private func load() async {
        do {
            let reminders = model.reminders ?? RemindersModel(store: session.store)
            model.reminders = reminders
            try await reminders.refresh()
            _ = try await reminders.replan()
            error = nil
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func act(_ action: ReminderAction, _ need: Reminder) async {
        guard let reminders = model.reminders else { return }
        do {
            switch action {
            case .urge: try await reminders.urge(need.link.id)
            default: break // the other actions open the linked screen (need.link)
            }
        } catch {
            self.error = errorText(error, lang)
        }
    }
}

@MainActor
final class TodoModelBox: ObservableObject {
    @Published var reminders: RemindersModel?
}
