package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import java.io.File
import kotlinx.coroutines.launch
import org.zhangban.kit.PhoneBackup
import uniffi.zhangban_backup.BackupInfo
import uniffi.zhangban_backup.RestoreSummary
import uniffi.zhangban_backup.pickedText
import uniffi.zhangban_ffi.KeyVault
import uniffi.zhangban_ffi.ZhangbanException

/**
 * Where a restore on a new phone puts the store, and how this phone signs up with the platform: the store's
 * folder (missing or empty), the vault its new data key goes to, the platform, and the device's model and
 * app version (for the scratch registration that checks the files first, [PhoneBackup.checkOnNewPhone]).
 */
class NewPhone(
    val dir: String,
    val vault: KeyVault,
    val platformUrl: String,
    val model: String,
    val appVersion: String,
    val scratchDir: String = "$dir.check",
)

/** What the check of the picked files found: the newest file's header, and whether the platform was asked. */
private class Checked(val files: List<File>, val newest: BackupInfo, val byPlatform: Boolean)

/**
 * 换机恢复, the first start on a phone with no store: the person picks the backup files (the full backup and
 * its increments, in any order: a multiple selection) or starts afresh ([onFresh]). The files are checked
 * before the code is asked for — the newest one's generation against what the person's phones reported to
 * the platform, so a stale cloud-drive copy is refused (`older_backup`); offline, the newest file's date
 * and generation are shown, unchecked. Then the code, and the core restores into [NewPhone.dir] (nothing
 * is there on any error); [onRestored] opens the app on it. The order of the files, every check and every
 * error text are the core's ([PhoneBackup]).
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun RestoreScreen(phone: NewPhone, onRestored: (RestoreSummary) -> Unit, onFresh: () -> Unit) {
    val c = chrome()
    val lang = LocalLang.current
    var checked by remember { mutableStateOf<Checked?>(null) }
    var code by remember { mutableStateOf("") }
    var busy by remember { mutableStateOf(false) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()

    fun work(block: suspend () -> Unit) {
        scope.launch {
            busy = true
            error = attempt(block)
            busy = false
        }
    }

    val pick = LocalHost.current.rememberBackupPicker { files ->
        if (files.isNullOrEmpty()) return@rememberBackupPicker
        checked = null
        work {
            val paths = files.map { it.path }
            checked = try {
                val info = PhoneBackup.checkOnNewPhone(
                    paths, phone.scratchDir, phone.vault, phone.platformUrl, "android", phone.model, phone.appVersion,
                )
                Checked(files, info, byPlatform = true)
            } catch (e: ZhangbanException.Network) {
                // Offline: the platform cannot say whether a newer backup exists; the newest file's header.
                Checked(files, paths.map { PhoneBackup.inspect(it) }.maxBy { it.generation }, byPlatform = false)
            }
        }
    }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        SectionTitle(c.restoreTitle)
        Text(c.restoreIntro, style = MaterialTheme.typography.bodyMedium)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp), modifier = Modifier.padding(vertical = 8.dp)) {
            Button(enabled = !busy, onClick = pick) { Text(c.restorePick) }
            OutlinedButton(enabled = !busy, onClick = onFresh) { Text(c.restoreFresh) }
        }
        checked?.let { k ->
            // Worded by the core (its plurals): "已选 2 个文件，最新一份是第 3 次备份。"
            Text(lang.pick(pickedText(k.files.size.toUInt(), k.newest.generation)), color = MaterialTheme.colorScheme.primary)
            for (f in k.files.sortedBy { it.name }) Text(f.name, style = MaterialTheme.typography.bodySmall)
            // When the newest file was made differs from run to run: masked in the golden images.
            Text(
                c.restoreMadeAt(formatTime(k.newest.createdAt, lang)),
                style = MaterialTheme.typography.bodySmall,
                modifier = Modifier.changesByItself(),
            )
            Text(
                if (k.byPlatform) c.restoreCheckedNewest else c.restoreOffline,
                style = MaterialTheme.typography.bodySmall,
                modifier = Modifier.padding(vertical = 4.dp),
            )
            OutlinedTextField(
                value = code,
                onValueChange = { code = it.take(40) },
                label = { Text(c.restoreCode) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth(),
            )
            Button(enabled = code.isNotBlank() && !busy, onClick = {
                work {
                    val (store, summary) = PhoneBackup.restoreChain(k.files.map { it.path }, code, phone.dir, phone.vault, null)
                    store.close() // the app opens it again, with its listeners
                    onRestored(summary)
                }
            }) { Text(c.restoreRun) }
        }
        ErrorText(error)
    }
}
