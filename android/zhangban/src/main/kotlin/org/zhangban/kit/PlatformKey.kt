package org.zhangban.kit

import java.security.GeneralSecurityException
import java.security.PrivateKey
import java.security.Signature
import java.security.interfaces.ECPublicKey
import uniffi.zhangban_ffi.DeviceSigner
import uniffi.zhangban_ffi.DeviceSignerException

/**
 * The device key held by the platform: a P-256 key pair whose private half never leaves the secure hardware
 * (Android: an AndroidKeyStore key in StrongBox or the TEE, made by the app host). The only Android-only piece
 * is making the key; signing is `java.security.Signature("SHA256withECDSA")`, which the AndroidKeyStore
 * provider serves for its keys and the JVM tests serve for a plain `java.security` key.
 *
 * The host implements [load] (find or make the key); the kit turns it into the core's [DeviceSigner]
 * ([signer]). Which key is the device's is the core's decision (a store that already has its own software
 * key keeps it: ADR 0029).
 */
interface PlatformKey {
    /** The public key (the key pair is made on first use). Throws when the hardware cannot give it now. */
    fun publicKey(): ECPublicKey

    /** The private key to sign with once (a handle: its bytes stay in the hardware). */
    fun privateKey(): PrivateKey
}

/**
 * The core's [DeviceSigner] over a [PlatformKey]: the public key as SEC1 uncompressed (65 bytes), signatures
 * as the platform gives them (ASN.1 DER: the core converts them to r ‖ s). A platform failure (key
 * invalidated, user not authenticated, hardware busy) is `DeviceSignerException.Unavailable`, never a crash.
 */
class PlatformSigner(private val key: PlatformKey) : DeviceSigner {
    override fun publicKey(): ByteArray = try {
        sec1(key.publicKey())
    } catch (e: GeneralSecurityException) {
        ByteArray(0) // the core refuses an empty key with a typed error
    } catch (e: RuntimeException) {
        ByteArray(0)
    }

    override fun sign(message: ByteArray): ByteArray = try {
        Signature.getInstance("SHA256withECDSA").run {
            initSign(key.privateKey())
            update(message)
            sign()
        }
    } catch (e: GeneralSecurityException) {
        // Keystore's UserNotAuthenticatedException (an android.* class, named here so this file stays JVM-only):
        // the key wants the person first; the app asks (BiometricPrompt), then calls again.
        if (e.javaClass.simpleName == "UserNotAuthenticatedException") throw DeviceSignerException.NeedsUserAuthentication()
        throw DeviceSignerException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
    } catch (e: RuntimeException) {
        // ProviderException (StrongBox busy), IllegalStateException (keystore locked)
        throw DeviceSignerException.Unavailable("${e.javaClass.simpleName}: ${e.message}")
    }

    companion object {
        /** SEC1 uncompressed point `04 ‖ x ‖ y` of a P-256 public key (coordinates left-padded to 32 bytes). */
        fun sec1(pub: ECPublicKey): ByteArray {
            fun coord(v: java.math.BigInteger): ByteArray {
                val b = v.toByteArray().let { if (it.size > 32) it.copyOfRange(it.size - 32, it.size) else it }
                return ByteArray(32 - b.size) + b
            }
            return byteArrayOf(4) + coord(pub.w.affineX) + coord(pub.w.affineY)
        }
    }
}
