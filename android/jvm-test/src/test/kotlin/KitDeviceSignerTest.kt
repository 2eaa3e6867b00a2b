package org.zhangban.jvmtest

import java.io.File
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.PlatformKey
import org.zhangban.kit.PlatformSigner
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanTestClock
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_wallet.defaultVerifyPolicy

/**
 * A P-256 key the core never held, standing in for the Android host's StrongBox / TEE Keystore key: a plain
 * `java.security` key pair, signing through `Signature("SHA256withECDSA")` (ASN.1 DER, as AndroidKeyStore
 * gives it). Counts its signatures.
 */
class JcaKey : PlatformKey {
    private val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
    val signed = AtomicInteger()
    val sec1: ByteArray get() = PlatformSigner.sec1(pair.public as ECPublicKey)

    override fun publicKey(): ECPublicKey = pair.public as ECPublicKey

    override fun privateKey(): PrivateKey {
        signed.incrementAndGet()
        return pair.private
    }
}

/**
 * The hardware device key wired through the kit (issue 13): the platform registers the shell's key, the
 * licence binds to it, a presentation signed by it verifies at another phone, offline; an older store keeps
 * its own key; a replaced platform key is refused with a typed error.
 */
class KitDeviceSignerTest : SandboxTest("signer") {
    @Test
    fun aPresentationSignedByTheShellsKeyVerifiesAndTheRegistrationCarriesThatKey() = runBlocking {
        val clock = ZhangbanTestClock(System.currentTimeMillis() / 1000)
        val hw = JcaKey()
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "holder").path, AesGcmKeyVault { key }, null, sandbox.url, clock = clock, deviceKey = hw)
        z.registerDevice("android", "jvm-test", "0")
        assertTrue(hw.signed.get() >= 1, "the registration challenge was signed by the shell's key")
        assertContentEquals(hw.sec1, z.wallet.devicePublicKey(), "the wallet's device key is the shell's")
        z.wallet.refreshLists(sandbox.url)
        // The platform issues only to the key it registered (device_key_mismatch otherwise) and checks the proof
        // of possession signed by it: the licence arriving shows the registration carries the shell's key.
        val item = z.wallet.requestLicence(sandbox.url, "resident_id", null)
        val before = hw.signed.get()
        val shown = z.wallet.present(item.licenceId, Preset.HotelCheckIn, null)
        assertEquals(before + 1, hw.signed.get(), "the presentation was signed by the shell's key")

        val hotel = Zhangban.open(File(tmp, "hotel").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock)
        hotel.wallet.refreshLists(sandbox.url)
        clock.advance(2)
        val out = hotel.wallet.verifier().verify(shown.qrText, defaultVerifyPolicy().copy(acceptedPurposes = listOf(shown.purpose)))
        assertTrue(out.accepted, out.reason?.en)
        assertEquals("张三", out.verified!!.disclosed[0].display)

        // The same key next time: opened again, nothing changes; a replaced hardware key is refused, typed.
        z.close()
        Zhangban.open(File(tmp, "holder").path, AesGcmKeyVault { key }, null, sandbox.url, clock = clock, deviceKey = hw).use {
            assertContentEquals(hw.sec1, it.wallet.devicePublicKey())
        }
        val other = Zhangban.open(File(tmp, "holder").path, AesGcmKeyVault { key }, null, sandbox.url, clock = clock, deviceKey = JcaKey())
        val e = assertFailsWith<ZhangbanException.Validation> { other.wallet }
        assertEquals("device_key", e.field)
        assertTrue("replaced" in e.messageEn, e.messageEn)
        other.close()
        hotel.close()
    }

    @Test
    fun anOlderStoreWithItsOwnKeyKeepsIt() = runBlocking {
        val clock = ZhangbanTestClock(System.currentTimeMillis() / 1000)
        val key = aesKey()
        val dir = File(tmp, "older").path
        val own = Zhangban.open(dir, AesGcmKeyVault { key }, null, sandbox.url, clock = clock).use {
            it.registerDevice("android", "jvm-test", "0")
            it.wallet.devicePublicKey()
        }
        val hw = JcaKey()
        Zhangban.open(dir, AesGcmKeyVault { key }, null, sandbox.url, clock = clock, deviceKey = hw).use { z ->
            assertContentEquals(own, z.wallet.devicePublicKey(), "the store's key is kept")
            assertFalse(own.contentEquals(hw.sec1))
            z.wallet.refreshLists(sandbox.url)
            // Still registered with its own key: the licence is issued to it and presents.
            val item = z.wallet.requestLicence(sandbox.url, "resident_id", null)
            z.wallet.present(item.licenceId, Preset.AgeCheck, null)
            assertEquals(0, hw.signed.get(), "the platform key signed nothing")
        }
    }
}
