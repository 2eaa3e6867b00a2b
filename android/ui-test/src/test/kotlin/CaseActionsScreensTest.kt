package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.click
import androidx.compose.ui.test.performTouchInput
import androidx.compose.ui.test.onRoot
import androidx.compose.ui.test.SemanticsMatcher
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.hasScrollToIndexAction
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onAllNodesWithText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollToNode
import androidx.compose.ui.test.performTextInput
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
import org.zhangban.ui.ChangesByItself
import org.zhangban.ui.ZhangbanRoot
import uniffi.zhangban_cases.CaseState
import uniffi.zhangban_cases.Submission
import uniffi.zhangban_cases.ratingChoices
import uniffi.zhangban_base.selfSubject

/**
 * The case detail's actions over the real library and the sandbox platform, with the clerk's actions from
 * the back office: 补正 (the clerk asks; the person attaches the material and sends it; the platform has it
 * after the sync), 好差评 after completion (the core's five levels; "dissatisfied" without a reason is the
 * core's error under the form), a complaint, and a submission the platform refused: sent again, refused
 * again, given up. Each action is shown only when the core's `CaseActions` allow it. Rendered in zh/en at
 * font scale 1 and 2 (see [Camera]).
 */
@OptIn(ExperimentalTestApi::class)
class CaseActionsScreensTest : SandboxTest("case-actions") {
    private fun submission(item: String, title: String) =
        Submission(itemCodes = listOf(item), title = title, values = Json.encode(mapOf("n" to 1)), attachments = emptyList(), deferredMaterials = emptyList())

    /** The platform's id of the case with this receipt (`clerk show` takes the id). */
    @Suppress("UNCHECKED_CAST")
    private fun platformId(receipt: String): String =
        ((sandbox.clerk("list") as Map<String, Any?>)["cases"] as List<Map<String, Any?>>).first { it["receipt"] == receipt }["case_id"] as String

