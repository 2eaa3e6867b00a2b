package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.SkikoComposeUiTest
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.hasContentDescription
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onAllNodesWithText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.performTextReplacement
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.ByteArrayOutputStream
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.zip.Deflater
import java.util.zip.Inflater
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
import org.zhangban.ui.QrPayload
import org.zhangban.ui.ZhangbanRoot
import uniffi.zhangban_ffi.ZhangbanTestClock
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_wallet.VerificationOutcome
import uniffi.zhangban_wallet.defaultVerifyPolicy

/**
 * 核验 over the real library and the sandbox platform: the verifier shows its challenge first (engagement
 * mode); the holder's answer is accepted with exactly the disclosed fields; an answer to another verifier's
 * challenge (relayed) is refused; in one-way mode an old code (a screenshot), an edited code and a code of a
 * licence the issuer revoked are refused, each with the core's reason. The camera is the test host's: it
 * reads what the test holds up. Rendered in zh/en at font scale 1 and 2 (see [Camera]).
 */
@OptIn(ExperimentalTestApi::class)
class VerifierScreensTest : SandboxTest("verifier") {
    @Test
    fun verifierShowsTheCoresOutcomeWithItsReason() {
        // The store's clock, stepped by the test (no time crosses the FFI: ADR 0019).
        val clock = ZhangbanTestClock(System.currentTimeMillis() / 1000)
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock) }
        val licence = runBlocking {
            z.registerDevice("android", "ui-test", "0")
            z.wallet.refreshLists(z.platformUrl)
            z.wallet.requestLicence(z.platformUrl, "resident_id", null)
        }
        val host = TestHost()
        val hotel = defaultVerifyPolicy().copy(acceptedPurposes = listOf("hotel-check-in"))
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(host) { ZhangbanRoot(open = { z }, caseFromNotice = null, onCaseShown = {}) }
            waitForText("证照")
            onNodeWithText("证照").performClick()

            // ---- the holder's side of engagement mode: 亮证 answers the challenge scanned from a verifier ----
            waitForText("身份证", substring = true)
            onAllNodesWithText("身份证", substring = true)[0].performClick()
            waitForText("扫描核验方挑战码（防转发）")
            val lastOneWay = qrOnScreen("亮证二维码") { true }
            val counter = runBlocking { z.wallet.verifier() }
            val shownByCounter = counter.engage("hotel-check-in").text
            host.nextScan = shownByCounter
            onNodeWithText("扫描核验方挑战码（防转发）").performScrollTo().performClick()
            waitForText("此码只对扫描的核验方有效。")
            val answer = qrOnScreen("亮证二维码") { it != lastOneWay }
            assertTrue(counter.verifyEngaged(answer, hotel).accepted, "the counter that showed the challenge accepts the answer")
            counter.close()
            cam.shoot("present-engaged")
            onNodeWithText("返回").performClick()
            waitForText("核验他人亮证")
            // The wallet opened again: its buttons are where they stay before the licence cards arrive above them.
            onNodeWithText("办事").performClick()
            waitForText("查找服务（如 个体工商户、出生）")
            val verifyAt = boundsInFirstFrames("核验他人亮证") { onNodeWithText("证照").performClick() }
            waitForText("北京市公安局")
            assertStays("核验他人亮证", verifyAt)

            // ---- engagement mode first: the verifier's challenge on screen ----
            // The challenge is made after the screen is up, above the buttons: its place is kept, so they stay
            // where a finger (or a test's click) first found them. The clock is held so that the buttons are
            // measured in the screen's first frames, before the challenge can have arrived.
            onNodeWithText("核验他人亮证").performScrollTo()
            val scanAt = boundsInFirstFrames("扫描亮证码") { onNodeWithText("核验他人亮证").performClick() }
            val checkAt = boundsOf("核验")
            val challenge = challengeOnScreen()
            assertEquals(scanAt, boundsOf("扫描亮证码"), "the scan button moved when the challenge appeared")
            assertEquals(checkAt, boundsOf("核验"), "the check button moved when the challenge appeared")
            assertTrue(challenge.startsWith("ZBE1:"), challenge)
            assertTrue(shown("请对方先用掌办扫描此码，再出示亮证码：") && shown("核验亮证"))
            onNodeWithText("扫描亮证码").assertIsEnabled()
            onNodeWithText("核验").assertIsNotEnabled() // nothing pasted yet
            cam.shoot("verifier")

            // ---- the holder's phone answers this challenge: accepted, with exactly what was disclosed ----
            host.nextScan = runBlocking { z.wallet.presentEngaged(licence.licenceId, Preset.HotelCheckIn, challenge).qrText }
            onNodeWithText("扫描亮证码").performScrollTo().performClick()
            waitForText("核验通过")
            assertFalse(shown("核验不通过"))
            assertTrue(shown("对方披露的信息（仅此）"))
            assertTrue(shown("姓名：", substring = true), "the name is disclosed for a hotel check-in")
            assertFalse(shown("出生日期", substring = true), "the birth date is not: only what the preset discloses")
            assertEquals(2, host.scans) // the holder's scan of a challenge, then this
            cam.shoot("verifier-valid")
            cam.variant = VARIANTS[1]
            waitForText("Valid") // the outcome in English: the core's names of the fields, the app's heading
            assertTrue(shown("Name: ", substring = true), "the field names in English")
            cam.variant = VARIANTS[0]
            waitForText("核验通过")

            // ---- a code made for another verifier's challenge (relayed to this one): refused ----
            val other = runBlocking { z.wallet.verifier().use { it.engage("hotel-check-in").text } }
            host.nextScan = runBlocking { z.wallet.presentEngaged(licence.licenceId, Preset.HotelCheckIn, other).qrText }
            onNodeWithText("扫描亮证码").performScrollTo().performClick()
            waitForText("核验不通过")
            assertEquals(3, host.scans)
            waitForText("该亮证码不是针对本机出示的挑战码生成的（疑似转发）：请对方扫描本机的挑战码后重新出示。")
            cam.shoot("verifier-relayed")

            // ---- one-way mode: a code from ten minutes ago (a screenshot): expired ----
            onNodeWithText("直接扫码").performScrollTo().performClick()
            waitOnScreen("no challenge in one-way mode") { !shown("请对方先用掌办扫描此码，再出示亮证码：") }
            val old = runBlocking { z.wallet.present(licence.licenceId, Preset.HotelCheckIn, null).qrText }
            clock.advance(600) // ten minutes later: the code on a screenshot
            paste(old)
            waitForText("亮证码已过期（可能是截图）：请让对方刷新亮证码后重新扫描。")
            cam.shoot("verifier-expired")

            // ---- an edited code (one disclosed value changed, re-encoded): tampered ----
            val fresh = runBlocking { z.wallet.present(licence.licenceId, Preset.HotelCheckIn, null).qrText }
            val name = runBlocking { z.wallet.licence(licence.licenceId) }.let { d ->
                assertNotNull(d.elements.firstOrNull { it.key == "name" }, "the licence has a name").display
            }
            val edited = tamper(fresh, name)
            val expected = expectedOutcome(z, edited, hotel)
            assertFalse(expected.accepted)
            assertTrue(expected.reasonCode in setOf("digest_mismatch", "bad_device_signature"), expected.reasonCode)
            paste(edited)
            waitForText(Lang.ZH.pick(assertNotNull(expected.reason)))
            assertTrue(shown("核验不通过"))
            cam.shoot("verifier-tampered")

            // ---- the issuer revokes the licence; the verifier updates its lists: revoked ----
            revoke(licence.licenceId)
            onNodeWithText("更新签发机构和注销名单").performScrollTo().performClick()
            waitForIdle()
            val afterRevocation = runBlocking { z.wallet.present(licence.licenceId, Preset.HotelCheckIn, null).qrText }
            waitOnScreen("a new verifier over the new lists") { !shown("核验不通过") }
            paste(afterRevocation)
            waitForText("证照已被签发机构注销或吊销：请勿采信。")
            cam.shoot("verifier-revoked")

            println("verifier screens: ${cam.shot}")
            cam.verify()
        }
        z.close()
    }

    /** Whether the challenge's QR code is drawn yet. */
    private fun SkikoComposeUiTest.challengeShown(): Boolean =
        onAllNodes(hasContentDescription("核验挑战码")).fetchSemanticsNodes(false).isNotEmpty()

    /** The challenge's text, as a camera would read it from the QR code on screen. */
    private fun SkikoComposeUiTest.challengeOnScreen(): String = qrOnScreen("核验挑战码") { true }

    /** The text of the QR code described as [description] once [ok] holds for it (what a camera reads). */
    private fun SkikoComposeUiTest.qrOnScreen(description: String, ok: (String) -> Boolean): String {
        var text = ""
        waitOnScreen("the QR code '$description'") {
            val nodes = onAllNodes(hasContentDescription(description)).fetchSemanticsNodes(false)
            text = nodes.firstOrNull()?.config?.let { if (QrPayload in it) it[QrPayload] else null }.orEmpty()
            text.isNotEmpty() && ok(text)
        }
        return text
    }

    /** Pastes [text] into the code field and presses 核验. */
    private fun SkikoComposeUiTest.paste(text: String) {
        onNode(hasSetTextAction() and hasText("或粘贴亮证码文本（ZB1:…）")).performScrollTo().performTextReplacement(text)
        waitOnScreen("核验 enabled") { runCatching { onNodeWithText("核验").assertIsEnabled() }.isSuccess }
        onNodeWithText("核验").performScrollTo().performClick()
    }

    /** What a separate verifier of the same store says about [text] (a refused code is not remembered). */
    private fun expectedOutcome(z: Zhangban, text: String, policy: uniffi.zhangban_wallet.Policy): VerificationOutcome =
        z.wallet.verifier().use { it.verify(text, policy) }

    /** The sandbox's back office revokes a licence (it is in the next status list). */
    private fun revoke(licenceId: String) {
        val req = HttpRequest.newBuilder(URI("${sandbox.url}/v1/admin/licences/revoke"))
            .header("content-type", "application/json")
            .header("x-admin-token", sandbox.adminToken)
            .POST(HttpRequest.BodyPublishers.ofString("{\"licence_id\":\"$licenceId\"}"))
            .build()
        val resp = HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == 200) { "revoke: ${resp.statusCode()} ${resp.body()}" }
    }
}

