package org.zhangban.kit

import java.io.File
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import uniffi.zhangban_backup.BackupInfo
import uniffi.zhangban_backup.BackupSummary
import uniffi.zhangban_backup.RestoreSummary
import uniffi.zhangban_cases.CaseSummary
import uniffi.zhangban_ffi.KeyVault
import uniffi.zhangban_ffi.ZhangbanBackup
import uniffi.zhangban_ffi.ZhangbanCases
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.inspectBackup
import uniffi.zhangban_ffi.openBackupFile
import uniffi.zhangban_ffi.openBackupFiles
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_sync.BlobInfo
import uniffi.zhangban_sync.RebindReport

/**
 * Backup, restore on a new phone, re-binding and following a case by its receipt, for a UI. Glue only: the
 * recovery code, the sealed file, the checks and every error text are the core's (`ZhangbanException.Backup`
 * carries a stable `code` — `wrong_code`, `code_typo`, `damaged`, `truncated`, … — and `textZh()`/`textEn()`).
 * The file is a plain path: the Android app copies it to / from a Storage Access Framework document
 * (`org.zhangban.app.BackupDocuments`), iOS hands it to Files / iCloud Drive.
 */
class PhoneBackup(
    store: ZhangbanStore,
    private val platformUrl: String,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    val backup = ZhangbanBackup(store)

    /** Offer a code now? (a licence is held and there is no code yet) */
    suspend fun shouldOfferRecoveryCode(): Boolean = withContext(io) { backup.shouldOfferRecoveryCode() }

    suspend fun hasRecoveryCode(): Boolean = withContext(io) { backup.hasRecoveryCode() }

    /** Makes (or changes) the recovery code; show it once, grouped, for the person to write down. */
    suspend fun makeRecoveryCode(): String = backup.makeRecoveryCode()

    /** The person types the code back; throws `ZhangbanException.Backup` when it does not fit. */
    suspend fun checkRecoveryCode(code: String) = backup.checkRecoveryCode(code)

    /** Writes the sealed backup to [path] (streamed; appears only when complete). */
    suspend fun backUp(path: String): BackupSummary = backup.backUp(path)

    /**
     * Writes only what changed since the last backup made here to [path] (an increment: keep it with the
     * files before it). Full when there is no base here yet: `baseId` is then null.
     */
    suspend fun backUpIncrement(path: String): BackupSummary = backup.backUpIncrement(path)

    /** Keeps the sealed file at [path] on the platform too (an opaque blob it cannot read). */
    suspend fun upload(path: String): BlobInfo = backup.uploadBackup(platformUrl, path)

    /** The blob the platform keeps for this person, if any (ask before offering a restore from it). */
    suspend fun onPlatform(): BlobInfo? = backup.backupOnPlatform(platformUrl)

    /**
     * Downloads that blob to [path] (whole and checked, or nothing; `Backup{code = "older_backup"}` when it
     * is older than a backup this phone made or restored, or than the generation the platform was told
     * of: a rollback); then [restore] it with the code.
     */
    suspend fun download(path: String): BlobInfo = backup.downloadBackup(platformUrl, path)

    /**
     * Files handed to this phone (SAF, Files, iCloud Drive; one, or a full backup and its increments, in any
     * order), checked before the code is asked for: their headers, and the newest one's generation against
     * what the person's phones reported to the platform — `Backup{code = "older_backup"}` when it is older
     * (a rollback). Offline this throws `Network`: show [inspect]'s date and generation instead (the core's
     * texts say what is unchecked). A phone with no store yet: [checkOnNewPhone].
     */
    suspend fun checkFiles(paths: List<String>): BackupInfo = backup.checkBackupFiles(platformUrl, paths)

    /** The old phone this store came from while its licences are not re-bound (show "finish the move"). */
    suspend fun awaitingTransferFrom(): String? = withContext(io) { backup.awaitingTransferFrom() }

    /** New phone: the `ZBTQ1:` QR text to show the old phone. */
    suspend fun transferRequestQr(): String = withContext(io) { backup.transferRequest() }

    /** Old phone: signs the hand-over to the scanned new phone; the `ZBT1:` QR text to show back. */
    suspend fun signTransfer(requestQr: String): String = withContext(io) { backup.signTransfer(requestQr) }

    /** New phone: the old phone's `ZBT1:` QR as proof; licences re-issued to this phone's key. */
    suspend fun rebindWithTransfer(transferQr: String): RebindReport =
        backup.rebindWithTransfer(platformUrl, transferQr)

    /** New phone: the one-time code of the service centre's identity check as proof. */
    suspend fun rebindWithCode(fromDevice: String, code: String): RebindReport =
        backup.rebindWithCode(platformUrl, fromDevice, code)

    /** Follows a case filed at a counter or by an agent: receipt number, ID number, query code. */
    suspend fun followCase(receipt: String, applicantId: String, queryCode: String, subject: String = selfSubject()): CaseSummary =
        backup.followCase(platformUrl, subject, receipt, applicantId, queryCode)

    override fun close() {
        backup.close()
    }

    companion object {
        /** The header of a backup file, without the code (when it was made, its size). */
        suspend fun inspect(path: String, io: CoroutineDispatcher = Dispatchers.IO): BackupInfo =
            withContext(io) { inspectBackup(path) }

        /**
         * Restores [path] with [code] into a new store at [dir] (its own key from [vault]) and opens it. On any
         * error nothing is at [dir]. The restored outbox waits until [rebindWithTransfer] / [rebindWithCode].
         */
        suspend fun restore(
            path: String,
            code: String,
            dir: String,
            vault: KeyVault,
            pin: String?,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): Pair<ZhangbanStore, RestoreSummary> {
            val summary = openBackupFile(path, code).use { it.restore(dir, vault, pin) }
            val store = withContext(io) { ZhangbanStore.open(dir, vault).also { if (it.isLocked()) it.unlock(pin) } }
            return store to summary
        }

        /**
         * The first start of a new phone, before the code is asked for: the picked [paths] checked like
         * [checkFiles] against the generation the platform attests for the person (a stale cloud-drive copy
         * is `Backup{code = "older_backup"}`). A phone with no store has no registration to ask with: a
         * scratch store is made in [scratchDir] with [vault], registered (the platform's sign-up identity
         * check), asked, and removed whatever the answer (the restore then makes the real store, which
         * registers on its own). Offline: `Network` — show [inspect]'s date and generation instead.
         */
        suspend fun checkOnNewPhone(
            paths: List<String>,
            scratchDir: String,
            vault: KeyVault,
            platformUrl: String,
            platform: String,
            model: String,
            appVersion: String,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): BackupInfo {
            val scratch = File(scratchDir)
            try {
                val store = withContext(io) { scratch.deleteRecursively(); ZhangbanStore.create(scratchDir, vault, null) }
                store.use {
                    ZhangbanCases(store, platformUrl, null).use { it.registerDevice(platform, model, appVersion) }
                    return PhoneBackup(store, platformUrl, io).use { it.checkFiles(paths) }
                }
            } finally {
                withContext(io) { scratch.deleteRecursively() }
            }
        }

        /**
         * Restores a full backup and its increments ([paths], in any order: the core orders them by their
         * headers — a multiple selection in the document picker) like [restore]; a selection that is not one
         * chain is `Backup{code = "increment_missing" | "chain_order" | "missing_base"}`.
         */
        suspend fun restoreChain(
            paths: List<String>,
            code: String,
            dir: String,
            vault: KeyVault,
            pin: String?,
            io: CoroutineDispatcher = Dispatchers.IO,
        ): Pair<ZhangbanStore, RestoreSummary> {
            val summary = openBackupFiles(paths, code).use { it.restore(dir, vault, pin) }
            val store = withContext(io) { ZhangbanStore.open(dir, vault).also { if (it.isLocked()) it.unlock(pin) } }
            return store to summary
        }
    }
}
