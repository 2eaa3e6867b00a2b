import CryptoKit
import Foundation
import Security

/// The store's key vault on iOS: an AES-256 key per alias (a store's data key, its subject ring key) kept in
/// the Keychain (this device only,
/// after first unlock; never synced or backed up), sealing with AES-GCM from CryptoKit.
///
/// Blob, as on Android: `0x01 ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag`, the alias as associated data. A blob
/// this key did not make fails its tag and throws `KeyVaultError.UnwrapFailed` (the store then reports
/// `ZhangbanError.WrongKey`); a Keychain that cannot serve the key now throws `.Unavailable`.
public final class KeychainVault: KeyVault, @unchecked Sendable {
    private let service: String
    private let lock = NSLock()

    public init(service: String = "org.zhangban.vault") {
        self.service = service
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
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: alias,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data, data.count == 32 {
            return SymmetricKey(data: data)
        }
        guard status == errSecItemNotFound else {
            throw KeyVaultError.Unavailable(detail: "Keychain read failed (OSStatus \(status))")
        }
        guard create else { return nil }
        let key = SymmetricKey(size: .bits256)
        query.removeValue(forKey: kSecReturnData as String)
        query.removeValue(forKey: kSecMatchLimit as String)
        query[kSecValueData as String] = key.withUnsafeBytes { Data($0) }
        query[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        query[kSecAttrSynchronizable as String] = false
        let added = SecItemAdd(query as CFDictionary, nil)
        guard added == errSecSuccess else {
            throw KeyVaultError.Unavailable(detail: "Keychain write failed (OSStatus \(added))")
        }
        return key
    }
}
