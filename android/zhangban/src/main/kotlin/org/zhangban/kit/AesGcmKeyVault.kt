package org.zhangban.kit

import java.security.GeneralSecurityException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.zhangban_ffi.KeyVault
import uniffi.zhangban_ffi.KeyVaultException

/**
 * The store's [KeyVault] over an AES key the platform holds: on Android an AES-256-GCM key in the
 * `AndroidKeyStore` (the app passes `keyFor`, which loads or generates it), in JVM tests a JCE key.
 * Only `javax.crypto`, so the same code runs on both.
 *
 * Blob: `0x01 ‖ 12-byte IV ‖ AES-GCM(ciphertext ‖ 16-byte tag)`, the alias as associated data. The IV
 * comes from the provider (`Cipher.init` without parameters): the Android Keystore refuses caller-chosen
 * IVs for encryption. A blob this key did not make fails its tag and is reported as
 * [KeyVaultException.UnwrapFailed] (the store then says `WrongKey`); any other failure of the platform
 * (key invalidated, user not authenticated, hardware busy) as [KeyVaultException.Unavailable].
 *
 * [destroy] deletes the key of an alias for good through `destroyKey` (on Android `KeyStore.deleteEntry`):
 * erasing a principal depends on it. A vault made without `destroyKey` cannot destroy keys, and says so
 * ([KeyVaultException.Unavailable]): the erasure is then done in the store but not yet against copies.
 *
 * Keys gated by the person's authentication (finding 6: the key of a store's data key, as the core's
 * `vaultKeyNeedsUserAuthentication` says; on Android a Keystore key made with
 * `setUserAuthenticationRequired`): when the platform refuses because the person has not authenticated
 * recently (`needsUser(e)`: on Android `UserNotAuthenticatedException`, from loading the key or from
 * `Cipher.init`), the vault throws [KeyVaultException.NeedsUserAuthentication], the store says
 * `ZhangbanException.NeedsUserAuthentication`, and the host asks (BiometricPrompt) and calls again.
 */
class AesGcmKeyVault(
    private val destroyKey: ((alias: String) -> Unit)? = null,
    private val needsUser: (GeneralSecurityException) -> Boolean = { false },
    private val keyFor: (alias: String) -> SecretKey,
) : KeyVault {
    override fun destroy(alias: String) {
        val delete = destroyKey ?: throw KeyVaultException.Unavailable("this vault cannot destroy the key '$alias'")
        try {
            delete(alias)
        } catch (e: KeyVaultException) {
            throw e
        } catch (e: Exception) {
            throw KeyVaultException.Unavailable("cannot destroy key '$alias': $e")
        }
    }

    override fun wrap(alias: String, plaintext: ByteArray): ByteArray {
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, key(alias))
            cipher.updateAAD(alias.toByteArray(Charsets.UTF_8))
            val sealed = cipher.doFinal(plaintext)
            val iv = cipher.iv
            if (iv == null || iv.size != IV_BYTES) {
                throw KeyVaultException.Unavailable("the platform cipher chose a ${iv?.size ?: 0}-byte IV")
            }
            return byteArrayOf(VERSION) + iv + sealed
        } catch (e: GeneralSecurityException) {
            if (needsUser(e)) throw KeyVaultException.NeedsUserAuthentication()
            throw KeyVaultException.Unavailable("cannot wrap with key '$alias': $e")
        }
    }

    override fun unwrap(alias: String, wrapped: ByteArray): ByteArray {
        if (wrapped.size < 1 + IV_BYTES + TAG_BYTES || wrapped[0] != VERSION) throw KeyVaultException.UnwrapFailed()
        val key = try {
            key(alias)
        } catch (e: GeneralSecurityException) {
            if (needsUser(e)) throw KeyVaultException.NeedsUserAuthentication()
            throw KeyVaultException.Unavailable("cannot load key '$alias': $e")
        }
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BYTES * 8, wrapped, 1, IV_BYTES))
            cipher.updateAAD(alias.toByteArray(Charsets.UTF_8))
            return cipher.doFinal(wrapped, 1 + IV_BYTES, wrapped.size - 1 - IV_BYTES)
        } catch (e: AEADBadTagException) {
            throw KeyVaultException.UnwrapFailed()
        } catch (e: GeneralSecurityException) {
            if (needsUser(e)) throw KeyVaultException.NeedsUserAuthentication()
            throw KeyVaultException.Unavailable("cannot unwrap with key '$alias': $e")
        }
    }

    private fun key(alias: String): SecretKey =
        try {
            keyFor(alias)
        } catch (e: KeyVaultException) {
            throw e
        } catch (e: GeneralSecurityException) {
            throw e
        } catch (e: Exception) {
            throw KeyVaultException.Unavailable("cannot load key '$alias': $e")
        }

    companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val VERSION: Byte = 1
        const val IV_BYTES = 12
        const val TAG_BYTES = 16
    }
}
