package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.hasContentDescription
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.Lang
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.Zhangban
import org.zhangban.kit.field
import org.zhangban.kit.text
import org.zhangban.ui.PrincipalRoot
import org.zhangban.ui.QrPayload
import uniffi.zhangban_agent.Assurance
import uniffi.zhangban_forms.MaterialStatus
import uniffi.zhangban_ffi.ZhangbanException

/**
 * The principal's own phone (李秀英, 85): she scans the agent's code; the screen says who the agent is
 * (checked offline), fills her name and ID number from her ID card, offers the items, the four actions and
 * each element of her ID card with its value (name and ID number chosen at first); the sentence she reads
 * names exactly the elements chosen (adding her address shows it, taking it away removes it); she signs and
 * shows the code, which the agent's phone accepts. The agent applies for her and syncs; her page shows the
 * delegation in effect and what the agent did (the platform's signed entry), she revokes (asked twice),
 * the revocation reaches the platform and the agent, whose next attempt is refused. Rendered zh/en × 1/2.
 */
@OptIn(ExperimentalTestApi::class)
class PrincipalScreensTest : SandboxTest("principal-ui") {
    private val her = mapOf(
        "name" to "李秀英", "sex" to "女", "ethnicity" to "汉", "birth_date" to "1940-01-01",
        "address" to "北京市朝阳区幸福村8号", "id_number" to "110105194001010018",
        "issuing_authority" to "北京市公安局朝阳分局",
    )

