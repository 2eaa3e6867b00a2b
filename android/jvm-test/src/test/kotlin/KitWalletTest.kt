package org.zhangban.jvmtest

import com.google.zxing.BarcodeFormat
import com.google.zxing.BinaryBitmap
import com.google.zxing.DecodeHintType
import com.google.zxing.RGBLuminanceSource
import com.google.zxing.common.HybridBinarizer
import com.google.zxing.qrcode.QRCodeReader
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Lang
import org.zhangban.kit.QrPixels
import org.zhangban.kit.Zhangban
import org.zhangban.kit.issuerName
import org.zhangban.kit.toPixels
import uniffi.zhangban_ffi.ZhangbanTestClock
import uniffi.zhangban_wallet.LicenceStatus
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_wallet.defaultVerifyPolicy

/** Decodes a drawn QR code with ZXing (a real decoder, independent of the encoder in the core). */
fun decodeQr(p: QrPixels): String {
    val source = RGBLuminanceSource(p.size, p.size, p.argb)
    val hints = mapOf(DecodeHintType.PURE_BARCODE to false, DecodeHintType.POSSIBLE_FORMATS to listOf(BarcodeFormat.QR_CODE))
    return QRCodeReader().decode(BinaryBitmap(HybridBinarizer(source)), hints).text
}

/**
 * 亮证 through the Kotlin layer: the device receives a resident ID e-licence from the sandbox platform, the
 * presenter draws the presentation as pixels, ZXing decodes those pixels, and a hotel's verifier (another
 * store, offline) accepts exactly the disclosed fields; a second scan is a replay; the presenter redraws a
 * fresh code half-way through the window.
 */
class KitWalletTest : SandboxTest("wallet") {
    @Test
    fun receivePresentDecodeAndVerifyOffline() = runBlocking {
        val key = aesKey()
        // Both phones read one test clock (the stores' clock: no time crosses the FFI); the test steps it.
        val clock = ZhangbanTestClock(System.currentTimeMillis() / 1000)
        val z = Zhangban.open(File(tmp, "holder").path, AesGcmKeyVault { key }, null, sandbox.url, clock = clock)
        z.registerDevice("android", "jvm-test", "0")
        val ages = z.wallet.refreshLists(sandbox.url)
        assertTrue(ages.trustSequence != null && ages.statusSequence != null)
        // The platform issues what its register holds for this device's person (the sandbox: 张三).
        val item = z.wallet.requestLicence(sandbox.url, "resident_id", null)
        assertEquals("resident_id", item.licenceType)
        assertEquals("居民身份证", Lang.ZH.pick(item.typeName))
        assertEquals(LicenceStatus.VALID, item.status)
        assertEquals("有效", Lang.ZH.pick(item.statusText))
        assertTrue(item.issuerName(Lang.EN).isNotBlank())

        val now = clock.now()
        val presenter = z.presenter()
        val shown = presenter.present(item.licenceId, Preset.HotelCheckIn)
        assertEquals(listOf("name", "id_number_masked"), shown.code.disclosed)
        assertEquals(shown.code.notBefore + (shown.code.notAfter - shown.code.notBefore) / 2, shown.refreshAt)
        val pixels = shown.qr.toPixels(scale = 4)
        assertEquals((shown.qr.width.toInt() + 8) * 4, pixels.size)
        val scanned = decodeQr(pixels)
        assertEquals(shown.code.qrText, scanned)

        // The hotel: its own store, lists fetched earlier, offline at the counter.
        val hotel = Zhangban.open(File(tmp, "hotel").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock)
        hotel.wallet.refreshLists(sandbox.url)
        val verifier = hotel.wallet.verifier()
        val policy = defaultVerifyPolicy().copy(acceptedPurposes = listOf(shown.code.purpose))
        clock.set(now + 5)
        val out = verifier.verify(scanned, policy)
        assertTrue(out.accepted, out.reason?.en)
        assertNull(out.reason)
        val disclosed = out.verified!!.disclosed
        assertEquals(listOf("name", "id_number_masked"), disclosed.map { it.key })
        assertEquals("张三", disclosed[0].display)
        assertFalse(out.toString().contains("11010519491231002X"), "the full ID number is not disclosed")
        clock.set(now + 6)
        val replay = verifier.verify(scanned, policy)
        assertEquals(false to "replay", replay.accepted to replay.reasonCode)
        assertTrue(Lang.ZH.pick(replay.reason!!).isNotBlank() && Lang.EN.pick(replay.reason!!).isNotBlank())

        // The screen's flow: the next code comes refreshIn seconds later (the test clock steps past it, and the
        // flow waits a second of real time, so it is still waiting when the screen stops collecting).
        val t0 = clock.now()
        val stepping = z.presenter { secs ->
            clock.advance(secs + 1)
            delay(1000)
        }
        val codes = stepping.codes(item.licenceId, Preset.AgeCheck).take(2).toList()
        assertNotEquals(codes[0].code.qrText, codes[1].code.qrText)
        assertTrue(codes[1].code.notBefore > codes[0].code.notBefore)
        assertEquals(codes[0].refreshIn + 1, codes[1].code.notBefore - codes[0].code.notBefore)
        assertTrue(codes[0].code.notBefore >= t0)
        val agePolicy = defaultVerifyPolicy().copy(acceptedPurposes = listOf("age-check"))
        clock.set(codes[1].code.notBefore + 1)
        val age = hotel.wallet.verifier().verify(decodeQr(codes[1].qr.toPixels()), agePolicy)
        assertTrue(age.accepted, age.reason?.en)
        assertEquals(listOf("age_over_18"), age.verified!!.disclosed.map { it.key })

        val usage = z.wallet.usage(item.licenceId).map { it.action }
        // Newest first, from the core (no shell reverses it).
        assertEquals(listOf("licence.present", "licence.present", "licence.present", "licence.import"), usage)
        verifier.close()
        hotel.close()
        z.close()
    }
}
