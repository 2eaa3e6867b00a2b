package org.zhangban.uitest

import androidx.compose.runtime.getValue
import androidx.compose.runtime.key
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.hasContentDescription
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import java.security.InvalidKeyException
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.PlatformKey
import org.zhangban.kit.Zhangban
import org.zhangban.ui.PresentScreen
import org.zhangban.ui.QrPayload

/**
 * 亮证 with a hardware device key that wants the person first (Keystore's time-bound key after the screen
 * lock's window has passed): the screen asks the host once, in the core's words, and shows the code once the
 * person has confirmed; a cancel shows the core's text and no code.
 */
@OptIn(ExperimentalTestApi::class)
class DeviceKeyPromptScreensTest : SandboxTest("device-key-prompt") {
    /** Keystore's exception (an android.* class on a phone), by the name the kit tells apart. */
    class UserNotAuthenticatedException : InvalidKeyException("user not authenticated")

    /** A P-256 key the core never held; it refuses to sign while [wantsPerson]. */
    class TimeBoundKey : PlatformKey {
        private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
        @Volatile var wantsPerson = false
        override fun publicKey(): ECPublicKey = pair.public as ECPublicKey
        override fun privateKey(): PrivateKey = if (wantsPerson) throw UserNotAuthenticatedException() else pair.private
    }

    @Test
    fun presentingWithAKeyThatWantsThePersonAsksOnceThenShowsTheCode() {
        val hw = TimeBoundKey()
        val key = aesKey()
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { key }, null, sandbox.url, deviceKey = hw) }
        val item = runBlocking {
            z.registerDevice("android", "jvm-prompt", "0")
            z.wallet.refreshLists(sandbox.url)
            z.wallet.requestLicence(sandbox.url, "resident_id", null)
            z.wallet.licences().first()
        }
        hw.wantsPerson = true
        val host = TestHost().apply {
            confirms = false // the person cancels first
        }
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            var attempt by mutableStateOf(0)
            cam.setContent(host) {
                key(attempt) { PresentScreen(z, item, onClose = {}) }
            }
            // Cancelled: the core's words on screen, no code.
            waitOnScreen("the person asked") { host.confirmPrompts.isNotEmpty() }
            waitForText("需要先验证是您本人", substring = true)
            assertEquals("确认是您本人", host.confirmPrompts.first().first)
            assertTrue(qrText().isEmpty(), "no code without the person")
            // The screen opened again; this time they confirm (the key signs from then on): one prompt, a code.
            host.confirms = true
            host.onConfirm = { hw.wantsPerson = false }
            val before = host.confirmPrompts.size
            runOnIdle { attempt++ }
            waitOnScreen("the code after the person confirmed") { qrText().startsWith("ZB1:") }
            assertEquals(before + 1, host.confirmPrompts.size, "asked once")
        }
        z.close()
    }

    private fun androidx.compose.ui.test.SkikoComposeUiTest.qrText(): String =
        onAllNodes(hasContentDescription("亮证二维码")).fetchSemanticsNodes(false)
            .firstNotNullOfOrNull { n -> n.config.takeIf { QrPayload in it }?.get(QrPayload) }.orEmpty()
}
