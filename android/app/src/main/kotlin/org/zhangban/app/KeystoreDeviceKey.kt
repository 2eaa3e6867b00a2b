package org.zhangban.app

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.ProviderException
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import org.zhangban.kit.PlatformKey

/**
 * The holder's device key (issue 13): a P-256 signing key in the AndroidKeyStore, in StrongBox where the
 * phone has one, else the TEE; the private key never leaves the hardware. The kit signs with it through
 * `Signature("SHA256withECDSA")` (org.zhangban.kit.PlatformSigner); the core records its public key as the
 * store's device key and registers it with the platform (a store made before keeps its own key: ADR 0029).
 */
object KeystoreDeviceKey : PlatformKey {
    private const val PROVIDER = "AndroidKeyStore"
    private const val ALIAS = "zhangban.device"

    override fun publicKey(): ECPublicKey = load().second

    override fun privateKey(): PrivateKey = load().first

    @Synchronized
    private fun load(): Pair<PrivateKey, ECPublicKey> {
        val ks = KeyStore.getInstance(PROVIDER).apply { load(null) }
        val entry = ks.getEntry(ALIAS, null) as? KeyStore.PrivateKeyEntry
        if (entry != null) return entry.privateKey to (entry.certificate.publicKey as ECPublicKey)
        val pair = try {
            generate(strongBox = Build.VERSION.SDK_INT >= 28)
        } catch (e: ProviderException) {
            // StrongBoxUnavailableException (API 28+) is a ProviderException: the TEE then.
            generate(strongBox = false)
        }
        return pair.private to (pair.public as ECPublicKey)
    }

    private fun generate(strongBox: Boolean): java.security.KeyPair {
        val spec = KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
        if (strongBox && Build.VERSION.SDK_INT >= 28) spec.setIsStrongBoxBacked(true)
        val gen = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, PROVIDER)
        gen.initialize(spec.build())
        return gen.generateKeyPair()
    }
}
