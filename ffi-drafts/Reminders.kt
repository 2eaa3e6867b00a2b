package org.zhangban.kit

import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.remindPlan
import uniffi.zhangban_remind.Plan
import uniffi.zhangban_remind.Reminder

/**
 * Where the core's reminder plan goes: the phone's local notifications. The Android host implements it with
 * WorkManager (one unique work per reminder id, `REPLACE`, an initial delay until `fireAt`, posting on the
 * urgency's channel: `android/app`, `ReminderWorker`); tests with a map. Every rule — which reminders, when,
 * quiet hours, merging, the cap of 60 — is the core's: this only hands its diff to the OS.
 */
interface LocalNotifications {
    /** Shows [reminder] at its `fireAt` (Unix seconds; at or before now: at once), replacing one with the same id. */
    fun schedule(reminder: Reminder)

    /** Removes the pending or shown notification [id]. */
    fun cancel(id: String)
}

/** Applies the plan's diff — cancel, then add and replace — and nothing else: unchanged ones stay scheduled. */
fun Plan.applyTo(os: LocalNotifications) {
    cancel.forEach(os::cancel)
    add.forEach(os::schedule)
    replace.forEach(os::schedule)
}

/** Plans and applies (what a background task does after a sync); returns when to wake next (Unix seconds). */
fun ZhangbanStore.planReminders(os: LocalNotifications): Long {
    val plan = remindPlan(this)
    plan.applyTo(os)
    return plan.nextWakeup
}

/** The notification text of a [Reminder] in [lang]. */
fun Reminder.text(lang: Lang): NoticeText = NoticeText(lang.pick(title), lang.pick(body))