    @Test
    fun principalScreensDrivenAssertedAndRendered() {
        val z = runBlocking { Zhangban.open(File(tmp, "agent").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val lz = runBlocking { Zhangban.open(File(tmp, "li").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val agent = AgentMode(z.store, sandbox.url)
        val li = PrincipalMode(lz.store)
        val certQr = runBlocking {
            z.registerDevice("android", "ui-test-agent-p", "0")
            z.wallet.refreshLists(sandbox.url)
            agent.register("王帮办", "12110105MB0000002B")
            sandbox.enrol(lz.registerDevice("android", "ui-test-li-p", "0"), her)
            lz.wallet.refreshLists(sandbox.url)
            lz.wallet.requestLicence(sandbox.url, "resident_id", null)
            agent.certificateQr()
        }
        val host = TestHost().apply { nextScan = certQr }
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            // Her page's button is where it stays before the page's summary (its first answer) arrives above it.
            val scanAt = boundsInFirstFrames("委托帮办员：扫帮办员的二维码") { cam.setContent(host) { PrincipalRoot(li) } }

            // ---- her page, nobody authorised yet; she scans the agent's code ----
            waitForText("您现在没有委托任何帮办员。")
            assertStays("委托帮办员：扫帮办员的二维码", scanAt)
            onNodeWithText("委托帮办员：扫帮办员的二维码").performClick()
            assertEquals(1, host.scans)
            waitForText("王帮办", substring = true)
            assertTrue(shown("平台已核验此人的帮办员证书", substring = true))
            // Her name and ID number, from her ID card on this phone.
            assertTrue(onAllNodes(hasSetTextAction() and hasText("110105194001010018")).fetchSemanticsNodes().size == 1)
            assertTrue(shown("姓名：李秀英") && shown("住址：北京市朝阳区幸福村8号"), "each element with its value")
            assertFalse(shown("已满18周岁", substring = true), "derived elements are not offered")
            cam.shoot("principal-choose")

            // ---- the first page of items: those offered at home; the rest on asking ----
            assertTrue(shown("高龄津贴申领") && !shown("二手房转移登记"), "only the items offered at home at first")
            onNodeWithText("另有", substring = true).performScrollTo().performClick()
            waitForText("二手房转移登记")
            assertFalse(shown("另有", substring = true), "the rest shown, the button gone")

            // ---- one item; the sentence, on a page of its own, names exactly the elements chosen ----
            onNodeWithText("高龄津贴申领").performScrollTo().performClick()
            val read = {
                // Enabled once the core's preview of the choice just made is in (it is asked for after each change):
                // clicked before that, the button was still disabled (one full run in several).
                waitOnScreen("下一步 enabled") { runCatching { onNodeWithText("下一步：读一遍，再签名").assertIsEnabled() }.isSuccess }
                onNodeWithText("下一步：读一遍，再签名").performScrollTo().assertIsEnabled().performClick()
                waitForText("您将委托王帮办", substring = true)
            }
            val change = {
                onNodeWithText("返回修改").performClick()
                waitForText("请帮办员办哪些事？")
            }
            read()
            assertTrue(shown("居民身份证的姓名、公民身份号码", substring = true))
            assertFalse(shown("住址。", substring = true))
            assertFalse(shown("请帮办员办哪些事？"), "the sentence is on its own page")
            change()
            onNodeWithText("住址：北京市朝阳区幸福村8号").performScrollTo().performClick()
            read()
            waitForText("居民身份证的姓名、公民身份号码、住址", substring = true)
            change()
            onNodeWithText("住址：北京市朝阳区幸福村8号").performScrollTo().performClick()
            read()
            assertFalse(shown("公民身份号码、住址", substring = true), "the address left the sentence")
            assertTrue(shown("您可以随时撤销", substring = true))
            onNodeWithText("同意，签名并生成委托码").assertIsEnabled()
            cam.shoot("principal-preview")

            // ---- she signs; the code on screen is what the agent's phone scans ----
            onNodeWithText("同意，签名并生成委托码").performScrollTo().performClick()
            waitForText("请帮办员扫这个码")
            var code = ""
            waitOnScreen("the delegation code") {
                code = onAllNodes(hasContentDescription("委托码")).fetchSemanticsNodes(false).firstOrNull()
                    ?.config?.let { if (QrPayload in it) it[QrPayload] else null }.orEmpty()
                code.startsWith("ZBD1:")
            }
            cam.shoot("principal-code")
            val line = runBlocking { agent.scanDelegation(code) }
            assertEquals("李秀英", line.name)
            assertEquals(Assurance.DELEGATION, line.assurance)

            // ---- the agent applies for her (off screen) and syncs; her phone hears of it ----
            val receipt = runBlocking {
                val s = line.subject
                val form = agent.startDraft(s, "MZ-002")
                assertEquals("李秀英", form.value("applicant.name"), "filled from the element she shared")
                for ((path, v) in mapOf(
                    "applicant.phone" to "13900001111", "allowance.account" to "6217000010001234567",
                    "applicant.address" to her.getValue("address"), "applicant.gender" to "女",
                    "applicant.birth_date" to "1940-01-01",
                )) {
                    if (form.state.value.field(path)?.editable == true && (form.value(path) as? String).isNullOrEmpty()) form.set(path, v)
                }
                for (m in form.state.value.materials.filter { it.status !is MaterialStatus.Exempt }) {
                    agent.attach(form, s, m.code, "${m.code}.jpg", byteArrayOf(-1, -40, -1, 1, 2) + m.code.toByteArray())
                }
                assertTrue(form.state.value.complete, form.state.value.issues.toString())
                val summary = agent.summary(s, form)
                agent.confirm(s, form, null, li.confirmSummary(summary.zh))
                agent.submit(s, form)
                form.close()
                assertEquals(1u, z.syncNow().receipts)
                lz.syncNow()
                agent.switchPrincipal(s).cases.single().receipt!!
            }

            // ---- her page: the delegation in effect, and what the agent did ----
            onNodeWithText("完成").performScrollTo().performClick()
            waitForText("您现在委托了 1 位帮办员。不需要时，请点“撤销”。")
            waitForText("王帮办（", substring = true)
            assertTrue(shown("可以代您填报、提交、查看进度、领取结果：高龄津贴申领。可以使用：居民身份证的姓名、公民身份号码。"))
            assertTrue(shown("有效，到", substring = true))
            waitForText("王帮办为您提交了“高龄津贴申领”。回执号 $receipt。")
            cam.shoot("principal-home")

            // ---- she revokes: asked once more, in words; then it is revoked at once on her phone ----
            onNodeWithText("撤销").performScrollTo().performClick()
            waitForText("撤销后，这位帮办员不能再为您办事。确定撤销吗？")
            onNodeWithText("确定撤销").performScrollTo()
            cam.shoot("principal-revoke-ask")
            onNodeWithText("确定撤销").performClick()
            waitForText("您现在没有委托任何帮办员。")
            assertTrue(shown("联网后通知平台。", substring = true))
            cam.shoot("principal-revoked")
            runBlocking {
                assertEquals(1u, lz.syncNow().revocationsSent)
                assertEquals(1u, z.syncNow().revocationsApplied)
                val denied = runCatching { agent.switchPrincipal(line.subject) }.exceptionOrNull() as ZhangbanException.PermissionDenied
                assertEquals("revoked", denied.missing)
                assertEquals("Not permitted for this principal: the principal revoked this delegation", denied.text(Lang.EN))
            }

            println("principal screens: ${cam.shot.size} renders: ${cam.shot}")
            cam.verify()
        }
        agent.close()
        li.close()
        lz.close()
        z.close()
    }
}
