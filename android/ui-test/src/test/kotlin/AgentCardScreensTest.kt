package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.Zhangban
import org.zhangban.ui.AgentRoot
import uniffi.zhangban_agent.Action
import uniffi.zhangban_agent.Scope

/**
 * 我的帮办员证 on a new agent's phone: from the agent's home, the registration (a phone without a certificate has
 * nothing else to show; the button waits for both fields), the platform's certificate shown as the code a
 * principal scans, and her phone reading it offline as this agent of this organisation. Before this screen the
 * app had no way to register or to show the card: the error said "register first" and nothing did it.
 */
@OptIn(ExperimentalTestApi::class)
class AgentCardScreensTest : SandboxTest("agent-card-ui") {
    @Test
    fun anAgentRegistersAndShowsTheCardHerPhoneReads() {
        val z = runBlocking { Zhangban.open(File(tmp, "agent").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val lz = runBlocking { Zhangban.open(File(tmp, "li").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        runBlocking {
            z.registerDevice("android", "ui-test-agent-card", "0")
            lz.registerDevice("android", "ui-test-li-card", "0")
        }
        val agent = AgentMode(z.store, sandbox.url)
        assertNull(runBlocking { agent.card() }, "a new phone has no agent certificate")
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(TestHost()) { AgentRoot(z, agent) }
            waitForText("帮办代办：我服务的委托人")
            onNodeWithText("我的帮办员证").performClick()

            // ---- no certificate: the registration ----
            waitForText("注册为帮办员")
            assertTrue(shown("本机还没有帮办员证", substring = true))
            onNodeWithText("注册").assertIsNotEnabled()
            onNode(hasSetTextAction() and hasText("姓名")).performTextInput("王帮办")
            onNodeWithText("注册").assertIsNotEnabled()
            onNode(hasSetTextAction() and hasText("服务机构的统一社会信用代码")).performTextInput("12110105MB0000002B")
            onNodeWithText("注册").assertIsEnabled()
            cam.shoot("agent-register")

            // ---- registered: the card, as the code her phone scans ----
            onNodeWithText("注册").performClick()
            waitForText("请委托人用手机扫这个码，再授权给您。")
            assertTrue(shown("王帮办"))
            assertFalse(shown("注册为帮办员"), "the registration left the screen")
            cam.shoot("agent-card")
            val text = qrOnScreen("我的帮办员证", "ZBA1:")
            val cert = runBlocking { PrincipalMode(lz.store).readAgentCertificate(text) }
            assertEquals("王帮办", cert.name)
            assertEquals("12110105MB0000002B", cert.orgCode)
            assertTrue(shown(cert.orgName), "the organisation the platform registered: ${cert.orgName}")
            val own = assertNotNull(runBlocking { agent.card() })
            assertEquals(own.certificate.certId, cert.certId, "the card on screen is this phone's")
            assertTrue(shown(own.validText.zh), "its validity, worded by the core: ${own.validText.zh}")

            // ---- back on the home, the card stays one tap away ----
            onNodeWithText("返回").performClick()
            waitForText("帮办代办：我服务的委托人")
            onNodeWithText("我的帮办员证").performClick()
            waitForText("请委托人用手机扫这个码，再授权给您。")
            assertFalse(shown("注册为帮办员"), "a registered phone is not asked again")
            assertFalse(shown("被平台拒收", substring = true), "every access reached the platform so far")

            // ---- the service centre ends the certificate: the platform refuses the agent's reports for good, and
            // the card says what did not reach the principal (ADR 0045) ----
            val scope = Scope(items = listOf("MZ-002"), licenceTypes = listOf(), actions = listOf(Action.FOLLOW), elements = listOf())
            val given = runBlocking { PrincipalMode(lz.store).delegate(text, "李秀英", "110105194001010018", scope) }
            runBlocking { agent.switchPrincipal(agent.scanDelegation(given.text).subject) }
            endCertificate(cert.agentId)
            val run = runBlocking { z.syncNow() }
            assertTrue(run.accessesUndelivered >= 1u && run.accessesReported == 0u, run.toString())
            onNodeWithText("返回").performClick()
            waitForText("帮办代办：我服务的委托人")
            onNodeWithText("我的帮办员证").performClick()
            waitForText("条访问记录被平台拒收，未能送达委托人", substring = true)
            val line = assertNotNull(runBlocking { agent.card() }?.notDelivered)
            assertTrue(shown(line.zh), "worded by the core: ${line.zh}")
            cam.shoot("agent-card-undelivered")
            println("agent card screens: ${cam.shot}")
            cam.verify()
        }
        agent.close()
        z.close()
        lz.close()
    }

    /** The service centre ends the agent's certificate (`POST /admin/agents/{id}/end-certificate`). */
    private fun endCertificate(agentId: String) {
        val req = java.net.http.HttpRequest.newBuilder(java.net.URI("${sandbox.url}/admin/agents/$agentId/end-certificate"))
            .header("x-admin-token", sandbox.adminToken)
            .POST(java.net.http.HttpRequest.BodyPublishers.noBody())
            .build()
        val resp = java.net.http.HttpClient.newHttpClient().send(req, java.net.http.HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == 200) { "end-certificate: ${resp.statusCode()} ${resp.body()}" }
    }
}
