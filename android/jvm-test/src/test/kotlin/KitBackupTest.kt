package org.zhangban.jvmtest

import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Json
import org.zhangban.kit.PhoneBackup
import org.zhangban.kit.Zhangban
import uniffi.zhangban_cases.Submission
import uniffi.zhangban_ffi.ZhangbanCases
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanWallet
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_wallet.LicenceStatus

/**
 * A lost phone through the Kotlin layer (issue 14): the old phone holds a licence, makes a recovery code,
 * queues two applications and backs up (the file is sealed: no plaintext in it); a damaged copy and a wrong
 * code are `ZhangbanException.Backup` with their code, and nothing is restored; the new phone (its own vault
 * and device key) restores, is handed over by the old phone's signed QR, gets the licence re-issued to its
 * key, and sends the restored queue exactly once; a counter case is followed by its receipt.
 */
class KitBackupTest : SandboxTest("backup") {
    private fun submission(code: String, title: String) = Submission(
        itemCodes = listOf(code),
        title = title,
        values = Json.encode(mapOf("name" to "李奶奶", "address" to "杭州市西湖区")),
        attachments = emptyList(),
        deferredMaterials = emptyList(),
    )

    private fun stats(): Long = ((sandbox.clerk("stats") as Map<*, *>)["cases"] as Number).toLong()