private const val B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ \$%*+-./:"

/**
 * A presentation code with one disclosed value edited, re-encoded as a valid `ZB1:` text (RFC 9285 base45
 * of raw DEFLATE of CBOR): the first character of [value] becomes another of the same UTF-8 length.
 */
fun tamper(code: String, value: String): String {
    val prefix = "ZB1:"
    require(code.startsWith(prefix))
    val cbor = inflate(base45Decode(code.removePrefix(prefix)))
    val from = value.toByteArray(Charsets.UTF_8)
    val to = (if (value[0] == '李') "王" else "李").toByteArray(Charsets.UTF_8)
    val fromFirst = value.substring(0, 1).toByteArray(Charsets.UTF_8)
    require(to.size == fromFirst.size) { "a same-length edit of '$value'" }
    val at = (0..cbor.size - from.size).first { i -> from.indices.all { cbor[i + it] == from[it] } }
    to.copyInto(cbor, at)
    return prefix + base45Encode(deflate(cbor))
}

private fun base45Decode(s: String): ByteArray {
    val out = ByteArrayOutputStream()
    var i = 0
    while (i < s.length) {
        val n = minOf(3, s.length - i)
        var v = 0
        for (k in n - 1 downTo 0) v = v * 45 + B45.indexOf(s[i + k])
        if (n == 3) out.write(v shr 8)
        out.write(v and 0xFF)
        i += n
    }
    return out.toByteArray()
}

