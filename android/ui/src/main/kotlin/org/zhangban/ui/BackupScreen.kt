package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.PhoneBackup
import org.zhangban.kit.Zhangban
import uniffi.zhangban_backup.BackupSummary
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.renderQr
import uniffi.zhangban_sync.RebindReport

/** The full backup's file in the host's backup folder; increment n goes to `zhangban-backup-n.zbk`. */
const val BACKUP_FILE = "zhangban-backup.zbk"

fun incrementFile(n: UInt) = "zhangban-backup-$n.zbk"

/**
 * 备份与换机 (from 设置): the recovery code (made on request, shown once, typed back to check it), then a
 * full backup or only the changes since the last one, into the host's backup folder (Android: the folder
 * Auto Backup and device transfer carry). On a restored phone, finishing the move (the old phone's QR or
 * the service centre's one-time code); on the old phone, signing the hand-over for a new one. The code, the files, every check and every error text are the
 * core's ([PhoneBackup]); here only the folder's file names: a new full backup starts a new chain, so the
 * increments of the old one go.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun BackupScreen(z: Zhangban, onBack: () -> Unit) {
    val c = chrome()
    val host = LocalHost.current
    val backup = remember(z) { PhoneBackup(z.store, z.platformUrl) }
    DisposableEffect(backup) { onDispose { backup.close() } }
    var hasCode by remember { mutableStateOf<Boolean?>(null) }
    var code by remember { mutableStateOf<String?>(null) }
    var typed by remember { mutableStateOf("") }
    var checked by remember { mutableStateOf(false) }
    var made by remember { mutableStateOf<BackupSummary?>(null) }
    var busy by remember { mutableStateOf(false) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    // A restored store waits for the move to be finished (the old phone it came from), else null.
    var awaiting by remember { mutableStateOf<String?>(null) }
    var oneTime by remember { mutableStateOf("") }
    var rebound by remember { mutableStateOf<RebindReport?>(null) }
    // Old phone: the hand-over it signed for a scanned new phone (shown as a QR), else null.
    var signed by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()
    // Nothing below the intro is laid out until both answers are in, and they land together: a button placed
    // before them would move under the finger (or under a test's click) when they arrive.
    LaunchedEffect(backup) {
        error = attempt {
            val has = backup.hasRecoveryCode()
            val from = backup.awaitingTransferFrom()
            awaiting = from
            hasCode = has
        }
    }

    fun work(block: suspend () -> Unit) {
        scope.launch {
            busy = true
            error = attempt(block)
            busy = false
        }
    }

    fun backUp(changes: Boolean) = work {
        val folder = host.backupFolder()
        val next = File(folder, "zhangban-backup-next.zbk")
        withContext(Dispatchers.IO) { folder.mkdirs() }
        val m = if (changes) backup.backUpIncrement(next.path) else backup.backUp(next.path)
        withContext(Dispatchers.IO) {
            if (m.chainIndex == 0u) {
                // A full backup: the base of a new chain; the old chain's increments are of no use any more.
                folder.listFiles()?.filter { it.name.startsWith("zhangban-backup-") && it != next }?.forEach { it.delete() }
                next.renameTo(File(folder, BACKUP_FILE))
            } else {
                next.renameTo(File(folder, incrementFile(m.chainIndex)))
            }
        }
        made = m
    }

    fun finished(report: RebindReport) {
        rebound = report
        awaiting = null
        oneTime = ""
    }

    val scanTransfer = host.rememberCodeScanner { text ->
        if (text != null) work { finished(backup.rebindWithTransfer(text)) }
    }
    val scanRequest = host.rememberCodeScanner { text ->
        if (text != null) work { signed = asPerson(host, c.lang) { backup.signTransfer(text) } }
    }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onBack) { Text(c.back) }
        SectionTitle(c.backupOpen)
        Text(c.backupIntro, style = MaterialTheme.typography.bodyMedium)
        if (hasCode == null) {
            ErrorText(error)
            return@Column
        }

        // 完成换机 (new phone, restored): the licences are bound to the old phone's device key until the
        // platform re-issues them to this one, after the old phone's signed hand-over (its QR) or the
        // service centre's identity check (a one-time code); the restored queue waits until then.
        val from = awaiting
        if (from != null) {
            SectionTitle(c.moveFinish)
            Text(c.moveWaiting, style = MaterialTheme.typography.bodyMedium)
            val request = remember(backup) { mutableStateOf<String?>(null) }
            LaunchedEffect(backup) { error = attempt { request.value = backup.transferRequestQr() } }
            Text(c.moveShowOld, style = MaterialTheme.typography.bodySmall, modifier = Modifier.padding(top = 8.dp))
            // The request carries this phone's fresh key and a nonce: masked in the golden images. Its place is
            // kept while it is made, so the buttons below do not move when it appears.
            val qrPlace = Modifier.fillMaxWidth(0.6f).aspectRatio(1f).padding(8.dp)
            when (val r = request.value) {
                null -> Box(qrPlace)
                else -> {
                    val qr = remember(r) { renderQr(r) }
                    QrCode(qr, c.moveShowOld, qrPlace.changesByItself(), r)
                }
            }
            if (scanTransfer != null) {
                Button(enabled = !busy, onClick = scanTransfer) { Text(c.moveScanOld) }
            }
            OutlinedTextField(
                value = oneTime,
                onValueChange = { oneTime = it.take(32) },
                label = { Text(c.moveOneTime) },
                singleLine = true,
                modifier = Modifier.fillMaxWidth().padding(top = 8.dp),
            )
            Button(enabled = oneTime.isNotBlank() && !busy, onClick = {
                work { finished(backup.rebindWithCode(from, oneTime.trim())) }
            }) { Text(c.moveWithCode) }
        }
        rebound?.let { r ->
            Text(c.lang.pick(r.text), color = MaterialTheme.colorScheme.primary, modifier = Modifier.padding(top = 8.dp))
        }

        SectionTitle(c.recoveryCode)
        val shown = code
        when {
            shown != null && !checked -> {
                Text(c.codeWriteDown, style = MaterialTheme.typography.bodyMedium)
                // Random: masked in the golden images.
                Text(shown, style = MaterialTheme.typography.titleLarge, modifier = Modifier.padding(vertical = 8.dp).changesByItself())
                OutlinedTextField(
                    value = typed,
                    onValueChange = { typed = it.take(40) },
                    label = { Text(c.codeTypeBack) },
                    singleLine = true,
                    modifier = Modifier.fillMaxWidth(),
                )
                Button(enabled = typed.isNotBlank() && !busy, onClick = {
                    work {
                        backup.checkRecoveryCode(typed)
                        checked = true
                        typed = ""
                    }
                }) { Text(c.codeCheck) }
            }
            checked -> Text(c.codeChecked, color = MaterialTheme.colorScheme.primary)
            hasCode == true -> Text(c.codeExists, style = MaterialTheme.typography.bodyMedium)
            hasCode == false -> Text(c.codeNone, style = MaterialTheme.typography.bodyMedium)
        }
        if (hasCode != null && (shown == null || checked)) {
            OutlinedButton(enabled = !busy, onClick = {
                work {
                    code = backup.makeRecoveryCode()
                    hasCode = true
                    checked = false
                    typed = ""
                }
            }) { Text(if (hasCode == true) c.codeNew else c.codeMake) }
        }

        SectionTitle(c.backupFiles)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(enabled = hasCode == true && !busy, onClick = { backUp(changes = false) }) { Text(c.backupFull) }
            OutlinedButton(enabled = hasCode == true && !busy, onClick = { backUp(changes = true) }) { Text(c.backupChanges) }
        }
        made?.let { m ->
            Text(c.backupSaved(m.chainIndex), color = MaterialTheme.colorScheme.primary, modifier = Modifier.padding(top = 8.dp))
            // What changed since the last backup differs from run to run: masked in the golden images.
            Text(
                c.lang.pick(m.counts),
                style = MaterialTheme.typography.bodySmall,
                modifier = Modifier.changesByItself(),
            )
        }

        // 为新手机授权换机 (old phone, at hand): scan the new phone's request, show the signed hand-over.
        if (from == null && scanRequest != null) {
            SectionTitle(c.moveOldPhone)
            OutlinedButton(enabled = !busy, onClick = scanRequest) { Text(c.moveScanNew) }
            signed?.let { t ->
                Text(c.moveShowNew, style = MaterialTheme.typography.bodySmall, modifier = Modifier.padding(top = 8.dp))
                val qr = remember(t) { renderQr(t) }
                QrCode(qr, c.moveShowNew, Modifier.fillMaxWidth(0.6f).aspectRatio(1f).padding(8.dp).changesByItself(), t)
            }
        }
        ErrorText(error)
    }
}