    @Test
    fun backUpRestoreOnANewPhoneRebindAndSendOnce() = runBlocking {
        val oldKey = aesKey()
        val old = Zhangban.open(File(tmp, "old").path, AesGcmKeyVault { oldKey }, null, sandbox.url)
        old.registerDevice("android", "jvm-old", "0")
        val licence = old.wallet.requestLicence(sandbox.url, "resident_id", null)
        val oldBackup = PhoneBackup(old.store, sandbox.url)
        assertTrue(oldBackup.shouldOfferRecoveryCode())
        val code = oldBackup.makeRecoveryCode()
        assertEquals(5, code.split("-").size)
        oldBackup.checkRecoveryCode(code)
        val item = sandbox.catalogCodes().first()
        old.casesApi.submit(selfSubject(), submission(item, "居住证申领"))
        old.casesApi.submit(selfSubject(), submission(item, "变更联系电话"))
        val file = File(tmp, "zhangban.zbk")
        val made = oldBackup.backUp(file.path)
        assertEquals(file.length().toULong(), made.bytes)
        assertEquals(2UL, made.manifest.collections["outbox"])
        assertFalse(String(file.readBytes(), Charsets.ISO_8859_1).contains("resident_id"), "sealed end to end")
        assertEquals(made.backupId, PhoneBackup.inspect(file.path).backupId)
        // Kept on the platform too: it holds the sealed bytes, and they come back whole.
        assertNull(oldBackup.onPlatform())
        val up = oldBackup.upload(file.path)
        assertEquals(made.bytes, up.bytes)
        assertEquals(up, oldBackup.onPlatform())
        val down = File(tmp, "down.zbk")
        oldBackup.download(down.path)
        assertTrue(file.readBytes().contentEquals(down.readBytes()))

        // A damaged copy: typed, nothing restored.
        val bytes = file.readBytes()
        bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
        val damaged = File(tmp, "damaged.zbk").apply { writeBytes(bytes) }
        val newKey = aesKey()
        val e = assertFailsWith<ZhangbanException.Backup> {
            PhoneBackup.restore(damaged.path, code, File(tmp, "new").path, AesGcmKeyVault { newKey }, null)
        }
        assertEquals("damaged", e.code)
        assertTrue(e.textZh().isNotBlank() && e.textEn().isNotBlank())
        assertFalse(File(tmp, "new").exists(), "nothing restored")
        // A code of another phone: wrong_code after the KDF.
        val other = Zhangban.open(File(tmp, "other").path, AesGcmKeyVault { aesKey() }, null, sandbox.url)
        val otherCode = PhoneBackup(other.store, sandbox.url).makeRecoveryCode()
        val wrong = assertFailsWith<ZhangbanException.Backup> {
            PhoneBackup.restore(file.path, otherCode, File(tmp, "new").path, AesGcmKeyVault { newKey }, null)
        }
        assertEquals("wrong_code", wrong.code)

        // The old phone sends its queue before it is lost.
        assertEquals(2U, old.syncNow().sent)

        // The new phone.
        val (newStore, restored) = PhoneBackup.restore(file.path, code, File(tmp, "new").path, AesGcmKeyVault { newKey }, null)
        assertEquals(made.manifest, restored.manifest)
        val origin = assertNotNull(restored.originDevice)
        val newCases = ZhangbanCases(newStore, sandbox.url, null)
        newCases.registerDevice("android", "jvm-new", "0")
        val newBackup = PhoneBackup(newStore, sandbox.url)
        assertEquals(origin, newBackup.awaitingTransferFrom())
        val transfer = oldBackup.signTransfer(newBackup.transferRequestQr())
        assertTrue(transfer.startsWith("ZBT1:$origin."))
        val report = newBackup.rebindWithTransfer(transfer)
        assertEquals(listOf(licence.licenceId), report.removed)
        assertNull(newBackup.awaitingTransferFrom())
        val newWallet = ZhangbanWallet.open(newStore)
        assertNotEquals(old.wallet.devicePublicKey().toList(), newWallet.devicePublicKey().toList())
        assertEquals(listOf(LicenceStatus.VALID), newWallet.licences().map { it.status })

        // Exactly once: the restored queue is recognised by its idempotency keys.
        assertEquals(2U, newCases.syncNow().sent)
        assertEquals(0U, newCases.pendingCount())
        assertEquals(2L, stats())

        // A case filed at the counter, followed by its receipt.
        @Suppress("UNCHECKED_CAST")
        val intake = sandbox.clerk("intake", "--item", item, "--applicant", "11010519491231002X") as Map<String, Any?>
        val followed = newBackup.followCase(intake["receipt"] as String, "11010519491231002X", intake["query_code"] as String)
        assertEquals(intake["receipt"], followed.receipt)
        assertTrue(newCases.list(null).any { it.id == followed.id })
        listOf(newBackup, oldBackup).forEach { it.close() }
        other.close()
        old.close()
        newCases.close()
        newStore.close()
    }
    /**
     * Increments through the kit: each carries only what changed, a chain with a file missing is refused
     * (nothing restored), the whole chain restores; the platform serving an older backup again is refused.
     */
    @Test
    fun incrementsRestoreAsAChainAndAnOlderBlobIsRefused() = runBlocking {
        val key = aesKey()
        val phone = Zhangban.open(File(tmp, "inc").path, AesGcmKeyVault { key }, null, sandbox.url)
        phone.registerDevice("android", "jvm-inc", "0")
        val b = PhoneBackup(phone.store, sandbox.url)
        val code = b.makeRecoveryCode()
        val item = sandbox.catalogCodes().first()
        phone.store.writeAttachment(selfSubject(), "scan.jpg", java.util.Random(7).let { r -> ByteArray(400_000).also { r.nextBytes(it) } })
        val f = (0..3).map { File(tmp, "inc$it.zbk").path }
        val full = b.backUp(f[0])
        assertNull(full.baseId)
        b.upload(f[0])
        phone.casesApi.submit(selfSubject(), submission(item, "居住证申领"))
        val inc1 = b.backUpIncrement(f[1])
        assertEquals(full.backupId, inc1.baseId)
        assertEquals(1U, inc1.chainIndex)
        assertEquals(0UL, inc1.manifest.attachments)
        assertTrue(inc1.bytes * 5UL < full.bytes, "${inc1.bytes} vs ${full.bytes}")
        phone.casesApi.submit(selfSubject(), submission(item, "变更联系电话"))
        val inc2 = b.backUpIncrement(f[2])
        assertEquals(inc1.backupId, inc2.baseId)

        val newKey = aesKey()
        val target = File(tmp, "incnew")
        val missing = assertFailsWith<ZhangbanException.Backup> {
            PhoneBackup.restoreChain(listOf(f[0], f[2]), code, target.path, AesGcmKeyVault { newKey }, null)
        }
        assertEquals("increment_missing", missing.code)
        assertTrue(missing.textZh().isNotBlank() && missing.textEn().isNotBlank())
        assertFalse(target.exists(), "nothing restored")
        // Picked in any order (a multiple selection in the document picker): the core orders them.
        val (restored, summary) = PhoneBackup.restoreChain(listOf(f[2], f[0], f[1]), code, target.path, AesGcmKeyVault { newKey }, null)
        assertEquals(3U, summary.files)
        assertEquals(inc2.generation, summary.generation)
        val restoredCases = ZhangbanCases(restored, sandbox.url, null)
        assertEquals(phone.casesApi.list(null).map { it.id }.sorted(), restoredCases.list(null).map { it.id }.sorted())
        assertEquals(2, restoredCases.list(null).size)

        // Rollback: a newer full backup is kept, then the platform serves the first one again.
        b.backUp(f[3])
        b.upload(f[3])
        b.upload(f[0])
        val served = File(tmp, "served.zbk")
        val rolled = assertFailsWith<ZhangbanException.Backup> { b.download(served.path) }
        assertEquals("older_backup", rolled.code)
        assertFalse(served.exists(), "the rolled-back file is not kept")

        // A brand-new phone of the same person: the old phone's sync run reported generation 4, so the
        // first full backup handed over (a stale cloud-drive copy) is refused before the code is asked for.
        assertEquals(4UL, phone.syncNow().backupGenerationReported)
        // It has no store yet: the kit asks through a scratch registration, removed afterwards.
        val scratch = File(tmp, "scratch")
        val check = { paths: List<String> ->
            runBlocking {
                PhoneBackup.checkOnNewPhone(paths, scratch.path, AesGcmKeyVault { aesKey() }, sandbox.url, "android", "jvm-fresh", "0")
            }
        }
        val stale = assertFailsWith<ZhangbanException.Backup> { check(listOf(f[0])) }
        assertEquals("older_backup", stale.code)
        assertTrue(stale.textZh().contains("4"), stale.textZh())
        assertTrue(File(f[0]).exists(), "a handed-over file is not deleted")
        assertFalse(scratch.exists(), "the scratch store is removed")
        // The old chain picked whole, in any order: its newest file (generation 3) decides, and is older.
        assertEquals("older_backup", assertFailsWith<ZhangbanException.Backup> { check(listOf(f[1], f[2], f[0])) }.code)
        assertEquals(4UL, check(listOf(f[3])).generation)
        assertFalse(scratch.exists(), "the scratch store is removed")
        restoredCases.close()
        restored.close()
        b.close()
        phone.close()
    }
}