private fun base45Encode(b: ByteArray): String {
    val sb = StringBuilder()
    var i = 0
    while (i < b.size) {
        if (i + 1 < b.size) {
            var v = ((b[i].toInt() and 0xFF) shl 8) or (b[i + 1].toInt() and 0xFF)
            repeat(3) { sb.append(B45[v % 45]); v /= 45 }
            i += 2
        } else {
            var v = b[i].toInt() and 0xFF
            repeat(2) { sb.append(B45[v % 45]); v /= 45 }
            i += 1
        }
    }
    return sb.toString()
}

private fun inflate(z: ByteArray): ByteArray {
    val inf = Inflater(true)
    inf.setInput(z)
    val out = ByteArrayOutputStream()
    val buf = ByteArray(4096)
    while (!inf.finished()) {
        val n = inf.inflate(buf)
        if (n == 0 && (inf.needsInput() || inf.needsDictionary())) break
        out.write(buf, 0, n)
    }
    inf.end()
    return out.toByteArray()
}

private fun deflate(b: ByteArray): ByteArray {
    val d = Deflater(9, true)
    d.setInput(b)
    d.finish()
    val out = ByteArrayOutputStream()
    val buf = ByteArray(4096)
    while (!d.finished()) out.write(buf, 0, d.deflate(buf))
    d.end()
    return out.toByteArray()
}
