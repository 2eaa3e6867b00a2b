import CryptoKit
import Foundation
import LocalAuthentication
import Security

/// The store's key vault on iOS: an AES-256 key per alias (a store's data key, its subject ring key) kept in
/// the Keychain (this device only, after first unlock; never synced or backed up), sealing with AES-GCM from
/// CryptoKit. Each alias's key is itself wrapped by a Secure Enclave P-256 key (ECIES, X9.63 SHA-256,
/// AES-GCM): the Keychain item holds `0x02 ‖ wrapped key`, which opens only inside this device's Secure
/// Enclave (a copy of the Keychain item alone is useless). Where there is no Secure Enclave (the simulator)
/// the item holds the 32 key bytes, as before; such an item is wrapped the first time it is read on a device
/// that has one.
///
/// Blob, as on Android: `0x01 ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag`, the alias as associated data. A blob
/// this key did not make fails its tag and throws `KeyVaultError.UnwrapFailed` (the store then reports
/// `ZhangbanError.WrongKey`); a Keychain that cannot serve the key now throws `.Unavailable`.
///
/// Finding 6: the key of a store's data key (the core's `vaultKeyNeedsUserAuthentication(alias:)`) is a
/// Keychain item with access control `.userPresence` (Face ID / Touch ID or the passcode; only while a
/// passcode is set, this device only), read without UI: until the host hands over an `LAContext` the
/// person authenticated (`authenticated(_:)`, good for `vaultUserAuthenticationValiditySecs()`), reading it
/// throws `KeyVaultError.NeedsUserAuthentication` and the store says `ZhangbanError.NeedsUserAuthentication`.
/// So calling the vault as the app gives no PIN-sealed key to guess PINs against offline. Items made before
/// keep their old access (iOS cannot add access control to an item in place). Type-checked here only
/// (tree-sitter and the generated API's names): no Swift compiler on these machines.
public final class KeychainVault: KeyVault, @unchecked Sendable {
    private let service: String
    private let lock = NSLock()
    private var context: LAContext?

    public init(service: String = "org.zhangban.vault") {
        self.service = service
    }

    /// The host's answer to `NeedsUserAuthentication`: an `LAContext` on which
    /// `evaluatePolicy(.deviceOwnerAuthentication, …)` succeeded. Gated keys are read with it.
    public func authenticated(_ context: LAContext) {
        lock.lock()
        defer { lock.unlock() }
        context.touchIDAuthenticationAllowableReuseDuration = TimeInterval(vaultUserAuthenticationValiditySecs())
        self.context = context
    }

    /// The host's prompt on `ZhangbanError.NeedsUserAuthentication` (finding 6): the person confirms it is them
    /// (Face ID / Touch ID or the passcode) in the core's words — its title and the error's own text; the
    /// rule of when to ask is the core's (that error only: ask once, then call again). On success the context
    /// is handed to this vault ([`authenticated(_:)`]); false when they cancelled or the device cannot ask.
    public func confirmPerson(reason: String, lang: Lang = .current) async -> Bool {
        let context = LAContext()
        context.localizedCancelTitle = lang.pick("取消", "Cancel")
        let said = lang.pick(userAuthenticationPromptTitle()) + "\n" + reason
        do {
            guard try await context.evaluatePolicy(.deviceOwnerAuthentication, localizedReason: said) else { return false }
        } catch {
            return false
        }
        authenticated(context)
        return true
    }

    /// The context a gated read uses: the host's, else one that may not show UI (the read then fails).
    private func readContext() -> LAContext {
        if let context { return context }
        let none = LAContext()
        none.interactionNotAllowed = true
        return none
    }

