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
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import java.security.Signature
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.Json
import org.zhangban.kit.PhoneBackup
import org.zhangban.kit.PlatformKey
import org.zhangban.kit.PlatformSigner
import org.zhangban.kit.Zhangban
import uniffi.zhangban_agent.DoorConsentInput
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_cases.Submission
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

    /**
     * The paths that signed with a key of their own before ADR 0035 (each refused on a store whose key is the
     * shell's, with `Validation(field = "device_key")`): the background licence issuance after an approval (only
     * `syncNow` runs), an agent's door consent ([AgentMode] opens its own wallet), and the old phone's transfer
     * signature ([PhoneBackup.signTransfer]). The kit offered the key once, at [Zhangban.open]; each path signs with
     * it, the signature verifies under the registered key, and the platform accepts.
     */
    @Test
    fun theBackgroundIssuanceADoorConsentAndTheTransferSignWithTheShellsKey() = runBlocking {
        val clock = ZhangbanTestClock(System.currentTimeMillis() / 1000)
        val hw = JcaKey()
        val (phoneKey, newKey) = aesKey() to aesKey()
        val z = Zhangban.open(File(tmp, "phone").path, AesGcmKeyVault { phoneKey }, null, sandbox.url, clock = clock, deviceKey = hw)
        z.registerDevice("android", "jvm-hw", "0")

        // (a) An approval with a licence: the sync alone fetches it, the proof of possession signed by the shell's key.
        val photo = z.store.writeAttachment(selfSubject(), "a.jpg", ByteArray(100) { 1 })
        val submitted = z.casesApi.submit(
            selfSubject(),
            Submission(
                itemCodes = listOf(sandbox.catalogCodes().first()),
                title = "个体工商户设立登记",
                values = Json.encode(mapOf("name" to "李奶奶")),
                attachments = listOf(photo.id),
                deferredMaterials = emptyList(),
            ),
        )
        z.syncNow()
        val receipt = assertNotNull(z.view(submitted.id).summary.receipt)
        approveWithLicence(receipt)
        val beforeIssue = hw.signed.get()
        assertEquals(1U, z.syncNow().licencesImported)
        val view = z.view(submitted.id)
        assertEquals("imported", view.licenceDelivery)
        assertTrue(hw.signed.get() > beforeIssue, "the proof of possession was signed by the shell's key")
        z.wallet.refreshLists(sandbox.url)
        val shown = z.wallet.present(assertNotNull(view.walletLicenceId), Preset.Full, null)
        val hotel = Zhangban.open(File(tmp, "hotel").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock)
        hotel.wallet.refreshLists(sandbox.url)
        val out = hotel.wallet.verifier().verify(shown.qrText, defaultVerifyPolicy().copy(acceptedPurposes = listOf(shown.purpose)))
        assertTrue(out.accepted, out.reason?.en)
        hotel.close()

        // (b) Agent mode over the same store: the door consent is signed by the shell's key.
        AgentMode(z.store, sandbox.url).use { agent ->
            val cert = agent.register("王帮办", "12110105MB0000001A")
            assertContentEquals(hw.sec1, cert.deviceKey, "the agent's certificate names the shell's key")
            val line = agent.openDoorIntake("孙德明", "110105193805200031")
            val pics = (0 until 3).map { agent.capture(line.subject, "p$it.jpg", ByteArray(512) { _ -> it.toByte() }) }
            val summary = agent.doorSummary(line.subject, listOf("MZ-002"), 7U)
            val before = hw.signed.get()
            agent.doorConsent(line.subject, DoorConsentInput(listOf("MZ-002"), pics[0], pics[1], pics[2], summary.zh, 7U, false))
            assertEquals(before + 1, hw.signed.get(), "the door consent was signed by the shell's key")
        }

        // (c) The old phone signs the hand-over to a new phone: verifies under its registered key, the platform moves it.
        val newPhone = Zhangban.open(File(tmp, "new").path, AesGcmKeyVault { newKey }, null, sandbox.url, clock = clock)
        newPhone.registerDevice("android", "jvm-new", "0")
        PhoneBackup(newPhone.store, sandbox.url).use { newBackup ->
            val request = newBackup.transferRequestQr()
            val before = hw.signed.get()
            val transfer = PhoneBackup(z.store, sandbox.url).use { it.signTransfer(request) }
            assertEquals(before + 1, hw.signed.get(), "the transfer was signed by the shell's key")
            val (origin, sig) = transfer.removePrefix("ZBT1:").split(".")
            val tbs = Json.encode(listOf("ZB-Transfer-v1", origin, request.removePrefix("ZBTQ1:")))
            val ok = Signature.getInstance("SHA256withECDSA").run {
                initVerify(hw.publicKey())
                update(tbs.toByteArray())
                verify(sig.chunked(2).map { it.toInt(16).toByte() }.toByteArray())
            }
            assertTrue(ok, "the transfer verifies under the old phone's registered key")
            val report = newBackup.rebindWithTransfer(transfer)
            assertEquals(1, report.rebound.size, "the platform accepted the transfer and re-issued the licence to the new phone")
        }
        newPhone.close()
        z.close()
    }

    /** The back office approves the case with a business licence offer (`POST /admin/cases/{id}/approve`). */
    private fun approveWithLicence(receipt: String) {
        sandbox.clerk("accept", receipt)
        @Suppress("UNCHECKED_CAST")
        val listed = (sandbox.clerk("list") as Map<String, Any?>)["cases"] as List<Map<String, Any?>>
        val pid = listed.first { it["receipt"] == receipt }["case_id"] as String
        val base = "92110105MA01HW002"
        val chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        val weights = listOf(1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
        val c = 31 - base.mapIndexed { i, ch -> chars.indexOf(ch) * weights[i] }.sum() % 31
        val offer = mapOf(
            "type" to "business_licence",
            "elements" to mapOf(
                "uscc" to base + chars[if (c == 31) 0 else c], "company_name" to "杭州市西湖区李奶奶便民店",
                "company_type" to "个体工商户", "legal_representative" to "李奶奶", "registered_capital" to "1万元",
                "established_date" to "2026-01-05", "business_scope" to "便民服务", "address" to "杭州市西湖区文三路 1 号",
                "registration_authority" to "杭州市西湖区市场监督管理局",
            ),
        )
        val req = java.net.http.HttpRequest.newBuilder(java.net.URI("${sandbox.url}/admin/cases/$pid/approve"))
            .header("content-type", "application/json")
            .header("x-admin-token", sandbox.adminToken)
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(Json.encode(mapOf("result" to "准予登记", "licence" to offer))))
            .build()
        val resp = java.net.http.HttpClient.newHttpClient().send(req, java.net.http.HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == 200) { "approve: ${resp.statusCode()} ${resp.body()}" }
    }

    /** Keystore's own exception names (android.* classes, not on the JVM): what the kit tells apart by name. */
    class UserNotAuthenticatedException : java.security.InvalidKeyException("user not authenticated")
    class KeyPermanentlyInvalidatedException : java.security.InvalidKeyException("key invalidated")

    /** The shell's key, which starts failing as Keystore does once [failWith] is set. */
    class FailingKey(private val inner: JcaKey) : PlatformKey {
        @Volatile var failWith: (() -> Exception)? = null
        override fun publicKey(): ECPublicKey = inner.publicKey()
        override fun privateKey(): PrivateKey = failWith?.let { throw it() } ?: inner.privateKey()
    }

    @Test
    fun aKeyThatCannotSignNowIsItsOwnErrorAndOneThatWantsThePersonAsksForThem() = runBlocking {
        val hw = FailingKey(JcaKey())
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "failing").path, AesGcmKeyVault { key }, null, sandbox.url, deviceKey = hw)
        z.registerDevice("android", "jvm-test", "0")
        z.wallet.refreshLists(sandbox.url)
        val item = z.wallet.requestLicence(sandbox.url, "resident_id", null)
        // No recent authentication: the app is told to ask the person (the same error the vault's gate gives).
        hw.failWith = { UserNotAuthenticatedException() }
        assertFailsWith<ZhangbanException.NeedsUserAuthentication> { z.wallet.present(item.licenceId, Preset.HotelCheckIn, null) }
        // Invalidated (a new fingerprint enrolled): the device key's own error, in its own words (a storage error
        // told the person to check free space).
        hw.failWith = { KeyPermanentlyInvalidatedException() }
        val e = assertFailsWith<ZhangbanException.DeviceKeyUnavailable> { z.wallet.present(item.licenceId, Preset.HotelCheckIn, null) }
        assertTrue(e.textZh().contains("设备密钥"), e.textZh())
        assertFalse(e.textEn().contains("free space"), e.textEn())
        // Once the key signs again, so does the wallet.
        hw.failWith = null
        assertTrue(z.wallet.present(item.licenceId, Preset.HotelCheckIn, null).qrText.isNotEmpty())
        z.close()
    }
}