    @Test
    fun caseActionsFollowTheCoreAndReachThePlatform() {
        // The phone and the clerk on one day (oneDay): the working days the screens show do not change if the run
        // crosses China's midnight.
        val (clock, day) = oneDay()
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock) }
        val host = TestHost()
        val case = runBlocking {
            z.registerDevice("android", "ui-test", "0")
            z.casesApi.submit(selfSubject(), submission("GA-002", "居民身份证换领"))
        }
        runBlocking { z.syncNow() }
        val receipt = assertNotNull(runBlocking { z.view(case.id).summary.receipt })
        sandbox.clerk("accept", receipt, "--days", "20", "--on", day)
        sandbox.clerk("supplement", receipt, "--items", "身份证复印件", "--due-days", "10", "--on", day)
        runBlocking { z.syncNow() }
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(host) { ZhangbanRoot(open = { z }, caseFromNotice = null, onCaseShown = {}) }
            waitForText("我的办件")
            onNodeWithText("我的办件").performClick()
            waitForText("居民身份证换领")
            onNodeWithText("居民身份证换领").performClick()
            waitForText("办理进度")

            // ---- 补正: attach what was asked, send it ----
            val list = onNode(hasScrollToIndexAction())
            assertTrue(runBlocking { z.view(case.id).actions.supplement })
            list.performScrollToNode(hasText("提交补正"))
            assertTrue(shown("补正材料"))
            onNodeWithText("提交补正").assertIsNotEnabled() // nothing attached yet
            assertFalse(shown("评价本次办理（好差评）"), "not completed: no rating")
            onNodeWithText("上传").performClick()
            waitForText("已附：id-card.jpg")
            onNodeWithText("提交补正").assertIsEnabled()
            cam.shoot("case-supplement")
            onNodeWithText("提交补正").performClick()
            waitForText("补正材料已保存，将随同步发送。")
            val report = runBlocking { z.syncNow() }
            println("sync after the supplement: $report")
            waitOnScreen("the supplement sent: no longer asked for") { !shown("提交补正") }
            assertFalse(runBlocking { z.view(case.id).actions.supplement })
            @Suppress("UNCHECKED_CAST")
            val onPlatform = sandbox.clerk("show", platformId(receipt)) as Map<String, Any?>
            println("on the platform: $onPlatform")
            assertTrue(onPlatform["state"] != "supplement_requested", "the platform has the supplement: ${onPlatform["state"]}")

            // ---- approved and completed: 好差评 with the core's levels; dissatisfied needs a reason ----
            sandbox.clerk("approve", receipt, "--result", "准予", "--on", day)
            sandbox.clerk("complete", receipt, "--result", "已办结", "--on", day)
            runBlocking { z.syncNow() }
            waitOnScreen("the rating offered") { runCatching { list.performScrollToNode(hasText("提交评价")) }.isSuccess }
            val choices = ratingChoices()
            assertEquals(5, choices.size)
            for (r in choices) assertTrue(shown(Lang.ZH.pick(r.label)), r.label.zh)
            // On a line of its own, a level reads as one in English (they were "very satisfied", …).
            for (r in choices) assertTrue(r.label.en.first().isUpperCase(), r.label.en)
            onNodeWithText("提交评价").assertIsNotEnabled() // no level chosen
            list.performScrollToNode(hasText("不满意"))
            onNodeWithText("不满意").performClick()
            waitForText("请填写不满意的原因")
            cam.shoot("case-rate")
            list.performScrollToNode(hasText("提交评价"))
            onNodeWithText("提交评价").assertIsEnabled().performClick()
            waitForText("须填写原因", substring = true) // the core's validation error, in its words
            assertTrue(runBlocking { z.view(case.id).actions.rate }, "refused by the core: still to rate")
            list.performScrollToNode(hasText("请填写不满意的原因"))
            onNode(hasSetTextAction() and hasText("请填写不满意的原因")).performTextInput("窗口排队时间过长")
            list.performScrollToNode(hasText("提交评价"))
            onNodeWithText("提交评价").performClick()
            waitForText("评价已提交，谢谢。")
            waitOnScreen("rated: the rating is no longer offered") { !shown("提交评价") }
            assertFalse(runBlocking { z.view(case.id).actions.rate })

            // ---- a complaint ----
            list.performScrollToNode(hasText("提交投诉"))
            onNodeWithText("提交投诉").assertIsNotEnabled()
            list.performScrollToNode(hasText("遇到了什么问题"))
            onNode(hasSetTextAction() and hasText("遇到了什么问题")).performTextInput("要求重复提交已有的电子证照")
            list.performScrollToNode(hasText("提交投诉"))
            onNodeWithText("提交投诉").assertIsEnabled().performClick()
            waitForText("投诉已提交，将随同步发送。")
            // The "sent" line follows a language switch (it was kept as the Chinese string it was made in).
            cam.variant = Variant(Lang.EN, 1f)
            waitForText("Complaint saved: it goes with the next sync.")
            assertFalse(shown("投诉已提交，将随同步发送。"), "no Chinese line left in the English screen")
            cam.variant = VARIANTS[0]
            waitForText("投诉已提交，将随同步发送。")
            assertEquals(2u, runBlocking { z.casesApi.pendingCount() }, "the rating and the complaint wait in the outbox")
            cam.shoot("case-complained")
            runBlocking { z.syncNow() }
            assertEquals(0u, runBlocking { z.casesApi.pendingCount() })
            @Suppress("UNCHECKED_CAST")
            val said = sandbox.clerk("show", platformId(receipt)) as Map<String, Any?>
            assertEquals("窗口排队时间过长", (said["rating"] as Map<String, Any?>)["reason"], "the rating reached the platform")
            assertTrue(said["complaints"].toString().contains("要求重复提交已有的电子证照"), "the complaint reached the platform")
            onNodeWithText("返回").performClick()

            // ---- a submission the platform refuses: sent again (refused again), then given up ----
            val refused = runBlocking { z.casesApi.submit(selfSubject(), submission("zz-no-such-item", "无此事项的申请")) }
            runBlocking { z.syncNow() }
            waitForText("无此事项的申请")
            onNodeWithText("无此事项的申请").performClick()
            waitForText("平台退回了这次提交")
            val v = runBlocking { z.view(refused.id) }
            assertTrue(v.actions.resubmit && v.actions.discard)
            assertFalse(v.actions.rate || v.actions.supplement)
            val reason = Lang.ZH.pick(assertNotNull(v.summary.problem))
            // One language on the screen: the platform's Chinese reason, not "中文 / English" joined.
            assertFalse(" / " in reason, reason)
            // The platform's reason, once (under 现在需要; the refused panel showed it a second time). The timeline's
            // note of the refusal says it too, as history (a masked line of the render, with its time).
            val reasonLines = onAllNodes(hasText(reason, substring = true) and SemanticsMatcher.keyNotDefined(ChangesByItself))
            assertEquals(1, reasonLines.fetchSemanticsNodes().size, "the reason shown once")
            cam.shoot("case-refused")
            onNode(hasScrollToIndexAction()).performScrollToNode(hasText("重新提交"))
            onNodeWithText("重新提交").performClick()
            waitForText("已重新提交，将随同步发送。")
            assertEquals(CaseState.QUEUED, runBlocking { z.view(refused.id).summary.state })
            assertEquals(1u, runBlocking { z.casesApi.pendingCount() })
            runBlocking { z.syncNow() } // the same unknown item: refused again
            waitOnScreen("refused again") { shown("放弃办理") }
            onNode(hasScrollToIndexAction()).performScrollToNode(hasText("放弃办理"))
            onNodeWithText("放弃办理").performClick()
            waitForText("已放弃办理。")
            assertEquals(CaseState.WITHDRAWN, runBlocking { z.view(refused.id).summary.state })
            waitOnScreen("nothing left to do") { !shown("放弃办理") && !shown("重新提交") }

            // ---- a notice changes what is above the actions while the person is about to tap one ----
            // The clerk accepts a case whose detail is open: the sync's notice reloads it with a deadline line above
            // the complaint box. The box and its button stay where they are on screen (they moved down by that
            // line, and a tap aimed at the button's old place could miss it).
            onNodeWithText("返回").performClick()
            val moving = runBlocking { z.casesApi.submit(selfSubject(), submission("GA-002", "户口迁移")) }
            runBlocking { z.syncNow() }
            val movingReceipt = assertNotNull(runBlocking { z.view(moving.id).summary.receipt })
            waitForText("户口迁移")
            onNodeWithText("户口迁移").performClick()
            waitForText("提交投诉")
            assertEquals(null, runBlocking { z.view(moving.id).deadlineText }, "no deadline before acceptance")
            onNode(hasSetTextAction() and hasText("遇到了什么问题")).performTextInput("窗口让我回家等通知")
            waitForIdle()
            val sendAt = boundsOf("提交投诉")
            sandbox.clerk("accept", movingReceipt, "--days", "20", "--on", day)
            runBlocking { z.syncNow() }
            val accepted = runBlocking { z.view(moving.id) }
            assertNotNull(accepted.deadlineText, "a deadline once accepted")
            waitOnScreen("the reloaded case on screen") { shown(Lang.ZH.pick(accepted.summary.stateText)) }
            waitForIdle()
            assertEquals(sendAt, boundsOf("提交投诉"), "the complaint button moved when the notice's reload arrived")
            // The finger where the button was: the complaint is sent.
            onRoot().performTouchInput { click(sendAt.center) }
            waitForText("投诉已提交，将随同步发送。")

            println("case action screens: ${cam.shot}")
            cam.verify()
        }
        z.close()
    }
}