    public func wrap(alias: String, plaintext: Data) throws -> Data {
        guard let key = try self.key(alias: alias, create: true) else {
            throw KeyVaultError.Unavailable(detail: "no Keychain key '\(alias)'")
        }
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(alias.utf8))
            guard let combined = box.combined else {
                throw KeyVaultError.Unavailable(detail: "AES-GCM gave no combined box")
            }
            return Data([1]) + combined
        } catch let e as KeyVaultError {
            throw e
        } catch {
            throw KeyVaultError.Unavailable(detail: "cannot wrap with key '\(alias)': \(error)")
        }
    }

    public func unwrap(alias: String, wrapped: Data) throws -> Data {
        guard wrapped.count >= 1 + 12 + 16, wrapped.first == 1 else { throw KeyVaultError.UnwrapFailed }
        // No key: this device never wrapped anything under this alias (restored from another device).
        guard let key = try self.key(alias: alias, create: false) else { throw KeyVaultError.UnwrapFailed }
        do {
            let box = try AES.GCM.SealedBox(combined: Data(wrapped.dropFirst()))
            return try AES.GCM.open(box, using: key, authenticating: Data(alias.utf8))
        } catch {
            // CryptoKitError.authenticationFailure (another key, another alias, a changed byte) or a
            // malformed box: either way not a blob of this key.
            throw KeyVaultError.UnwrapFailed
        }
    }

    /// Deletes the alias's key from the Keychain for good (erasing a principal: the old ring key must be
    /// gone). No such item is not an error.
    public func destroy(alias: String) throws {
        lock.lock()
        defer { lock.unlock() }
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: alias,
        ]
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw KeyVaultError.Unavailable(detail: "Keychain delete failed (OSStatus \(status))")
        }
    }

    private func key(alias: String, create: Bool) throws -> SymmetricKey? {
        lock.lock()
        defer { lock.unlock() }
        let gated = vaultKeyNeedsUserAuthentication(alias: alias)
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: alias,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        if gated {
            query[kSecUseAuthenticationContext as String] = readContext()
        }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecInteractionNotAllowed || status == errSecAuthFailed || status == errSecUserCanceled {
            // A gated item the person has not unlocked (recently): the host asks, then calls again.
            throw KeyVaultError.NeedsUserAuthentication
        }
        if status == errSecSuccess, let data = item as? Data {
            if data.count == 32 {
                // Stored plain (made without a Secure Enclave, or by an older version): wrap it now if we can.
                if let enclave = try enclaveKey(create: true), let wrapped = try? Self.seal(data, enclave) {
                    let match: [String: Any] = [
                        kSecClass as String: kSecClassGenericPassword,
                        kSecAttrService as String: service,
                        kSecAttrAccount as String: alias,
                    ]
                    _ = SecItemUpdate(match as CFDictionary, [kSecValueData as String: wrapped] as CFDictionary)
                }
                return SymmetricKey(data: data)
            }
            guard data.first == 2 else { throw KeyVaultError.UnwrapFailed }
            // The Secure Enclave key is gone (the device was reset): the key cannot be had any more.
            guard let enclave = try enclaveKey(create: false) else { throw KeyVaultError.UnwrapFailed }
            return SymmetricKey(data: try Self.open(Data(data.dropFirst()), enclave))
        }
        guard status == errSecItemNotFound else {
            throw KeyVaultError.Unavailable(detail: "Keychain read failed (OSStatus \(status))")
        }
        guard create else { return nil }
        let key = SymmetricKey(size: .bits256)
        let raw = key.withUnsafeBytes { Data($0) }
        query.removeValue(forKey: kSecReturnData as String)
        query.removeValue(forKey: kSecMatchLimit as String)
        query[kSecValueData as String] = try enclaveKey(create: true).map { try Self.seal(raw, $0) } ?? raw
        if gated {
            var error: Unmanaged<CFError>?
            guard let access = SecAccessControlCreateWithFlags(
                nil, kSecAttrAccessibleWhenPasscodeSetThisDeviceOnly, .userPresence, &error
            ) else {
                throw KeyVaultError.Unavailable(detail: "Keychain access control: \(String(describing: error?.takeRetainedValue()))")
            }
            query[kSecAttrAccessControl as String] = access
            query.removeValue(forKey: kSecUseAuthenticationContext as String)
        } else {
            query[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        }
        query[kSecAttrSynchronizable as String] = false
        let added = SecItemAdd(query as CFDictionary, nil)
        guard added == errSecSuccess else {
            throw KeyVaultError.Unavailable(detail: "Keychain write failed (OSStatus \(added))")
        }
        return key
    }

    // MARK: the Secure Enclave key that wraps the alias keys

    private static let enclaveAlgorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    /// The vault's Secure Enclave P-256 key (made once; its private half never leaves the chip), or nil where
    /// the device has no Secure Enclave.
    private func enclaveKey(create: Bool) throws -> SecKey? {
        guard SecureEnclave.isAvailable else { return nil }
        let tag = Data("\(service).enclave".utf8)
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let found = item {
            return (found as! SecKey) // a kSecClassKey query with kSecReturnRef gives a SecKey
        }
        guard status == errSecItemNotFound else {
            throw KeyVaultError.Unavailable(detail: "Secure Enclave key lookup failed (OSStatus \(status))")
        }
        guard create else { return nil }
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, .privateKeyUsage, &error
        ) else {
            throw KeyVaultError.Unavailable(detail: "Secure Enclave access control: \(String(describing: error?.takeRetainedValue()))")
        }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag,
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw KeyVaultError.Unavailable(detail: "Secure Enclave key: \(String(describing: error?.takeRetainedValue()))")
        }
        return key
    }

    /// `0x02 ‖ ECIES(raw)` under the enclave key's public half.
    private static func seal(_ raw: Data, _ enclave: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(enclave),
              let wrapped = SecKeyCreateEncryptedData(publicKey, enclaveAlgorithm, raw as CFData, &error) as Data?
        else {
            throw KeyVaultError.Unavailable(detail: "Secure Enclave wrap: \(String(describing: error?.takeRetainedValue()))")
        }
        return Data([2]) + wrapped
    }

    /// The 32 key bytes out of an ECIES blob, inside the Secure Enclave.
    private static func open(_ wrapped: Data, _ enclave: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let raw = SecKeyCreateDecryptedData(enclave, enclaveAlgorithm, wrapped as CFData, &error) as Data?,
              raw.count == 32
        else {
            throw KeyVaultError.UnwrapFailed
        }
        return raw
    }
}
