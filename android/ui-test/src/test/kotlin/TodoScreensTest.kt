package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.click
import androidx.compose.ui.test.onRoot
import androidx.compose.ui.test.performTouchInput
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.jvmtest.oneDay
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Json
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.ui.ZhangbanRoot
import uniffi.zhangban_cases.Submission
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_remind.ReminderSource
import uniffi.zhangban_remind.Urgency

/**
 * 待办 over the real library and the sandbox platform: the first tab; empty on a new store; after the
 * clerk asks for a supplement, the supplement with the core's words, its urgency and its action, the case
 * under way; a tap opens the case. Rendered in zh/en at font scale 1 and 2 (see [Camera]).
 */
@OptIn(ExperimentalTestApi::class)
class TodoScreensTest : SandboxTest("todo") {
    @Test
    fun todoShowsWhatNeedsThePersonAndOpensTheCase() {
        // The phone and the clerk on one day (oneDay): the working days the screens show do not change if the run
        // crosses China's midnight.
        val (clock, day) = oneDay()
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock) }
        runBlocking {
            z.registerDevice("android", "ui-test", "0")
            // The sandbox publishes next year's (sample) holiday notice: with it, no "calendar not synced" need.
            z.syncNow()
        }
        // A case of GA-002 submitted for the person (not yet sent: the next sync sends it).
        fun submit(title: String, n: Int) = runBlocking {
            z.casesApi.submit(
                selfSubject(),
                Submission(
                    itemCodes = listOf("GA-002"),
                    title = title,
                    values = Json.encode(mapOf("n" to n)),
                    attachments = emptyList(),
                    deferredMaterials = emptyList(),
                ),
            )
        }
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(TestHost()) { ZhangbanRoot(open = { z }, caseFromNotice = null, onCaseShown = {}) }

            // ---- the first tab; nothing to do yet ----
            waitForText("没有需要您处理的事项。")
            for (tab in listOf("待办", "证照", "办事", "我的办件", "设置")) assertTrue(shown(tab), tab)
            cam.shoot("todo-empty")

            // ---- a case submitted and accepted; the clerk asks for a supplement within 10 working days ----
            val submitted = submit("居民身份证换领", 1)
            runBlocking { z.syncNow() }
            val receipt = assertNotNull(runBlocking { z.view(submitted.id).summary.receipt }, "a receipt after the sync")
            sandbox.clerk("accept", receipt, "--days", "20", "--on", day)
            sandbox.clerk("supplement", receipt, "--items", "身份证复印件", "--due-days", "10", "--on", day)
            onNodeWithText("立即同步").performClick()
            waitForText("补正材料：还剩", substring = true)

            // What the screen shows is what the core's home says, in its words and order.
            val home = runBlocking { z.home() }
            // The one need: the supplement (no "calendar not synced" need: the sync brought next year's notice).
            val need = home.needs.single()
            assertEquals(ReminderSource.SUPPLEMENT, need.source)
            assertEquals(Urgency.LOW, need.urgency, "10 working days left: low")
            assertTrue(shown(Lang.ZH.pick(need.title)), need.title.zh)
            assertTrue(need.body.zh.contains("身份证复印件"), need.body.zh)
            assertTrue(shown(need.body.zh), "the body as the core words it")
            assertTrue(shown("一般提醒"), "the urgency, named as its notification channel")
            assertTrue(shown("去补交"), "the action, labelled by the core")
            assertFalse(shown("没有需要您处理的事项。"))
            assertTrue(shown("办理中"))
            assertTrue(shown("居民身份证换领"))
            cam.shoot("todo")

            // ---- a tap opens the linked case ----
            onNodeWithText(Lang.ZH.pick(need.title)).performClick()
            waitForText("办理进度")
            assertTrue(shown("身份证复印件", substring = true), "the case detail lists what is needed")
            onNodeWithText("待办").performClick()
            waitForText("补正材料：还剩", substring = true)

            // ---- a notice brings a more urgent line while the person is about to tap 去补交 ----
            // A second case's supplement, due sooner, comes first in the core's order: it arrives above the line on
            // screen. That line and its button stay where they are (they were pushed down by the new card, and a
            // tap aimed at 去补交 went to whatever moved under it).
            waitForIdle()
            val bodyAt = boundsOf(need.body.zh)
            val actAt = boundsOf("去补交")
            val second = submit("户口迁移", 2)
            runBlocking { z.syncNow() }
            val secondReceipt = assertNotNull(runBlocking { z.view(second.id).summary.receipt })
            sandbox.clerk("accept", secondReceipt, "--days", "20", "--on", day)
            sandbox.clerk("supplement", secondReceipt, "--items", "户口簿原件", "--due-days", "2", "--on", day)
            runBlocking { z.syncNow() }
            val twoNeeds = runBlocking { z.home() }.needs
            assertEquals(2, twoNeeds.size, "both supplements: $twoNeeds")
            val sooner = twoNeeds.first()
            assertTrue(sooner.body.zh.contains("户口簿原件"), "the sooner one comes first: ${sooner.body.zh}")
            waitOnScreen("the new line on screen") { shown(sooner.body.zh) }
            waitForIdle()
            assertEquals(bodyAt, boundsOf(need.body.zh), "the line on screen moved when a notice's line arrived above it")
            // The finger where 去补交 was: it opens that line's case (身份证复印件), not the new one.
            onRoot().performTouchInput { click(actAt.center) }
            waitForText("办理进度")
            assertTrue(shown("身份证复印件", substring = true), "the case of the line under the finger")
            assertFalse(shown("户口簿原件", substring = true), "not the case that arrived above it")
            println("todo screens: ${cam.shot}")
            cam.verify()
        }
        z.close()
    }
}
