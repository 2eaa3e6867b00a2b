package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import uniffi.zhangban_base.SubjectKind
import uniffi.zhangban_ffi.KeyVault
import uniffi.zhangban_ffi.KeyVaultException
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.fileVault
import uniffi.zhangban_ffi.profileJson
import uniffi.zhangban_ffi.profileSet
import uniffi.zhangban_base.selfSubject

/**
 * A vault the way the Android shell writes one: an AES-GCM key per alias (here JCE keys in memory, there the
 * Keystore), deleted for good by [destroy].
 */
class JceVault : KeyVault {
    private val keys = java.util.concurrent.ConcurrentHashMap<String, ByteArray>()

    private fun key(alias: String, create: Boolean): ByteArray? =
        if (create) keys.computeIfAbsent(alias) { ByteArray(32).also { SecureRandom().nextBytes(it) } } else keys[alias]

    override fun destroy(alias: String) {
        keys.remove(alias)?.fill(0)
    }

    /** The aliases this vault holds a key for now. */
    fun aliases(): Set<String> = keys.keys.toSet()

    override fun wrap(alias: String, plaintext: ByteArray): ByteArray {
        val key = key(alias, create = true)!!
        val nonce = ByteArray(12).also { SecureRandom().nextBytes(it) }
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.ENCRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, nonce))
        c.updateAAD(alias.toByteArray())
        return nonce + c.doFinal(plaintext)
    }

    override fun unwrap(alias: String, wrapped: ByteArray): ByteArray {
        val key = key(alias, create = false) ?: throw KeyVaultException.UnwrapFailed()
        if (wrapped.size < 28) throw KeyVaultException.UnwrapFailed()
        val c = Cipher.getInstance("AES/GCM/NoPadding")
        c.init(Cipher.DECRYPT_MODE, SecretKeySpec(key, "AES"), GCMParameterSpec(128, wrapped.copyOfRange(0, 12)))
        c.updateAAD(alias.toByteArray())
        try {
            return c.doFinal(wrapped.copyOfRange(12, wrapped.size))
        } catch (e: AEADBadTagException) {
            throw KeyVaultException.UnwrapFailed()
        }
    }
}

class StoreTest {
    private val tmp: File = Files.createTempDirectory("zhangban-jvm-").toFile()

    @AfterTest
    fun cleanup() {
        System.gc()
        tmp.deleteRecursively()
    }

    private fun path(name: String) = File(tmp, name).path

    @Test
    fun writeReadAndReopenWithAKotlinVault() {
        val vault = JceVault()
        val store = ZhangbanStore.create(path("s"), vault, null)
        profileSet(store, selfSubject(), "person.name", "\"李奶奶\"")
        assertTrue(profileJson(store, selfSubject()).contains("李奶奶"))
        store.close()
        val again = ZhangbanStore.open(path("s"), vault)
        assertTrue(profileJson(again, selfSubject()).contains("李奶奶"))
        again.close()
        assertFailsWith<ZhangbanException.WrongKey> { ZhangbanStore.open(path("s"), JceVault()) }
    }

    @Test
    fun typedErrorsCarryTheirFieldsAndBothLanguages() {
        val store = ZhangbanStore.create(path("s"), fileVault(path("v.key")), null)
        val nf = assertFailsWith<ZhangbanException.NotFound> { store.attachmentInfo("nobody") }
        assertTrue(nf.what.contains("nobody"))
        assertTrue(nf.textEn().contains("nobody"))
        assertTrue(nf.textZh().isNotEmpty())
        val v = assertFailsWith<ZhangbanException.Validation> {
            ZhangbanStore.create(path("p"), fileVault(path("w.key")), "12")
        }
        assertEquals("pin", v.field)
        assertTrue(v.messageZh.isNotEmpty() && v.messageEn.isNotEmpty())
        val p = store.createSubject(SubjectKind.PRINCIPAL, "王大爷")
        store.shredSubject(p)
        assertEquals("", store.subjects().first { it.id == p }.label, "the label went with the key")
        val sh = assertFailsWith<ZhangbanException.Shredded> { profileSet(store, p, "person.name", "\"王大爷\"") }
        assertEquals(p, sh.subject)
        store.close()
    }

    @Test
    fun erasingAPrincipalHoldsAgainstACopyTakenBefore() {
        // Issue 10, finding 3, with a vault written in Kotlin: the old ring key is deleted from the vault,
        // so a copy of the files taken before the erasure no longer opens.
        val vault = JceVault()
        val store = ZhangbanStore.create(path("s"), vault, null)
        val p = store.createSubject(SubjectKind.PRINCIPAL, "李奶奶")
        // Her data is written in agent mode in real use; a plain export cannot write a principal's profile
        // (issue 10: tests/python/test_ffi_attacks.py). Her label is under her key.
        assertFailsWith<ZhangbanException.PermissionDenied> { profileSet(store, p, "person.name", "\"李秀英\"") }
        File(path("s")).copyRecursively(File(path("copy")))
        val rings = vault.aliases().filter { it.startsWith("zhangban.ring.") }
        assertEquals(1, rings.size, "one ring key before the erasure: $rings")
        store.shredSubject(p)
        store.close()
        // The ring key the copy's subject keys are sealed under is gone from the Kotlin vault (another took its place).
        assertFalse(rings.single() in vault.aliases(), "the old ring key is still in the vault")
        assertEquals(1, vault.aliases().count { it.startsWith("zhangban.ring.") })
        // The copy opens with nothing: refused by the anchor (closing bound the changes, ADR 0036) before the
        // missing ring key would say WrongKey (the Python and Rust tests pass the anchor and meet the ring).
        val refused = assertFailsWith<ZhangbanException> { ZhangbanStore.open(path("copy"), vault) }
        assertTrue(refused is ZhangbanException.RolledBack || refused is ZhangbanException.WrongKey, "$refused")
        val again = ZhangbanStore.open(path("s"), vault)
        assertTrue(profileJson(again, selfSubject()).isNotEmpty())
        again.close()
    }

    @Test
    fun wrongPinThenUnlock() {
        val vault = fileVault(path("v.key"))
        ZhangbanStore.create(path("s"), vault, "135790").close()
        val store = ZhangbanStore.open(path("s"), vault)
        assertTrue(store.isLocked())
        val wp = assertFailsWith<ZhangbanException.WrongPin> { store.unlock("000000") }
        assertEquals(4u, wp.attemptsLeft)
        store.unlock("135790")
        assertFalse(store.isLocked())
        store.close()
    }

    @Test
    fun attachmentsAndAsyncIntegrityCheck() = runBlocking {
        val store = ZhangbanStore.create(path("s"), fileVault(path("v.key")), null)
        val data = ByteArray(150_000) { (it % 251).toByte() }
        val a = store.writeAttachment(selfSubject(), "材料.jpg", data)
        assertTrue(store.readAttachment(a.id).contentEquals(data))
        store.integrityCheck()
        store.close()
    }
}
