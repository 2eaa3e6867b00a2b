package org.zhangban.kit

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.zhangban_ffi.ZhangbanCases
import uniffi.zhangban_ffi.ZhangbanDraft
import uniffi.zhangban_ffi.ZhangbanReminders
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_remind.Home
import uniffi.zhangban_remind.Plan
import uniffi.zhangban_remind.Reminder
import uniffi.zhangban_sync.BackgroundReport

/**
 * Where the core's reminder plan goes: the phone's local notifications. The Android host implements it with
 * WorkManager (one unique work per reminder id, `REPLACE`, an initial delay until `fireAt`, posting on the
 * urgency's channel: `android/app`, `ReminderScheduler`); the JVM tests with a map. Every rule — which
 * reminders, when, quiet hours, merging, the cap of 60, the wording — is the core's: this only hands its
 * diff to the OS.
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

/** The notification text of a [Reminder] in [lang]. */
fun Reminder.text(lang: Lang): NoticeText = NoticeText(lang.pick(title), lang.pick(body))

/**
 * Reminders and the 待办 home for a UI and for the background task: the home as a [StateFlow], the plan
 * applied to [os], `runBackground` for WorkManager's worker. Glue only.
 */
class Reminders(
    store: ZhangbanStore,
    private val os: LocalNotifications,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    val api = ZhangbanReminders(store)
    private val _home = MutableStateFlow<Home?>(null)

    /** The 待办 home (null until first loaded). */
    val home: StateFlow<Home?> = _home.asStateFlow()

    suspend fun refreshHome(): Home = withContext(io) { api.home() }.also { _home.value = it }

    /** Plans and applies the diff; returns when to wake next (Unix seconds). */
    suspend fun replan(): Long = withContext(io) { api.plan() }.also { it.applyTo(os) }.nextWakeup

    /** After a reinstall or when the OS dropped what was scheduled: everything handed over again, same ids. */
    suspend fun rescheduleAll(): Long = withContext(io) { api.resetPlan() }.let { replan() }

    /**
     * What the background worker runs: a sync within [budgetMs], the run's notices shown now, the new plan's
     * diff applied. Returns the core's report (its `plan.nextWakeup` is when to run again).
     */
    suspend fun runBackground(cases: ZhangbanCases, budgetMs: Long): BackgroundReport {
        val r = cases.runBackground(budgetMs.toULong())
        r.notices.forEach(os::schedule)
        r.plan?.applyTo(os)
        refreshHome()
        return r
    }

    /** A licence-expiry reminder's action: the prefilled renewal draft (the same one until it is submitted). */
    suspend fun openRenewal(licenceId: String): ZhangbanDraft = withContext(io) { api.openRenewal(licenceId) }

    /** 催办: queued in the outbox; the next plan drops the action. */
    suspend fun urge(caseId: String) {
        withContext(io) { api.urge(caseId) }
        replan()
        refreshHome()
    }

    override fun close() = api.close()
}
