package org.zhangban.app

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.KeyStore
import java.security.ProviderException
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import org.zhangban.kit.AesGcmKeyVault
import uniffi.zhangban_ffi.KeyVault

/**
 * The store's key vault: an AES-256-GCM key per alias (a store's data key, its subject ring key) in the
 * AndroidKeyStore (StrongBox where the device has it), never leaving the secure hardware; `destroy` deletes
 * the entry. Wrapping and unwrapping is [AesGcmKeyVault] (tested on
 * the JVM): a blob this key did not make fails its GCM tag → `KeyVaultException.UnwrapFailed` → the store
 * reports `ZhangbanException.WrongKey`; a Keystore that cannot serve the key now → `Unavailable`.
 */
object KeystoreVault {
    private const val PROVIDER = "AndroidKeyStore"

    fun create(): KeyVault = AesGcmKeyVault(destroyKey = { alias -> delete("zhangban.$alias") }) { alias -> key("zhangban.$alias") }

    /** Deletes the key for good (erasing a principal: the old ring key must be gone from the hardware). */
    @Synchronized
    private fun delete(alias: String) {
        val ks = KeyStore.getInstance(PROVIDER).apply { load(null) }
        if (ks.containsAlias(alias)) ks.deleteEntry(alias)
    }

    @Synchronized
    private fun key(alias: String): SecretKey {
        val ks = KeyStore.getInstance(PROVIDER).apply { load(null) }
        (ks.getKey(alias, null) as? SecretKey)?.let { return it }
        // A missing key is made anew: a store wrapped by a lost key then fails its tag (WrongKey), which is
        // what the person must be told, rather than a crash.
        return try {
            generate(alias, strongBox = Build.VERSION.SDK_INT >= 28)
        } catch (e: ProviderException) {
            // StrongBoxUnavailableException (API 28+) is a ProviderException; older devices have no class for it.
            generate(alias, strongBox = false)
        }
    }

    private fun generate(alias: String, strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
        if (strongBox && Build.VERSION.SDK_INT >= 28) spec.setIsStrongBoxBacked(true)
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        gen.init(spec.build())
        return gen.generateKey()
    }
}
