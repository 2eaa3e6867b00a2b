import Foundation

/// Backup, restore on a new phone, re-binding and following a case by its receipt, for SwiftUI. Glue only:
/// the recovery code, the sealed file, every check and every error text are the core's
/// (`ZhangbanError.Backup` carries a stable `code` — `wrong_code`, `code_typo`, `damaged`, `truncated`, … —
/// and `textZh()` / `textEn()`). The file is a plain path; the app hands it to Files / iCloud Drive with
/// `fileExporter` and reads one back with `fileImporter` (ios/App/Sources/BackupView.swift).
public final class PhoneBackup {
    public let backup: ZhangbanBackup
    public let platformURL: String

    public init(store: ZhangbanStore, platformURL: String) {
        self.backup = ZhangbanBackup(store: store)
        self.platformURL = platformURL
    }

    /// Offer a code now? (a licence is held and there is no code yet)
    public func shouldOfferRecoveryCode() throws -> Bool {
        try backup.shouldOfferRecoveryCode()
    }

    public func hasRecoveryCode() throws -> Bool {
        try backup.hasRecoveryCode()
    }

    /// Makes (or changes) the recovery code; show it once, grouped, for the person to write down.
    public func makeRecoveryCode() async throws -> String {
        try await backup.makeRecoveryCode()
    }

    /// The person types the code back; throws `ZhangbanError.Backup` when it does not fit.
    public func checkRecoveryCode(_ code: String) async throws {
        try await backup.checkRecoveryCode(code: code)
    }

    /// Writes the sealed backup to `path` (streamed; appears only when complete).
    public func backUp(to path: String) async throws -> BackupSummary {
        try await backup.backUp(path: path)
    }

    /// Writes only what changed since the last backup made here to `path` (an increment: keep it with the
    /// files before it). Full when there is no base here yet: `baseId` is then nil.
    public func backUpIncrement(to path: String) async throws -> BackupSummary {
        try await backup.backUpIncrement(path: path)
    }

    /// Keeps the sealed file at `path` on the platform too (an opaque blob it cannot read).
    public func upload(path: String) async throws -> BlobInfo {
        try await backup.uploadBackup(baseUrl: platformURL, path: path)
    }

    /// The blob the platform keeps for this person, if any (ask before offering a restore from it).
    public func onPlatform() async throws -> BlobInfo? {
        try await backup.backupOnPlatform(baseUrl: platformURL)
    }

    /// Downloads that blob to `path` (whole and checked, or nothing; `ZhangbanError.Backup` `older_backup`
    /// when it is older than a backup this phone made or restored, or than the generation the platform
    /// was told of: a rollback); then `restore` it.
    public func download(path: String) async throws -> BlobInfo {
        try await backup.downloadBackup(baseUrl: platformURL, path: path)
    }

    /// Files handed to this phone (Files, iCloud Drive; one, or a full backup and its increments, in any
    /// order), checked before the code is asked for: their headers, and the newest one's generation against
    /// what the person's phones reported to the platform — `ZhangbanError.Backup` `older_backup` when it is
    /// older (a rollback). Offline: `ZhangbanError.Network`; show `inspect`'s date and generation instead.
    /// A phone with no store yet: `checkOnNewPhone`.
    public func checkFiles(paths: [String]) async throws -> BackupInfo {
        try await backup.checkBackupFiles(baseUrl: platformURL, paths: paths)
    }

    /// The first start of a new phone, before the code is asked for: the picked `paths` checked like
    /// `checkFiles` against the generation the platform attests for the person (a stale iCloud Drive copy
    /// is `ZhangbanError.Backup` `older_backup`). A phone with no store has no registration to ask with: a
    /// scratch store is made in `scratchDir` with `vault`, registered (the platform's sign-up identity
    /// check), asked, and removed whatever the answer (the restore then makes the real store, which
    /// registers on its own). Mirrors the Kotlin kit's `PhoneBackup.checkOnNewPhone`.
    public static func checkOnNewPhone(
        paths: [String], scratchDir: URL, vault: KeyVault, platformURL: String, model: String, appVersion: String
    ) async throws -> BackupInfo {
        try? FileManager.default.removeItem(at: scratchDir)
        defer { try? FileManager.default.removeItem(at: scratchDir) }
        let store = try ZhangbanStore.create(dir: scratchDir.path, vault: vault, pin: nil)
        _ = try await ZhangbanCases(store: store, baseUrl: platformURL, listener: nil)
            .registerDevice(platform: "ios", model: model, appVersion: appVersion)
        return try await PhoneBackup(store: store, platformURL: platformURL).checkFiles(paths: paths)
    }

    /// The old phone this store came from while its licences are not re-bound yet.
    public func awaitingTransferFrom() throws -> String? {
        try backup.awaitingTransferFrom()
    }

    /// New phone: the `ZBTQ1:` QR text to show the old phone.
    public func transferRequestQR() throws -> String {
        try backup.transferRequest()
    }

    /// Old phone: signs the hand-over to the scanned new phone; the `ZBT1:` QR text to show back.
    public func signTransfer(requestQR: String) throws -> String {
        try backup.signTransfer(requestQr: requestQR)
    }

    /// New phone: the old phone's `ZBT1:` QR as proof; licences re-issued to this phone's key.
    public func rebind(transferQR: String) async throws -> RebindReport {
        try await backup.rebindWithTransfer(baseUrl: platformURL, transferQr: transferQR)
    }

    /// New phone: the one-time code of the service centre's identity check as proof.
    public func rebind(fromDevice: String, oneTimeCode: String) async throws -> RebindReport {
        try await backup.rebindWithCode(baseUrl: platformURL, fromDevice: fromDevice, code: oneTimeCode)
    }

    /// Follows a case filed at a counter or by an agent: receipt number, ID number, query code.
    public func followCase(receipt: String, applicantId: String, queryCode: String) async throws -> CaseSummary {
        try await backup.followCase(
            baseUrl: platformURL, subject: selfSubject(), receipt: receipt, applicantId: applicantId, queryCode: queryCode
        )
    }

    /// The header of a backup file, without the code (when it was made, its size).
    public static func inspect(path: String) throws -> BackupInfo {
        try inspectBackup(path: path)
    }

    /// Restores `path` with `code` into a new store at `dir` (its own key from `vault`) and opens it. On any
    /// error nothing is at `dir`. The restored outbox waits until `rebind`.
    public static func restore(
        path: String, code: String, dir: String, vault: KeyVault, pin: String?
    ) async throws -> (ZhangbanStore, RestoreSummary) {
        let file = try await openBackupFile(path: path, code: code)
        let summary = try await file.restore(dir: dir, vault: vault, pin: pin)
        let store = try ZhangbanStore.open(dir: dir, vault: vault)
        if store.isLocked() { try store.unlock(pin: pin) }
        return (store, summary)
    }

    /// Restores a full backup and its increments (`paths`, in any order: the core orders them by their
    /// headers — a multiple selection in `fileImporter`) like `restore`; a selection that is not one chain is
    /// `ZhangbanError.Backup` `increment_missing`, `chain_order` or `missing_base`.
    public static func restoreChain(
        paths: [String], code: String, dir: String, vault: KeyVault, pin: String?
    ) async throws -> (ZhangbanStore, RestoreSummary) {
        let files = try await openBackupFiles(paths: paths, code: code)
        let summary = try await files.restore(dir: dir, vault: vault, pin: pin)
        let store = try ZhangbanStore.open(dir: dir, vault: vault)
        if store.isLocked() { try store.unlock(pin: pin) }
        return (store, summary)
    }
}
