package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.Zhangban
import org.zhangban.ui.Tab
import org.zhangban.ui.ZhangbanTabs
import uniffi.zhangban_agent.Action
import uniffi.zhangban_agent.Scope

/**
 * The path a person takes into agent mode (帮办代办): the app's tabs, 设置, the 帮办代办 section, "我是帮办员".
 * The agent's phone is registered and 李秀英 delegated to it from her phone; from 设置 the agent's home shows her
 * with what she needs now and how she agreed (the core's words), opening her shows the banner saying whose data
 * it is; back to the home, back to 设置 (the tabs again). Rendered zh/en × font scale 1/2.
 */
@OptIn(ExperimentalTestApi::class)
class AgentFromSettingsScreensTest : SandboxTest("agent-settings-ui") {
    @Test
    fun agentModeIsEnteredFromSettings() {
        val z = runBlocking { Zhangban.open(File(tmp, "agent").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val lz = runBlocking { Zhangban.open(File(tmp, "li").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val setup = AgentMode(z.store, sandbox.url)
        val li = PrincipalMode(lz.store)
        runBlocking {
            z.registerDevice("android", "ui-test-agent-s", "0")
            z.wallet.refreshLists(sandbox.url)
            setup.register("王帮办", "12110105MB0000002B")
            lz.registerDevice("android", "ui-test-li-s", "0")
            val scope = Scope(listOf("MZ-002"), emptyList(), listOf(Action.FILL, Action.SUBMIT, Action.FOLLOW), emptyList())
            setup.scanDelegation(li.delegate(setup.certificateQr(), "李秀英", "110105194001010018", scope).text)
        }
        setup.close()
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            // No hover layer in the renders: the pointer rests where "我是帮办员" was pressed, over her card.
            val cam = Camera(this, noHover = true)
            // 设置's buttons are where they stay before the PIN section (the store's answer) arrives above them.
            val agentAt = boundsInFirstFrames("我是帮办员") { cam.setContent(TestHost()) { ZhangbanTabs(z, null, {}, start = Tab.Settings) } }
            assertStays("我是帮办员", agentAt)

            // ---- 设置: the 帮办代办 section and its two ways in ----
            waitForText("帮办代办")
            onNodeWithText("我是帮办员").performScrollTo()
            assertTrue(shown("我的委托（谁可以替我办事）"))
            assertFalse(shown("帮办代办：我服务的委托人"), "agent mode is not open before it is chosen")

            // ---- "我是帮办员": the agent's home, her line in the core's words ----
            onNodeWithText("我是帮办员").performClick()
            waitForText("帮办代办：我服务的委托人")
            waitForText("李秀英", substring = true)
            assertTrue(shown("可开始填报"), "what she needs now")
            assertTrue(shown("授权委托（委托人手机签署）"), "how she agreed")
            assertFalse(shown("我是帮办员"), "the settings page left the screen")
            cam.shoot("settings-agent-home")

            // ---- opening her: the banner says whose data this is ----
            // Her banner arrives above the back button: nothing to press is laid out before it.
            val backAt = boundsInFirstFrames("返回") { onNodeWithText("李秀英", substring = true).performClick() }
            waitForText("正在为委托人 李秀英", substring = true)
            assertStays("返回", backAt)
            assertTrue(shown("不是您自己的", substring = true))
            assertTrue(shown("开始申请：高龄津贴申领"))
            onNodeWithText("返回").performClick()
            waitForText("帮办代办：我服务的委托人")

            // ---- back to 设置, and the tabs with it ----
            onNodeWithText("返回").performClick()
            waitForText("我是帮办员")
            assertTrue(shown("办事") && shown("我的办件"), "the tabs are back")
            assertFalse(shown("帮办代办：我服务的委托人"), "agent mode closed")
            // (The section's other button, 我的委托, opens the principal's side: PrincipalScreensTest drives it.)

            println("agent mode from settings: ${cam.shot.size} renders: ${cam.shot}")
            cam.verify()
        }
        li.close()
        lz.close()
        z.close()
    }
}
