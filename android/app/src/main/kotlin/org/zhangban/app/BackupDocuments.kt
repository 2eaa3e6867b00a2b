package org.zhangban.app

import android.app.backup.BackupManager
import android.content.Context
import android.net.Uri
import androidx.activity.result.ActivityResultLauncher
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.ComponentActivity
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.zhangban.kit.PhoneBackup
import uniffi.zhangban_backup.BackupSummary
import uniffi.zhangban_backup.RestoreSummary
import uniffi.zhangban_ffi.ZhangbanStore

/**
 * The Android side of backup and restore: where the sealed file goes. Platform glue only — the file is made
 * and checked by the core ([PhoneBackup]); here it is copied to and from a document the person picks with
 * the Storage Access Framework, and kept as the one file Auto Backup may take (res/xml/backup_rules.xml,
 * data_extraction_rules.xml: only `files/backup/`, never the store, whose key never leaves the Keystore).
 * The file is sealed end to end under the recovery code: neither Google Drive nor the platform can read it.
 */
object BackupDocuments {
    const val MIME = "application/octet-stream"
    const val SUGGESTED_NAME = "zhangban-backup.zbk"

    /** The file Auto Backup carries (cloud backup and device-to-device transfer). */
    fun autoBackupFile(context: Context): File = File(File(context.filesDir, "backup"), SUGGESTED_NAME)

    /** Writes the backup for Auto Backup and tells the backup manager it changed. */
    suspend fun refreshAutoBackup(context: Context, backup: PhoneBackup): BackupSummary {
        val file = autoBackupFile(context)
        withContext(Dispatchers.IO) { file.parentFile?.mkdirs() }
        val summary = backup.backUp(file.path)
        BackupManager(context).dataChanged()
        return summary
    }

    /**
     * Backs up into the document at [uri] (from [exportLauncher]): the core writes a private file, which is
     * then streamed into the document; the private copy is deleted either way.
     */
    suspend fun exportTo(context: Context, backup: PhoneBackup, uri: Uri): BackupSummary {
        val tmp = File(context.cacheDir, "export-${System.nanoTime()}.zbk")
        try {
            val summary = backup.backUp(tmp.path)
            withContext(Dispatchers.IO) {
                val out = context.contentResolver.openOutputStream(uri, "wt")
                    ?: throw java.io.IOException("the document provider gave no output stream")
                out.use { o -> tmp.inputStream().use { it.copyTo(o, 256 * 1024) } }
            }
            return summary
        } finally {
            withContext(Dispatchers.IO) { tmp.delete() }
        }
    }

    /**
     * Private copies of the documents the person picked for a restore (from the multiple selection of
     * `AndroidHost.rememberBackupPicker`: the full backup and its increments, in any order; or
     * [autoBackupFile] after a device transfer): a content URI is not a path, the core reads files. They go
     * to the cache folder (the OS clears it; [restoreFrom] deletes its own).
     */
    suspend fun copyPicked(context: Context, uris: List<Uri>): List<File> = withContext(Dispatchers.IO) {
        val folder = File(context.cacheDir, "restore").apply { deleteRecursively(); mkdirs() }
        uris.mapIndexed { i, uri ->
            val tmp = File(folder, "picked-$i.zbk")
            val input = context.contentResolver.openInputStream(uri)
                ?: throw java.io.IOException("the document provider gave no input stream")
            input.use { inp -> tmp.outputStream().use { inp.copyTo(it, 256 * 1024) } }
            tmp
        }
    }

    /**
     * Restores the documents at [uris] (the full backup and its increments, in any order: the core orders
     * them by their headers) into a new store at [dir]; the core checks every chunk while restoring and
     * nothing is at [dir] on any error. The first start's screen (`org.zhangban.ui.RestoreScreen`) does
     * the same through the host's picker, after checking the files against the platform.
     */
    suspend fun restoreFrom(
        context: Context,
        uris: List<Uri>,
        code: String,
        dir: String,
    ): Pair<ZhangbanStore, RestoreSummary> {
        val files = copyPicked(context, uris)
        try {
            return PhoneBackup.restoreChain(files.map { it.path }, code, dir, KeystoreVault.create(), null)
        } finally {
            withContext(Dispatchers.IO) { files.forEach { it.delete() } }
        }
    }

    /** "Save backup to…": the system's document picker (Files, Google Drive, a USB stick). */
    fun exportLauncher(activity: ComponentActivity, onPicked: (Uri) -> Unit): ActivityResultLauncher<String> =
        activity.registerForActivityResult(ActivityResultContracts.CreateDocument(MIME)) { uri -> uri?.let(onPicked) }

    /**
     * "Restore from…": one file or a full backup with its increments (multiple selection); launch with
     * `arrayOf(MIME, "*/*")` (providers often report no type for .zbk).
     */
    fun importLauncher(activity: ComponentActivity, onPicked: (List<Uri>) -> Unit): ActivityResultLauncher<Array<String>> =
        activity.registerForActivityResult(ActivityResultContracts.OpenMultipleDocuments()) { uris ->
            if (uris.isNotEmpty()) onPicked(uris)
        }
}
