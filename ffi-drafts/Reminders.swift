import Foundation
import UserNotifications

/// Hands the core's reminder plan to `UNUserNotificationCenter`: only its diff (cancel, then add and
/// replace), each request identified by the reminder's stable id (the centre replaces, never duplicates),
/// a calendar trigger at `fireAt` (none — at once — when that is now or past), the urgency's channel as the
/// thread, the deep link in `userInfo`. Every rule (which, when, quiet hours, merging, at most 60 of iOS's 64)
/// is the core's. Compiled only on macOS with Xcode (checked here by tools/swift_check.py).
public enum ReminderScheduler {
    /// `userInfo` key of the deep link (`zhangban://case/<id>`, `zhangban://renewal/<licence id>`, …).
    public static let linkKey = "zhangbanLink"

    public static func apply(_ plan: Plan, lang: Lang, center: UNUserNotificationCenter = .current()) async throws {
        if !plan.cancel.isEmpty {
            center.removePendingNotificationRequests(withIdentifiers: plan.cancel)
            center.removeDeliveredNotifications(withIdentifiers: plan.cancel)
        }
        let channels = remindChannels()
        for r in plan.add + plan.replace {
            let content = UNMutableNotificationContent()
            content.title = lang.pick(r.title)
            content.body = lang.pick(r.body)
            content.threadIdentifier = channels.first { $0.urgency == r.urgency }?.id ?? ""
            content.userInfo = [linkKey: r.link.uri]
            content.interruptionLevel = r.urgency == .urgent ? .timeSensitive : .active
            try await center.add(UNNotificationRequest(identifier: r.id, content: content, trigger: trigger(r.fireAt, now: plan.now)))
        }
    }

    static func trigger(_ fireAt: Int64, now: Int64) -> UNNotificationTrigger? {
        if fireAt <= now { return nil }
        let date = Date(timeIntervalSince1970: TimeInterval(fireAt))
        let parts = Calendar.current.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return UNCalendarNotificationTrigger(dateMatching: parts, repeats: false)
    }
}
