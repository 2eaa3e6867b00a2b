import Foundation
import UserNotifications

/// Hands the core's reminder plan to `UNUserNotificationCenter`: only its diff (cancel, then add and
/// replace), each request identified by the reminder's stable id (the centre replaces, never duplicates), a
/// calendar trigger at `fireAt` (none — at once — when that is now or past), the urgency's channel id as the
/// thread, the deep link in `userInfo`. Every rule (which, when, quiet hours, merging, at most 60 of iOS's
/// 64, the wording) is the core's.
public enum ReminderScheduler {
    /// `userInfo` key of the deep link (`zhangban://case/<id>`, `zhangban://renewal/<licence id>`, …).
    public static let linkKey = "zhangbanLink"

    public static func apply(_ plan: Plan, lang: Lang, center: UNUserNotificationCenter = .current()) async throws {
        if !plan.cancel.isEmpty {
            center.removePendingNotificationRequests(withIdentifiers: plan.cancel)
            center.removeDeliveredNotifications(withIdentifiers: plan.cancel)
        }
        for r in plan.add + plan.replace {
            try await show(r, lang: lang, now: plan.now, center: center)
        }
    }

    /// Schedules one reminder (also a sync's notice, shown at once), replacing one with the same id.
    public static func show(_ r: Reminder, lang: Lang, now: Int64, center: UNUserNotificationCenter = .current()) async throws {
        let content = UNMutableNotificationContent()
        content.title = lang.pick(r.title)
        content.body = lang.pick(r.body)
        content.threadIdentifier = reminderChannels().first { $0.urgency == r.urgency }?.id ?? ""
        content.userInfo = [linkKey: r.link.uri]
        content.interruptionLevel = r.urgency == .urgent ? .timeSensitive : .active
        try await center.add(UNNotificationRequest(identifier: r.id, content: content, trigger: trigger(r.fireAt, now: now)))
    }

    static func trigger(_ fireAt: Int64, now: Int64) -> UNNotificationTrigger? {
        if fireAt <= now { return nil }
        let date = Date(timeIntervalSince1970: TimeInterval(fireAt))
        let parts = Calendar.current.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return UNCalendarNotificationTrigger(dateMatching: parts, repeats: false)
    }
}

/// The 待办 home and the reminder plan for SwiftUI and the background refresh task. Glue only.
@MainActor
public final class RemindersModel: ObservableObject {
    public let reminders: ZhangbanReminders
    private let store: ZhangbanStore
    @Published public private(set) var home: Home?

    public init(store: ZhangbanStore) {
        self.store = store
        self.reminders = ZhangbanReminders(store: store)
    }

    public func refresh() async throws {
        let reminders = self.reminders
        home = try await Task.detached { try reminders.home() }.value
    }

    /// Plans and applies the diff; returns when to wake next (for `BGAppRefreshTaskRequest.earliestBeginDate`).
    public func replan(lang: Lang = .current) async throws -> Date {
        let reminders = self.reminders
        let plan = try await Task.detached { try reminders.plan() }.value
        try await ReminderScheduler.apply(plan, lang: lang)
        return Date(timeIntervalSince1970: TimeInterval(plan.nextWakeup))
    }

    /// What `BGAppRefreshTask` runs: a sync within `budgetMs`, its notices shown now (unless the session's
    /// listener already posts them: `showNotices: false`), the plan's diff applied. Returns the core's report
    /// and when to run again.
    public func runBackground(_ cases: ZhangbanCases, budgetMs: UInt64 = 25_000, showNotices: Bool = true, lang: Lang = .current) async throws -> (BackgroundReport, Date?) {
        let report = await cases.runBackground(budgetMs: budgetMs)
        for n in report.notices where showNotices {
            try await ReminderScheduler.show(n, lang: lang, now: n.fireAt)
        }
        var wake: Date?
        if let plan = report.plan {
            try await ReminderScheduler.apply(plan, lang: lang)
            wake = Date(timeIntervalSince1970: TimeInterval(plan.nextWakeup))
        }
        try await refresh()
        return (report, wake)
    }

    /// A licence-expiry reminder's action: the prefilled renewal draft.
    public func openRenewal(_ licenceId: String) throws -> DraftFormModel {
        DraftFormModel(store: store, draft: try reminders.openRenewal(licenceId: licenceId))
    }

    /// 催办: queued in the outbox; the next plan drops the action.
    public func urge(_ caseId: String) async throws {
        try reminders.urge(caseId: caseId)
        _ = try await replan()
        try await refresh()
    }
}
