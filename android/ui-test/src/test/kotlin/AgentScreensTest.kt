package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.hasScrollToIndexAction
import androidx.compose.ui.test.hasStateDescription
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onAllNodesWithText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
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
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.Lang
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.Zhangban
import org.zhangban.ui.AgentRoot
import uniffi.zhangban_agent.LicenceElements
import uniffi.zhangban_agent.Action
import uniffi.zhangban_agent.Assurance
import uniffi.zhangban_agent.PrincipalStatus
import uniffi.zhangban_agent.Scope
import uniffi.zhangban_forms.MaterialStatus
import uniffi.zhangban_wallet.Preset

/**
 * Agent mode's screens (帮办代办) over the real library and the sandbox: the agent's phone holds its own
 * person's e-licence (张三); 李秀英 delegated from her phone and showed her e-licence at the door. The home
 * lists her with what she needs now; a door intake for 孙德明 (no phone) captures the three pictures, the items
 * offered at home and the summary read out; switching to 李秀英 shows the banner saying whose data it is; her
 * form is filled from HER licence (nothing of 张三 on screen); the summary in large text is signed and the case
 * submitted for her. Each screen rendered zh/en × font scale 1/2 and compared with the goldens.
 */
@OptIn(ExperimentalTestApi::class)
class AgentScreensTest : SandboxTest("agent-ui") {
    @Test
    fun agentModeScreensDrivenAssertedAndRendered() {
        val z = runBlocking { Zhangban.open(File(tmp, "agent").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val lz = runBlocking { Zhangban.open(File(tmp, "li").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val agent = AgentMode(z.store, sandbox.url)
        val li = PrincipalMode(lz.store)
        val (her, itemName) = runBlocking {
            z.registerDevice("android", "ui-test-agent", "0")
            z.wallet.refreshLists(sandbox.url)
            z.wallet.requestLicence(sandbox.url, "resident_id", null) // the agent's own: 张三
            agent.register("王帮办", "12110105MB0000002B")
            val device = lz.registerDevice("android", "ui-test-li", "0")
            sandbox.enrol(device, mapOf(
                "name" to "李秀英", "sex" to "女", "ethnicity" to "汉", "birth_date" to "1940-01-01",
                "address" to "北京市朝阳区幸福村8号", "id_number" to "110105194001010018",
                "issuing_authority" to "北京市公安局朝阳分局",
            ))
            lz.wallet.refreshLists(sandbox.url)
            val licence = lz.wallet.requestLicence(sandbox.url, "resident_id", null)
            val scope = Scope(
                listOf("MZ-002"), listOf("resident_id"), listOf(Action.FILL, Action.SUBMIT, Action.FOLLOW, Action.RECEIVE_RESULTS),
                listOf(LicenceElements("resident_id", listOf("name", "id_number", "sex", "birth_date", "ethnicity", "address"))),
            )
            val given = li.delegate(agent.certificateQr(), "李秀英", "110105194001010018", scope)
            val line = agent.scanDelegation(given.text)
            agent.checkPrincipalLicence(line.subject, lz.presenter().present(licence.licenceId, Preset.Full).code.qrText)
            line.subject to Lang.ZH.pick(agent.doorItems().single { it.code == "MZ-002" }.name)
        }
        val host = TestHost()
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(host) { AgentRoot(z, agent) }

            // ---- the home: 李秀英 with what she needs now ----
            waitForText("帮办代办：我服务的委托人")
            waitForText("李秀英", substring = true)
            assertTrue(shown("可开始填报"))
            assertTrue(shown("授权委托（委托人手机签署）"))
            cam.shoot("agent-home")
            // The camera hook (Host.rememberCodeScanner): a code that is no delegation is refused in the core's
            // words and adds nobody.
            host.nextScan = "ZBD1:NOT-A-DELEGATION"
            onNodeWithText("扫委托人的委托码").performClick()
            assertEquals(1, host.scans)
            waitOnScreen("the refusal shown") { shown("证照校验未通过", substring = true) }
            assertEquals(1, runBlocking { agent.refresh() }.size)

            // ---- door intake: 孙德明 has no phone ----
            onNodeWithText("上门受理（委托人没有手机）").performClick()
            waitForText("开始上门受理")
            onNode(hasSetTextAction() and hasText("委托人姓名")).performTextInput("孙德明")
            onNode(hasSetTextAction() and hasText("委托人身份证号")).performTextInput(idNumber("11010519400101001"))
            onNodeWithText("开始上门受理").performClick()
            waitForText("拍身份证")
            // Each capture keeps its button where it is (disabled, "已采集" its state): the next one does not move.
            val capturesAt = listOf("拍身份证", "拍委托人本人", "委托人手写签名").associateWith { boundsOf(it) }
            for (label in listOf("拍身份证", "拍委托人本人", "委托人手写签名")) {
                onNodeWithText(label).performScrollTo().performClick()
                waitOnScreen("$label captured") {
                    onAllNodes(hasText(label) and hasStateDescription("已采集")).fetchSemanticsNodes(false).isNotEmpty()
                }
                onNodeWithText(label).assertIsNotEnabled()
                for ((other, at) in capturesAt) assertEquals(at, boundsOf(other), "'$other' moved when '$label' was captured")
            }
            assertEquals(3, host.picks)
            // The item chosen: the read-out arrives from the core after the click. The save button is laid out
            // with it, never before it (it was, disabled, and moved down when the read-out arrived above it).
            val saveAt = boundsInFirstFrames("委托人已同意，保存上门确认") { onNodeWithText(itemName).performScrollTo().performClick() }
            waitForText("孙德明，您委托王帮办", substring = true)
            assertStays("委托人已同意，保存上门确认", saveAt)
            assertTrue(shown("可以随时撤销", substring = true), "the summary read out says it can be withdrawn")
            onNodeWithText("委托人已同意，保存上门确认").performScrollTo().assertIsEnabled()
            onNodeWithText("拍身份证").performScrollTo()
            cam.shoot("agent-door")
            onNodeWithText("委托人已同意，保存上门确认").performScrollTo().performClick()
            waitForText("正在为委托人 孙德明", substring = true)
            val sun = runBlocking { agent.refresh() }.single { it.name == "孙德明" }
            assertEquals(Assurance.DOOR, sun.assurance)
            assertEquals(PrincipalStatus.ACTIVE, sun.status)
            onNodeWithText("返回").performClick()

            // ---- switching to 李秀英: the banner says whose data this is ----
            waitForText("上门确认（较低保障等级）")
            onNodeWithText("李秀英", substring = true).performClick()
            waitForText("正在为委托人 李秀英", substring = true)
            assertTrue(shown("不是您自己的", substring = true))
            assertTrue(shown("可代为办理"))
            cam.shoot("agent-principal")

            // ---- her form: filled from HER licence, never from the agent's own (张三) ----
            onNodeWithText("开始申请：$itemName").performClick()
            waitForText("已填", substring = true)
            val draftId = runBlocking { agent.switchPrincipal(her).drafts.single().id }
            val fields = runBlocking { agent.resumeDraft(her, draftId).use { it.state.value.fields } }
            assertEquals("\"李秀英\"", fields.single { it.path == "applicant.name" }.value)
            assertTrue(shown("李秀英"), "her name, from her licence, on her form")
            assertFalse(shown("张三", substring = true), "nothing of the agent's own licence on her form")
            assertTrue(shown("正在为委托人 李秀英", substring = true), "the banner stays on the form")
            // A locked choice (性别, from her licence) says why, as the locked text boxes do (its greyed chips
            // said nothing): one "来自电子证照" line per locked field on screen, the choice's among them.
            val gender = fields.single { it.path == "applicant.gender" }
            assertFalse(gender.editable)
            val lockedOnScreen = fields.filter { !it.editable && shown(Lang.ZH.pick(it.label)) }
            assertTrue(gender in lockedOnScreen)
            val reason = Lang.ZH.pick(assertNotNull(gender.lockReason))
            assertEquals(lockedOnScreen.size, onAllNodesWithText(reason).fetchSemanticsNodes().size, "a reason under each locked field")
            cam.shoot("agent-form")
            val list = onNode(hasScrollToIndexAction())
            for ((path, v) in mapOf("applicant.phone" to "13900001111", "allowance.account" to "6217000010001234567")) {
                val label = Lang.ZH.pick(fields.single { it.path == path }.label)
                list.performScrollToNode(hasText(label))
                onNode(hasSetTextAction() and hasText(label)).performTextInput(v)
                waitForIdle()
            }
            // The materials her licence does not cover: a photo each (the picker stands in for the camera),
            // written under her key through agent mode.
            val missing = runBlocking {
                agent.resumeDraft(her, draftId).use { d -> d.state.value.materials.filter { it.status !is MaterialStatus.Exempt } }
            }
            assertTrue(missing.isNotEmpty() && missing.none { it.code == "M_ID" }, "her ID card is covered by HER licence")
            for ((n, m) in missing.withIndex()) {
                val name = Lang.ZH.pick(m.name)
                list.performScrollToNode(hasText(name))
                val top = onNodeWithText(name).fetchSemanticsNode().boundsInRoot.top
                val buttons = onAllNodesWithText("上传").fetchSemanticsNodes()
                val below = buttons.withIndex().filter { it.value.boundsInRoot.top > top }.minBy { it.value.boundsInRoot.top }.index
                onAllNodesWithText("上传")[below].performClick()
                runBlocking {
                    waitUntilCore {
                        agent.resumeDraft(her, draftId).use { d -> d.state.value.materials.count { it.status is MaterialStatus.Attached } } == n + 1
                    }
                }
            }
            list.performScrollToNode(hasText("交委托人核对"))
            waitOnScreen("review enabled") { runCatching { onNodeWithText("交委托人核对").assertIsEnabled() }.isSuccess }
            onNodeWithText("交委托人核对").performClick()

            // ---- the summary in large text; she signs; the agent submits for her ----
            waitForText("请委托人核对以下内容")
            waitForText("您委托帮办员王帮办为您办理", substring = true)
            assertTrue(shown("李秀英", substring = true) && !shown("张三", substring = true))
            onNodeWithText("代为提交").assertIsNotEnabled()
            cam.shoot("agent-summary")
            onNodeWithText("委托人签名确认").performScrollTo().performClick()
            waitForText("委托人已确认")
            onNodeWithText("代为提交").performScrollTo().assertIsEnabled().performClick()
            waitForText("1 件待联网发送", substring = true)
            val case = runBlocking { agent.switchPrincipal(her).cases.single() }
            assertEquals(her, case.subject)
            assertTrue(z.cases.value.isEmpty(), "the agent's own list has none of hers")
            waitForText(Lang.ZH.pick(case.title))

            println("agent screens: ${cam.shot.size} renders: ${cam.shot}")
            cam.verify()
        }
        agent.close()
        li.close()
        lz.close()
        z.close()
    }
}
