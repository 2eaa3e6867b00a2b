package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.onAllNodesWithText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
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
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.ui.ZhangbanRoot
import uniffi.zhangban_wallet.GrantExpiry
import uniffi.zhangban_wallet.Preset

/**
 * 用证记录 over the real library and the sandbox platform: a licence received, shown at a hotel (name and the
 * masked ID number only) and granted to a department; the screen lists the grant (to whom, for what, until
 * when) and every use in the core's words, newest first; withdrawing the grant shows it withdrawn and adds
 * the line. Rendered in zh/en at font scale 1 and 2 (see [Camera]).
 */
@OptIn(ExperimentalTestApi::class)
class UsageScreensTest : SandboxTest("usage") {
    @Test
    fun usageLogShowsWhoGotWhatAndGrantsCanBeWithdrawn() {
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val licence = runBlocking {
            z.registerDevice("android", "ui-test", "0")
            z.wallet.refreshLists(z.platformUrl)
            z.wallet.requestLicence(z.platformUrl, "resident_id", null)
        }
        z.wallet.present(licence.licenceId, Preset.HotelCheckIn, null)
        val grant = z.wallet.grant(licence.licenceId, Preset.HotelCheckIn, "朝阳区民政局", z.wallet.devicePublicKey(), "低保申请", GrantExpiry.Default)
        val usage = z.wallet.usage(null)
        val actions = usage.map { it.action }
        // Newest first, from the core: the grant (made after the presentation) comes first.
        assertTrue(actions.indexOf("licence.grant") in 0 until actions.indexOf("licence.present"), "$actions")
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(TestHost()) { ZhangbanRoot(open = { z }, caseFromNotice = null, onCaseShown = {}) }
            waitForText("证照")
            onNodeWithText("证照").performClick()
            waitForText("用证记录与授权")
            onNodeWithText("用证记录与授权").performScrollTo().performClick()
            waitForText("朝阳区民政局")

            // Every line as the core words it: the hotel saw the name and the masked ID number, for a check-in.
            for (u in usage) waitForText(Lang.ZH.pick(u.text))
            val shownAtHotel = Lang.ZH.pick(usage.first { it.action == "licence.present" }.text)
            assertTrue("姓名" in shownAtHotel && "酒店入住" in shownAtHotel, shownAtHotel)
            assertFalse("出生" in shownAtHotel, "only what was disclosed")
            assertTrue(shown("低保申请"), "the grant's purpose")
            // Newest first, also within one second (all three uses happened in the same second or two: a sort
            // by time showed "received" above "shown"): the screen keeps the core's order, each line above the
            // one that happened before it.
            val tops = usage.map { u -> onAllNodesWithText(Lang.ZH.pick(u.text)).fetchSemanticsNodes().single().boundsInRoot.top }
            for (i in 1 until tops.size) assertTrue(tops[i] > tops[i - 1], "use ${usage[i - 1].action} above ${usage[i].action}: $tops")
            assertTrue(shown("有效至", substring = true))
            onNodeWithText("撤回授权").assertIsEnabled()
            cam.shoot("usage")

            // ---- withdraw the grant ----
            onNodeWithText("撤回授权").performClick()
            waitForText("已于", substring = true)
            assertFalse(shown("撤回授权"), "withdrawn: nothing left to withdraw")
            val revoked = runBlocking { z.wallet.grants(null) }.single { it.grantId == grant.grantId }
            assertNotNull(revoked.revokedAt)
            val last = z.wallet.usage(null).first()
            assertEquals("licence.grant.revoke", last.action, "the newest use first")
            waitForText(Lang.ZH.pick(last.text))
            cam.shoot("usage-revoked")
            println("usage screens: ${cam.shot}")
            cam.verify()
        }
        z.close()
    }
}
