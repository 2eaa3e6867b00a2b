package org.zhangban.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.LazyListState
import androidx.compose.foundation.lazy.rememberLazyListState
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
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_remind.reminderActionLabel
import uniffi.zhangban_remind.reminderChannels
import uniffi.zhangban_remind.ActiveCase
import uniffi.zhangban_remind.ExpiringLicence
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
    val listState = rememberLazyListState()
    // The person's own 立即同步 is running: its answer is shown from the top, as asked (the button they pressed
    // stays where it is, the first line of the list).
    var syncing by remember { mutableStateOf(false) }
    var shownReloads by remember { mutableStateOf(0) }
    var syncAnswer by remember { mutableStateOf(-1) }
    var held by remember { mutableStateOf<Pair<Any, Int>?>(null) }
    LaunchedEffect(cases, reloads) {
        // Whose answer this is, decided when it is asked, not when it arrives: a reload asked during the person's
        // sync (an answer from before the sync's last change) came back after the sync had ended and was taken
        // for the answer to it; the sync's real answer then counted as a notice and was held below the old
        // lines — the list scrolled one card down with 立即同步 out of sight (seen: TodoScreensTest, 1 run in 3
        // under load).
        val asked = reloads
        val persons = syncing || asked != shownReloads
        // The answer to 立即同步 is shown from the top (the button is the first item: the person was there to
        // press it), also if a notice's reload that came back during the sync held the old lines in place.
        val fromTop = syncing || asked == syncAnswer
        error = attempt {
            val next = z.home()
            if (persons) {
                shownReloads = asked
                home = next
                if (fromTop) listState.requestScrollToItem(0)
            } else {
                // A notice (or a sync in the background) that brings a line above the ones on screen does not push
                // them down under the person's finger: the first line on screen stays where it is, what arrived
                // goes above it (scroll up to see it; the notice itself is on the phone's notification shade).
                // Held only where the list as laid out shows the lines now set: an answer set a moment ago and not
                // yet laid out (the sync's, 6 ms before a notice's reload came back) is not what the person sees
                // yet, and holding the older layout's first line held the lines from before the sync (seen: the
                // list one card down after 立即同步, TodoScreensTest under load). Then what arrives is shown as the
                // set answer would have been.
                val set = home?.let { todoRows(it, lang) }.orEmpty()
                held = if (listState.laysOut(set)) listState.placeOf { it != HEAD } else null
                home = next
            }
        }
    }

    // Read here, in the composable, not inside the LazyColumn's builder: a loaded home recomposes this
    // function and so rebuilds the list (read only in the builder, a loaded home sometimes never showed).
    val rows = home?.let { todoRows(it, lang) }.orEmpty()
    // (Index + 1: the sync button is the list's first item.)
    listState.KeepPlace(held, { key -> rows.indexOfFirst { it.key == key }.takeIf { it >= 0 }?.plus(1) }) { held = null }
    LazyColumn(Modifier.padding(horizontal = 16.dp), state = listState, contentPadding = listState.roomToKeepPlace()) {
        item(key = HEAD) {
            OutlinedButton(
                onClick = {
                    scope.launch {
                        syncing = true
                        try {
                            error = attempt { z.syncNow() }
                        } finally {
                            syncing = false
                        }
                        syncAnswer = reloads + 1
                        reloads++
                    }
                },
                modifier = Modifier.padding(top = 16.dp),
            ) { Text(c.syncNow) }
        }
        items(rows, key = { it.key }) { row ->
            when (row) {
                is TodoRow.Nothing -> Text(c.nothingToDo, Modifier.padding(vertical = 16.dp))
                is TodoRow.Title -> SectionTitle(row.text)
                is TodoRow.Need -> NeedCard(row.need, lang.pick(urgencyName.getValue(row.need.urgency)), onOpen) { action ->
                    val n = row.need
                    if (action == ReminderAction.URGE) {
                        scope.launch { error = attempt { z.urge(n.link.id) }; reloads++ }
                    } else {
                        onOpen(n.link.screen, n.link.id)
                    }
                }
                is TodoRow.Line -> Text(row.text, Modifier.padding(vertical = row.pad.dp))
                is TodoRow.Case -> {
                    val a = row.case
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
                is TodoRow.Licence -> {
                    val l = row.licence
                    Card(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
                        Column(Modifier.padding(16.dp)) {
                            Text(lang.pick(l.name), style = MaterialTheme.typography.titleMedium)
                            Text(c.validUntil(l.validUntil), modifier = Modifier.changesByItself())
                            l.renewalName?.let { Text(lang.pick(it), style = MaterialTheme.typography.bodySmall) }
                        }
                    }
                }
                is TodoRow.LastSync -> Text(
                    c.lastSync(formatTime(row.at, lang)),
                    style = MaterialTheme.typography.bodySmall,
                    modifier = Modifier.padding(vertical = 8.dp).changesByItself(),
                )
            }
        }
        // Under the list: an error that arrives pushes nothing down.
        error?.let { e -> item(key = ERROR) { ErrorText(e) } }
    }
}

private const val HEAD = "head"
private const val ERROR = "error"

/** Whether the list's last layout is of [rows] (each item on screen is the row at its index; the head is item 0). */
private fun LazyListState.laysOut(rows: List<TodoRow>): Boolean =
    layoutInfo.visibleItemsInfo.all { item ->
        item.key == HEAD || item.key == ERROR || rows.getOrNull(item.index - 1)?.key == item.key
    }

/** One line of 待办, keyed: the list is built from these, and a reload finds a line's new place by its key. */
private sealed class TodoRow(val key: String) {
    object Nothing : TodoRow("nothing")
    class Title(key: String, val text: String) : TodoRow(key)
    class Need(key: String, val need: Reminder) : TodoRow(key)
    class Line(key: String, val text: String, val pad: Int) : TodoRow(key)
    class Case(val case: ActiveCase) : TodoRow("case:${case.caseId}")
    class Licence(val licence: ExpiringLicence) : TodoRow("licence:${licence.licenceId}")
    class LastSync(val at: Long) : TodoRow("last-sync")
}

/** The lines of [h] in the order the core gives them. */
private fun todoRows(h: Home, lang: Lang): List<TodoRow> = buildList {
    val c = Chrome(lang)
    val nothing = h.needsTotal == 0u && h.casesTotal == 0u && h.licences.isEmpty()
    if (nothing) add(TodoRow.Nothing)
    // One person: the needs in one list; an agent's phone: per principal (the most urgent three each).
    if (h.principals.size <= 1) {
        for (n in h.needs) add(TodoRow.Need("need:${n.id}", n))
    } else {
        for (p in h.principals) {
            add(TodoRow.Title("principal:${p.subject}", lang.pick(p.label)))
            for (n in p.needs) add(TodoRow.Need("need:${p.subject}:${n.id}", n))
        }
    }
    h.needsMore?.let { add(TodoRow.Line("needs-more", lang.pick(it), 0)) }
    if (h.cases.isNotEmpty()) add(TodoRow.Title("under-way", c.underWay))
    for (a in h.cases) add(TodoRow.Case(a))
    if (h.licences.isNotEmpty()) add(TodoRow.Title("licences", c.licencesExpiring))
    for (l in h.licences) add(TodoRow.Licence(l))
    h.casesMore?.let { add(TodoRow.Line("cases-more", lang.pick(it), 0)) }
    h.outboxText?.let { add(TodoRow.Line("outbox", lang.pick(it), 8)) }
    h.lastSyncAt?.let { add(TodoRow.LastSync(it)) }
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
