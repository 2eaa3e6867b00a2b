package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import java.security.InvalidKeyException
import javax.crypto.SecretKey
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.zhangban.kit.AesGcmKeyVault
import uniffi.zhangban_ffi.KeyVaultException
import uniffi.zhangban_base.vaultKeyNeedsUserAuthentication
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.profileJson
import uniffi.zhangban_ffi.profileSet
import uniffi.zhangban_base.selfSubject

/**
 * Issue 10, finding 6, as far as the JVM can test it: the kit's vault over a platform that gates the store's
 * key behind the person's authentication. On a phone the gate is the Android Keystore (a key made with
 * `setUserAuthenticationRequired`: `Cipher.init` throws `UserNotAuthenticatedException` until the person
 * confirms it is them); here a fake gate in front of JCE keys refuses the same way until `authenticate()`.
 * What it shows: which keys the core asks to gate (the data key's, not the ring's or the anchor's), that the
 * refusal reaches the host as the typed, bilingual `ZhangbanException.NeedsUserAuthentication` (not
 * `WrongKey`, not a storage failure) and counts no PIN attempt, and that the same call succeeds once the
 * person authenticated. The Keystore flags themselves are type-checked only on a device (docs/SECURITY.md).
 */
class KitVaultGateTest {
    private val tmp = Files.createTempDirectory("zhangban-gate-").toFile()

    @AfterTest
    fun cleanUp() {
        tmp.deleteRecursively()
    }

    /** What `UserNotAuthenticatedException` (an `InvalidKeyException`) is on Android. */
    class NotAuthenticated : InvalidKeyException("user not authenticated")

    /** The platform's gate: gated keys refuse until the person authenticated (for a while, as on Android). */
    class FakeGate {
        var authenticated = false
        val keys = java.util.concurrent.ConcurrentHashMap<String, SecretKey>()
        val gated = java.util.concurrent.ConcurrentHashMap.newKeySet<String>()
        var refusals = 0

        fun vault() = AesGcmKeyVault(destroyKey = { keys.remove(it) }, needsUser = { it is NotAuthenticated }) { alias ->
            // The host creates the key gated when the core says so (KeystoreVault: setUserAuthenticationRequired).
            val key = keys.computeIfAbsent(alias) {
                if (vaultKeyNeedsUserAuthentication(alias)) gated.add(alias)
                aesKey()
            }
            if (alias in gated && !authenticated) {
                refusals++
                throw NotAuthenticated()
            }
            key
        }
    }

    @Test
    fun theCoreGatesOnlyTheKeyOfTheDataKey() {
        assertTrue(vaultKeyNeedsUserAuthentication("zhangban.store.6f1c.anchored"))
        assertTrue(vaultKeyNeedsUserAuthentication("zhangban.store.6f1c"))
        assertFalse(vaultKeyNeedsUserAuthentication("zhangban.ring.6f1c.2"))
        assertFalse(vaultKeyNeedsUserAuthentication("zhangban.anchor.6f1c.7"))
    }

    @Test
    fun aGatedStoreKeyIsRefusedUntilThePersonAuthenticates() {
        val gate = FakeGate()
        val path = File(tmp, "s").path
        // Setting up: the person is there (the host asked first).
        gate.authenticated = true
        val store = ZhangbanStore.create(path, gate.vault(), "246810")
        profileSet(store, selfSubject(), "person.name", "\"张三\"")
        store.close()
        assertEquals(1, gate.gated.size, "one gated key: the store's data key (${gate.keys.keys})")
        assertTrue(gate.keys.size > 1, "the ring and anchor keys exist and are not gated")

        // Later: the phone was not unlocked by its owner (malware calling the vault, or a finder).
        gate.authenticated = false
        val locked = ZhangbanStore.open(path, gate.vault())
        val e = assertFailsWith<ZhangbanException.NeedsUserAuthentication> { locked.unlock("246810") }
        assertTrue(e.textZh().contains("指纹") && e.textEn().contains("fingerprint"), e.textEn())
        // The right PIN does not help, and the refusals cost no PIN attempt: five more, then the owner.
        repeat(5) { assertFailsWith<ZhangbanException.NeedsUserAuthentication> { locked.unlock("246810") } }
        assertTrue(gate.refusals >= 6)
        gate.authenticated = true
        locked.unlock("246810")
        assertTrue(profileJson(locked, selfSubject()).contains("张三"))
        locked.close()
    }

    @Test
    fun theKitVaultMapsTheRefusalAndNothingElse() {
        val gate = FakeGate()
        val vault = gate.vault()
        val alias = "zhangban.store.x.anchored"
        gate.authenticated = true
        val blob = vault.wrap(alias, ByteArray(48) { 1 })
        gate.authenticated = false
        assertFailsWith<KeyVaultException.NeedsUserAuthentication> { vault.unwrap(alias, blob) }
        assertFailsWith<KeyVaultException.NeedsUserAuthentication> { vault.wrap(alias, ByteArray(48)) }
        // Ungated keys work without the person; other failures stay what they were.
        vault.unwrap("zhangban.ring.x.1", vault.wrap("zhangban.ring.x.1", ByteArray(32)))
        val broken = AesGcmKeyVault(needsUser = { it is NotAuthenticated }) { throw java.security.KeyStoreException("busy") }
        assertFailsWith<KeyVaultException.Unavailable> { broken.unwrap(alias, blob) }
        gate.authenticated = true
        assertFailsWith<KeyVaultException.UnwrapFailed> { vault.unwrap(alias, blob.copyOf().also { it[20] = (it[20] + 1).toByte() }) }
    }
}
