package org.zhangban.ui

import androidx.compose.foundation.clickable
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
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_remind.reminderActionLabel
import uniffi.zhangban_remind.reminderChannels
import uniffi.zhangban_remind.Home
import uniffi.zhangban_remind.Reminder
import uniffi.zhangban_remind.ReminderAction
import uniffi.zhangban_remind.Screen
import uniffi.zhangban_remind.Urgency

/**
 * 待办: the core's home in one call — what needs the person now, most urgent first (per principal on an
 * agent's phone), the cases under way with their working days left, licences expiring, what waits to be sent.
 * Every line's words, its urgency and its order are the core's; a tap opens what the line links to
 * ([onOpen]: the link's screen and id — a case, a licence…). Reloaded when the case list changes (a sync or a notice changed something).
 */
@Composable
fun TodoScreen(z: Zhangban, onOpen: (Screen, String) -> Unit) {
    val c = chrome()
    val lang = c.lang
    val cases by z.cases.collectAsStateWithLifecycle()
    var home by remember { mutableStateOf<Home?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var reloads by remember { mutableStateOf(0) }
    val scope = rememberCoroutineScope()
    // The urgency's name as the notification channel has it (the core's words).
    val urgencyName = remember { reminderChannels().associate { it.urgency to it.name } }
    LaunchedEffect(cases, reloads) { error = attempt { home = z.home() } }

    // Read here, in the composable, not inside the LazyColumn's builder: a loaded home recomposes this
    // function and so rebuilds the list (read only in the builder, a loaded home sometimes never showed).
    val loaded = home
    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            OutlinedButton(
                onClick = { scope.launch { error = attempt { z.syncNow() }; reloads++ } },
                modifier = Modifier.padding(top = 16.dp),
            ) { Text(c.syncNow) }
            ErrorText(error)
        }
        val h = loaded ?: return@LazyColumn
        val nothing = h.needsTotal == 0u && h.casesTotal == 0u && h.licences.isEmpty()
        if (nothing) item { Text(c.nothingToDo, Modifier.padding(vertical = 16.dp)) }
        // One person: the needs in one list; an agent's phone: per principal (the most urgent three each).
        val groups: List<Pair<String?, List<Reminder>>> = if (h.principals.size <= 1) {
            listOf(null to h.needs)
        } else {
            h.principals.map { lang.pick(it.label) to it.needs }
        }
        for ((label, needs) in groups) {
            if (label != null) item { SectionTitle(label) }
            items(needs, key = { "need:${label}:${it.id}" }) { n ->
                NeedCard(n, lang.pick(urgencyName.getValue(n.urgency)), onOpen) { action ->
                    if (action == ReminderAction.URGE) {
                        scope.launch { error = attempt { z.urge(n.link.id) }; reloads++ }
                    } else {
                        onOpen(n.link.screen, n.link.id)
                    }
                }
            }
        }
        h.needsMore?.let { more -> item { Text(lang.pick(more)) } }
        if (h.cases.isNotEmpty()) item { SectionTitle(c.underWay) }
        items(h.cases, key = { "case:${it.caseId}" }) { a ->
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { onOpen(Screen.CASE, a.caseId) }) {
                Column(Modifier.padding(16.dp)) {
                    Text(lang.pick(a.title), style = MaterialTheme.typography.titleMedium)
                    Text(lang.pick(a.stateLabel))
                    a.workingDaysText?.let { left ->
                        // From today: it changes by itself (the golden images mask it). Worded by the core.
                        if (a.overdue) ErrorText(c.overdue) else Text(lang.pick(left), Modifier.changesByItself())
                    }
                    // The date itself changes from day to day (the golden images mask it).
                    a.promisedDate?.let {
                        Text(c.promisedDate(it), style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself())
                    }
                }
            }
        }
        if (h.licences.isNotEmpty()) item { SectionTitle(c.licencesExpiring) }
        items(h.licences, key = { "licence:${it.licenceId}" }) { l ->
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
                Column(Modifier.padding(16.dp)) {
                    Text(lang.pick(l.name), style = MaterialTheme.typography.titleMedium)
                    Text(c.validUntil(l.validUntil), modifier = Modifier.changesByItself())
                    l.renewalName?.let { Text(lang.pick(it), style = MaterialTheme.typography.bodySmall) }
                }
            }
        }
        h.casesMore?.let { more -> item { Text(lang.pick(more)) } }
        h.outboxText?.let { waiting -> item { Text(lang.pick(waiting), Modifier.padding(vertical = 8.dp)) } }
        h.lastSyncAt?.let { t ->
            item {
                Text(
                    c.lastSync(formatTime(t, lang)),
                    style = MaterialTheme.typography.bodySmall,
                    modifier = Modifier.padding(vertical = 8.dp).changesByItself(),
                )
            }
        }
    }
}

@Composable
private fun NeedCard(n: Reminder, urgency: String, onOpen: (Screen, String) -> Unit, onAction: (ReminderAction) -> Unit) {
    val c = chrome()
    val lang = c.lang
    Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { onOpen(n.link.screen, n.link.id) }) {
        Column(Modifier.padding(16.dp)) {
            if (n.urgency == Urgency.URGENT) {
                ErrorText(urgency)
            } else {
                Text(urgency, style = MaterialTheme.typography.labelMedium, color = MaterialTheme.colorScheme.primary)
            }
            Text(lang.pick(n.title), style = MaterialTheme.typography.titleMedium)
            // The body names the due date: it changes from day to day (the golden images mask it).
            Text(lang.pick(n.body), style = MaterialTheme.typography.bodyMedium, modifier = Modifier.changesByItself())
            n.action?.let { a -> TextButton(onClick = { onAction(a) }) { Text(lang.pick(reminderActionLabel(a))) } }
        }
    }
}
