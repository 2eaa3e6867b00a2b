import CryptoKit
import Foundation
import Security

/// The holder's device key in the Secure Enclave (issue 13): a P-256 signing key made once on this device, its
/// private half never leaving the chip. The core's `DeviceSigner`: the public key as SEC1 uncompressed (65
/// bytes, what `SecKeyCopyExternalRepresentation` gives for a P-256 public key), signatures as
/// `SecKeyCreateSignature(.ecdsaSignatureMessageX962SHA256)` gives them (ASN.1 DER; the core converts to
/// r ‖ s). The core records this key as the store's device key on first use and registers it with the
/// platform; a store made before keeps its own software key (ADR 0029). Where there is no Secure Enclave (the
/// simulator) `EnclaveSigner.make()` is nil and the store's own key is used.
public final class EnclaveSigner: DeviceSigner, @unchecked Sendable {
    private let key: SecKey
    private let publicBytes: Data

    private init(key: SecKey, publicBytes: Data) {
        self.key = key
        self.publicBytes = publicBytes
    }

    /// The device key under `tag` (made on first use), or nil without a Secure Enclave or when the chip
    /// refuses now (then the store's own key serves; the next launch tries again).
    public static func make(tag: String = "org.zhangban.device") -> EnclaveSigner? {
        guard SecureEnclave.isAvailable, let key = try? (find(tag: tag) ?? create(tag: tag)),
              let pub = SecKeyCopyPublicKey(key),
              let bytes = SecKeyCopyExternalRepresentation(pub, nil) as Data?, bytes.count == 65
        else { return nil }
        return EnclaveSigner(key: key, publicBytes: bytes)
    }

    public func publicKey() -> Data { publicBytes }

    public func sign(message: Data) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let sig = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) as Data? else {
            let failure = error?.takeRetainedValue()
            // The key wants the person first (no recent authentication, or the prompt was cancelled): the core
            // gives the app its NeedsUserAuthentication, the app asks, then calls again.
            if let failure, [errSecAuthFailed, errSecInteractionNotAllowed, errSecUserCanceled].contains(OSStatus(CFErrorGetCode(failure))) {
                throw DeviceSignerError.NeedsUserAuthentication
            }
            throw DeviceSignerError.Unavailable(detail: "Secure Enclave signature: \(String(describing: failure))")
        }
        return sig
    }

    private static func find(tag: String) throws -> SecKey? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: Data(tag.utf8),
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let found = item { return (found as! SecKey) }
        guard status == errSecItemNotFound else {
            throw DeviceSignerError.Unavailable(detail: "device key lookup failed (OSStatus \(status))")
        }
        return nil
    }

    private static func create(tag: String) throws -> SecKey {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &error
        ) else {
            throw DeviceSignerError.Unavailable(detail: "access control: \(String(describing: error?.takeRetainedValue()))")
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: Data(tag.utf8),
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw DeviceSignerError.Unavailable(detail: "device key: \(String(describing: error?.takeRetainedValue()))")
        }
        return key
    }
}
