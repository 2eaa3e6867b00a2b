package org.zhangban.app

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.security.KeyStore
import java.security.ProviderException
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import org.zhangban.kit.AesGcmKeyVault
import uniffi.zhangban_base.vaultKeyNeedsUserAuthentication
import uniffi.zhangban_base.vaultUserAuthenticationValiditySecs
import uniffi.zhangban_ffi.KeyVault

/**
 * The store's key vault: an AES-256-GCM key per alias (a store's data key, its subject ring key) in the
 * AndroidKeyStore (StrongBox where the device has it), never leaving the secure hardware; `destroy` deletes
 * the entry. Wrapping and unwrapping is [AesGcmKeyVault] (tested on
 * the JVM): a blob this key did not make fails its GCM tag → `KeyVaultException.UnwrapFailed` → the store
 * reports `ZhangbanException.WrongKey`; a Keystore that cannot serve the key now → `Unavailable`.
 *
 * Finding 6: the key of a store's data key (the core's `vaultKeyNeedsUserAuthentication`) is made with
 * `setUserAuthenticationRequired(true)` — usable for `vaultUserAuthenticationValiditySecs()` after the person
 * confirmed it is them with a strong biometric or the screen lock, not invalidated by a new fingerprint,
 * and only while the device is unlocked — in StrongBox where the device has one. Calling the vault as the
 * app (malware on a rooted phone) then gives no PIN-sealed key to guess PINs against offline; the screen
 * lock's own hardware-throttled check stands in front. Before that time, `Cipher.init` throws
 * `UserNotAuthenticatedException` → `KeyVaultException.NeedsUserAuthentication` → the store says
 * `ZhangbanException.NeedsUserAuthentication`; the host shows BiometricPrompt and calls again. Keys made
 * before this code are not gated (Android cannot add the flag to an existing key). Not compiled here (no
 * Android SDK): type-checked only on a device.
 */
object KeystoreVault {
    private const val PROVIDER = "AndroidKeyStore"

    fun create(): KeyVault = AesGcmKeyVault(
        destroyKey = { alias -> delete("zhangban.$alias") },
        needsUser = { it is UserNotAuthenticatedException },
    ) { alias -> key("zhangban.$alias", gated = vaultKeyNeedsUserAuthentication(alias)) }

    /** Deletes the key for good (erasing a principal: the old ring key must be gone from the hardware). */
    @Synchronized
    private fun delete(alias: String) {
        val ks = KeyStore.getInstance(PROVIDER).apply { load(null) }
        if (ks.containsAlias(alias)) ks.deleteEntry(alias)
    }

    @Synchronized
    private fun key(alias: String, gated: Boolean): SecretKey {
        val ks = KeyStore.getInstance(PROVIDER).apply { load(null) }
        (ks.getKey(alias, null) as? SecretKey)?.let { return it }
        // A missing key is made anew: a store wrapped by a lost key then fails its tag (WrongKey), which is
        // what the person must be told, rather than a crash.
        return try {
            generate(alias, strongBox = Build.VERSION.SDK_INT >= 28, gated = gated)
        } catch (e: ProviderException) {
            // StrongBoxUnavailableException (API 28+) is a ProviderException; older devices have no class for it.
            generate(alias, strongBox = false, gated = gated)
        }
    }

    private fun generate(alias: String, strongBox: Boolean, gated: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
        if (strongBox && Build.VERSION.SDK_INT >= 28) spec.setIsStrongBoxBacked(true)
        if (gated) {
            val secs = vaultUserAuthenticationValiditySecs().toInt()
            spec.setUserAuthenticationRequired(true)
            if (Build.VERSION.SDK_INT >= 30) {
                spec.setUserAuthenticationParameters(
                    secs,
                    KeyProperties.AUTH_BIOMETRIC_STRONG or KeyProperties.AUTH_DEVICE_CREDENTIAL,
                )
            } else {
                @Suppress("DEPRECATION")
                spec.setUserAuthenticationValidityDurationSeconds(secs)
            }
            // A new fingerprint must not destroy the person's data (the key would be gone for good).
            if (Build.VERSION.SDK_INT >= 24) spec.setInvalidatedByBiometricEnrollment(false)
            if (Build.VERSION.SDK_INT >= 28) spec.setUnlockedDeviceRequired(true)
        }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        gen.init(spec.build())
        return gen.generateKey()
    }
}
