package org.zhangban.jvmtest

import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.Json
import org.zhangban.kit.Lang
import org.zhangban.kit.LocalNotifications
import org.zhangban.kit.Reminders
import org.zhangban.kit.applyTo
import org.zhangban.kit.text
import uniffi.zhangban_cases.CaseState
import uniffi.zhangban_cases.Submission
import uniffi.zhangban_ffi.ZhangbanCases
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.fileVault
import uniffi.zhangban_remind.reminderChannels
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_remind.Reminder
import uniffi.zhangban_remind.ReminderAction
import uniffi.zhangban_remind.ReminderSource
import uniffi.zhangban_remind.Urgency

/** The OS's scheduled notifications, as a map (the Android host uses WorkManager). */
class FakeNotifications : LocalNotifications {
    val scheduled = linkedMapOf<String, Reminder>()
    var calls = 0

    override fun schedule(reminder: Reminder) {
        calls++
        scheduled[reminder.id] = reminder
    }

    override fun cancel(id: String) {
        calls++
        scheduled.remove(id)
    }
}

/**
 * Reminders through the Kotlin layer: the plan's diff applied to the OS keeps it in step with the plan (an
 * empty diff touches nothing; a restart and a reset give the same ids, so nothing shows twice), the 待办
 * home, the channels and settings; and against the sandbox, the background run: a supplement request
 * schedules its reminders, supplying it cancels them.
 */
class KitRemindTest : SandboxTest("remind") {
    private fun submission() = Submission(
        itemCodes = listOf("GA-002"),
        title = "居民身份证换领",
        values = Json.encode(mapOf("n" to 1)),
        attachments = emptyList(),
        deferredMaterials = emptyList(),
    )

    @Test
    fun theDiffKeepsTheOsInStepWithThePlanAcrossARestart() = runBlocking {
        val dir = File(tmp, "s").path
        val vault = File(tmp, "v.key").path
        var store = ZhangbanStore.create(dir, fileVault(vault), null)
        val os = FakeNotifications()
        var rem = Reminders(store, os)
        val first = rem.api.plan()
        first.applyTo(os)
        assertEquals(first.pending.map { it.id }.sorted(), os.scheduled.keys.sorted())
        assertTrue(os.scheduled.containsKey("calendar:2027"), os.scheduled.keys.toString())
        assertTrue(first.nextWakeup > first.now)
        val plan = rem.api.plan() // nothing changed since: an empty diff (what was due at once was shown)
        assertTrue(plan.add.isEmpty() && plan.replace.isEmpty() && plan.cancel.isEmpty(), plan.toString())
        assertEquals(first.pending.filter { it.fireAt > first.now }.map { it.id }, plan.pending.map { it.id })
        val before = os.calls
        plan.applyTo(os)
        assertEquals(before, os.calls, "an empty diff touches nothing")

        // A restart: the same ids, nothing to do.
        rem.close()
        store.close()
        store = ZhangbanStore.open(dir, fileVault(vault))
        rem = Reminders(store, os)
        val after = rem.api.plan()
        assertEquals(plan.pending.map { it.id }, after.pending.map { it.id })
        assertTrue(after.add.isEmpty() && after.replace.isEmpty() && after.cancel.isEmpty(), after.toString())
        // A reset (reinstall): everything again, with the same ids: scheduling replaces, never duplicates.
        assertTrue(rem.rescheduleAll() > after.now)
        assertEquals(first.pending.map { it.id }.sorted(), os.scheduled.keys.sorted())
        val cal = os.scheduled.getValue("calendar:2027")
        assertTrue(cal.text(Lang.ZH).title.contains("2027") && cal.text(Lang.EN).title.contains("2027"), cal.toString())
        assertEquals("zhangban://sync", cal.link.uri)

        val home = rem.refreshHome()
        assertEquals(home, rem.home.value)
        assertEquals(2026, home.calendarLastYear)
        assertTrue(home.needs.any { it.source == ReminderSource.CALENDAR })
        assertEquals(listOf(selfSubject()), home.principals.map { it.subject })
        assertEquals(
            listOf("zb.remind.low", "zb.remind.normal", "zb.remind.high", "zb.remind.urgent"),
            reminderChannels().map { it.id },
        )
        val s = rem.api.settings()
        assertEquals(22u * 60u, s.quietStartMinute)
        val e = assertFailsWith<ZhangbanException.Validation> { rem.api.setSettings(s.copy(maxPending = 61u)) }
        assertEquals("settings.max_pending", e.field)
        rem.api.setSettings(s.copy(quietStartMinute = 21u * 60u))
        assertEquals(21u * 60u, rem.api.settings().quietStartMinute)
        rem.close()
        store.close()
    }

    @Test
    fun aBackgroundRunSchedulesASupplementAndSupplyingCancelsIt() = runBlocking {
        val store = ZhangbanStore.create(File(tmp, "s").path, fileVault(File(tmp, "v.key").path), null)
        val cases = ZhangbanCases(store, sandbox.url, null)
        cases.registerDevice("android", "jvm-remind", "0")
        val os = FakeNotifications()
        val rem = Reminders(store, os)
        val submitted = cases.submit(selfSubject(), submission())
        var r = rem.runBackground(cases, 20_000)
        assertEquals(1u, r.run.receipts)
        assertNull(r.planError)
        assertTrue(os.scheduled.containsKey("event:${submitted.id}:receipt"), os.scheduled.keys.toString())
        val receipt = assertNotNull(cases.view(submitted.id).summary.receipt)
        sandbox.clerk("accept", receipt, "--days", "20")
        sandbox.clerk("supplement", receipt, "--items", "近期免冠照片", "--due-days", "5")
        r = rem.runBackground(cases, 20_000)
        val notice = os.scheduled.getValue("event:${submitted.id}:supplement")
        assertEquals(Urgency.HIGH, notice.urgency)
        assertEquals(ReminderAction.SUPPLY, notice.action)
        val prefix = "supplement:${submitted.id}:"
        val planned = os.scheduled.keys.filter { it.startsWith(prefix) }
        assertEquals(listOf("due", "missed", "w1", "w3"), planned.map { it.substringAfterLast(':') }.sorted())
        val home = assertNotNull(rem.home.value)
        assertEquals(ReminderSource.SUPPLEMENT, home.needs.first().source)
        assertEquals(CaseState.SUPPLEMENT_REQUESTED, home.cases.single { it.caseId == submitted.id }.state)
        assertNotNull(home.lastSyncAt)

        cases.supply(submitted.id, Json.encode(mapOf("photo" to "new")), emptyList(), "已补交")
        r = rem.runBackground(cases, 20_000)
        assertEquals(1u, r.run.sent)
        assertTrue(os.scheduled.keys.none { it.startsWith(prefix) }, os.scheduled.keys.toString())
        rem.close()
        cases.close()
        store.close()
    }
}
