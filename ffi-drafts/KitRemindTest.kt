package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.zhangban.kit.Lang
import org.zhangban.kit.LocalNotifications
import org.zhangban.kit.applyTo
import org.zhangban.kit.planReminders
import org.zhangban.kit.text
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.fileVault
import uniffi.zhangban_ffi.remindChannels
import uniffi.zhangban_ffi.remindHome
import uniffi.zhangban_ffi.remindPlan
import uniffi.zhangban_ffi.remindResetPlan
import uniffi.zhangban_remind.Reminder
import uniffi.zhangban_remind.Source

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

/** The Kotlin side of reminders: the plan's diff applied to the OS, the home, the channels. */
class KitRemindTest {
    private val tmp: File = Files.createTempDirectory("zhangban-remind-").toFile()

    @AfterTest
    fun cleanup() {
        System.gc()
        tmp.deleteRecursively()
    }

    @Test
    fun theDiffKeepsTheOsInStepWithThePlan() {
        val store = ZhangbanStore.create(File(tmp, "s").path, fileVault(File(tmp, "v.key").path), null)
        val os = FakeNotifications()
        val wake = store.planReminders(os)
        val plan = remindPlan(store) // nothing changed since: an empty diff
        assertTrue(plan.add.isEmpty() && plan.replace.isEmpty() && plan.cancel.isEmpty(), plan.toString())
        assertEquals(plan.pending.map { it.id }.sorted(), os.scheduled.keys.sorted())
        assertTrue(os.scheduled.containsKey("calendar:2027"), os.scheduled.keys.toString())
        assertTrue(wake > plan.now)
        // Applying an empty diff touches nothing.
        val before = os.calls
        plan.applyTo(os)
        assertEquals(before, os.calls)
        // After a reset (reinstall), the same ids again: scheduling replaces, never duplicates.
        remindResetPlan(store)
        store.planReminders(os)
        assertEquals(plan.pending.map { it.id }.sorted(), os.scheduled.keys.sorted())
        val cal = os.scheduled.getValue("calendar:2027")
        assertTrue(cal.text(Lang.ZH).title.contains("2027") && cal.text(Lang.EN).title.contains("2027"))
        assertEquals("zhangban://sync", cal.link.uri)
        val home = remindHome(store)
        assertEquals(2026, home.calendarLastYear)
        assertTrue(home.needs.any { it.source == Source.CALENDAR })
        assertEquals(listOf("zb.remind.low", "zb.remind.normal", "zb.remind.high", "zb.remind.urgent"), remindChannels().map { it.id })
        store.close()
    }
}
