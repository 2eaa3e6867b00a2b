package org.zhangban.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_wallet.GrantRecord
import uniffi.zhangban_wallet.UsageEntry
import uniffi.zhangban_wallet.purposeText

/**
 * 用证记录: the grants given (授权用证: to whom, for what, until when; withdraw one that is still in force) and
 * every use of the wallet's licences, newest first, each line worded by the core (who was shown or given
 * which fields of which licence, for what).
 */
@Composable
fun UsageScreen(z: Zhangban, onBack: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    var grants by remember { mutableStateOf<List<GrantRecord>>(emptyList()) }
    var usage by remember { mutableStateOf<List<UsageEntry>?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    suspend fun reload() {
        // Both answers, then both shown at once (a list that arrived later moved what was below it).
        val (g, u) = withContext(Dispatchers.IO) {
            // Usage newest first, from the core (the audit chain's order reversed there: a sort by time here put
            // uses of one second oldest first).
            z.wallet.grants(null).sortedByDescending { it.issuedAt } to z.wallet.usage(null)
        }
        grants = g
        usage = u
    }
    LaunchedEffect(Unit) { error = attempt { reload() } }
    // Read here, in the composable, not only inside the LazyColumn's builder (see CaseDetail).
    val given = grants
    val lines = usage
    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            TextButton(onClick = onBack) { Text(c.back) }
            Text(c.usageTitle, style = MaterialTheme.typography.titleLarge)
            ErrorText(error)
            SectionTitle(c.grantsTitle)
            if (lines != null && given.isEmpty()) Text(c.noGrants)
        }
        items(given, key = { "grant:" + it.grantId }) { g ->
            val now = nowSecs()
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
                Column(Modifier.padding(16.dp)) {
                    Text(g.recipient, style = MaterialTheme.typography.titleMedium)
                    Text(lang.pick(purposeText(g.purpose)))
                    val revoked = g.revokedAt
                    when {
                        revoked != null -> Text(c.grantRevokedAt(formatTime(revoked, lang)), Modifier.changesByItself())
                        g.expiresAt <= now -> Text(c.grantExpired)
                        else -> {
                            Text(c.grantUntil(formatTime(g.expiresAt, lang)), Modifier.changesByItself())
                            OutlinedButton(onClick = {
                                scope.launch {
                                    error = attempt {
                                        withContext(Dispatchers.IO) { z.wallet.revokeGrant(g.grantId) }
                                        reload()
                                    }
                                }
                            }) { Text(c.grantRevoke) }
                        }
                    }
                }
            }
        }
        item { SectionTitle(c.usageLog) }
        items(lines.orEmpty()) { u -> // no key: two uses in one second are two lines
            Column(Modifier.padding(vertical = 6.dp)) {
                Text(formatTime(u.at, lang), style = MaterialTheme.typography.labelMedium, modifier = Modifier.changesByItself())
                Text(lang.pick(u.text), style = MaterialTheme.typography.bodyMedium)
            }
        }
    }
}
