package org.zhangban.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.LazyListState
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.lazy.itemsIndexed
import androidx.compose.foundation.lazy.rememberLazyListState
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.Zhangban
import uniffi.zhangban_base.AttachmentInfo
import uniffi.zhangban_cases.CaseView
import uniffi.zhangban_cases.ratingChoices
import uniffi.zhangban_ffi.ZhangbanException

/**
 * 我的办件: the case list (a StateFlow the core's listener keeps current) and one case's progress. The open
 * case survives a rotation; a case from a notification is opened once ([onCaseShown] consumes it).
 */
@Composable
fun CasesScreen(z: Zhangban, caseFromNotice: String?, onCaseShown: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    val cases by z.cases.collectAsStateWithLifecycle()
    var open by rememberSaveable { mutableStateOf<String?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(caseFromNotice) {
        if (caseFromNotice != null) {
            open = caseFromNotice
            onCaseShown()
        }
    }

    open?.let { id ->
        CaseDetail(z, id, onClose = { open = null })
        return
    }
    Column(Modifier.padding(16.dp)) {
        // offline: the outbox keeps everything; the list shows "queued"
        OutlinedButton(onClick = { scope.launch { error = attempt { z.syncNow() } } }) { Text(c.syncNow) }
        if (cases.isEmpty()) Text(c.noCases, Modifier.padding(top = 16.dp))
        // The sync's error goes under the list (the list gives up room for it): arriving after the tap, above the
        // list it pushed every case down.
        LazyColumn(Modifier.weight(1f, fill = false)) {
            items(cases, key = { it.id }) { case ->
                Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { open = case.id }) {
                    Column(Modifier.padding(16.dp)) {
                        Text(lang.pick(case.title), style = MaterialTheme.typography.titleMedium)
                        Text(lang.pick(case.stateText))
                        case.receipt?.let {
                            Text(c.receipt(it), style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself())
                        }
                        case.problem?.let { ErrorText(lang.pick(it)) }
                    }
                }
            }
        }
        ErrorText(error)
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CaseDetail(z: Zhangban, caseId: String, onClose: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    val cases by z.cases.collectAsStateWithLifecycle()
    var view by remember { mutableStateOf<CaseView?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    // Reloaded whenever this case's line in the list changes (a notice arrived): the deadline and what is
    // needed follow.
    val line = cases.firstOrNull { it.id == caseId }
    var reloads by remember { mutableStateOf(0) } // an action of the person changed the case
    val listState = rememberLazyListState()
    // A notice that changes what is above the actions (a deadline, what is needed now) does not push them down
    // under the person's finger: they stay where they are on screen.
    var held by remember { mutableStateOf<Pair<Any, Int>?>(null) }
    LaunchedEffect(caseId, line, reloads) {
        error = attempt {
            val next = z.view(caseId)
            held = listState.placeOf { it == ACTIONS }
            view = next
        }
    }
    // Read here, in the composable, not inside the LazyColumn's builder: a loaded view recomposes this
    // function and so rebuilds the list.
    val loaded = view
    // The actions' index: after the summary and the needs.
    listState.KeepPlace(held, { 1 + (loaded?.neededNow?.size ?: 0) }) { held = null }
    Column(Modifier.padding(16.dp)) {
        // 返回 stays on screen, above the list: scrolled down to an action, it was scrolled out of the list
        // (and a test's click on it found no node, one run in a few).
        TextButton(onClick = onClose) { Text(c.back) }
        // With nothing loaded nothing is below it; a reload's error goes under the list (it pushes nothing).
        if (loaded == null) ErrorText(error)
        val v = loaded ?: return@Column
        CaseDetailList(z, v, listState, error, onReload = { reloads++ })
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun CaseDetailList(z: Zhangban, v: CaseView, listState: LazyListState, error: ZhangbanException?, onReload: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    LazyColumn(state = listState, contentPadding = listState.roomToKeepPlace()) {
        item(key = "summary") {
            Text(lang.pick(v.summary.title), style = MaterialTheme.typography.titleLarge)
            Text(lang.pick(v.summary.stateText), style = MaterialTheme.typography.titleMedium)
            v.summary.receipt?.let { Text(c.receipt(it), Modifier.changesByItself()) }
            // The deadline as the core words it: promised date, working days left (from today), overdue, provisional.
            v.deadlineText?.let {
                if (v.overdue) ErrorText(lang.pick(it)) else Text(lang.pick(it), Modifier.changesByItself())
            }
            if (v.neededNow.isNotEmpty()) SectionTitle(c.neededNow)
        }
        // Keys by place: the actions' index is 1 + the number of these (what [KeepPlace] is told).
        itemsIndexed(v.neededNow, key = { i, _ -> "need:$i" }) { _, n ->
            // The due date is a date from today (a request made today is due on a later date tomorrow): its own
            // text, masked in the golden images (it was part of the line, and the renders changed at midnight).
            FlowRow(Modifier.padding(vertical = 4.dp)) {
                Text(lang.pick(n.text))
                n.due?.let { Text(" · $it", Modifier.changesByItself()) }
            }
        }
        // Keyed: what is needed above it comes and goes, and its state (what was attached, the "sent" line)
        // must stay with it, not with an index.
        item(key = ACTIONS) { CaseActionsPanel(z, v, onDone = onReload) }
        item(key = "timeline") { SectionTitle(c.timeline) }
        itemsIndexed(v.timeline, key = { i, _ -> "event:$i" }) { _, t ->
            Column(Modifier.padding(vertical = 4.dp)) {
                Text(formatTime(t.at, lang), style = MaterialTheme.typography.labelMedium, modifier = Modifier.changesByItself())
                Text(lang.pick(t.stateText), style = MaterialTheme.typography.bodyMedium)
                // the note may carry a receipt number, which names the day
                lang.pick(t.note).takeIf { it.isNotBlank() }?.let {
                    Text(it, style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself())
                }
            }
        }
        error?.let { item(key = "error") { ErrorText(it) } }
    }
}

/** The key of the case detail's actions (what a reload keeps in its place). */
private const val ACTIONS = "actions"

/**
 * What the person can do with the case now, as the core's `CaseActions` allow: 补正 (attach what was asked and
 * send it), resend or give up a submission the platform refused, 好差评 after completion (the levels and
 * their words from the core), a complaint. The core checks every call (a dissatisfied rating without a
 * reason is its validation error, shown here).
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun CaseActionsPanel(z: Zhangban, v: CaseView, onDone: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    val a = v.actions
    val id = v.summary.id
    var error by remember(id) { mutableStateOf<ZhangbanException?>(null) }
    var attached by remember(id) { mutableStateOf<List<AttachmentInfo>>(emptyList()) }
    var note by rememberSaveable(id) { mutableStateOf("") }
    var complaint by rememberSaveable(id) { mutableStateOf("") }
    var levelIndex by rememberSaveable(id) { mutableStateOf<Int?>(null) }
    var reason by rememberSaveable(id) { mutableStateOf("") }
    // What was done, worded when shown (a language switch re-words it: it was kept as a string and stayed
    // in the language of the moment it was sent).
    var done by remember(id) { mutableStateOf<(Chrome.() -> String)?>(null) }
    val choices = remember { ratingChoices() }
    val scope = rememberCoroutineScope()
    val pick = LocalHost.current.rememberFilePicker { f ->
        if (f != null) {
            scope.launch {
                error = attempt {
                    val bytes = f.read()
                    attached = attached + withContext(Dispatchers.IO) { z.store.writeAttachment(v.summary.subject, f.name, bytes) }
                }
            }
        }
    }
    fun act(message: Chrome.() -> String, block: suspend () -> Unit) {
        scope.launch {
            error = attempt {
                withContext(Dispatchers.IO) { block() }
                done = message
                z.refreshCases()
                onDone()
            }
        }
    }

    Column(Modifier.padding(vertical = 8.dp)) {
        if (a.supplement) {
            SectionTitle(c.supplyTitle)
            OutlinedButton(onClick = pick) { Text(c.attach) }
            for (f in attached) Text(c.attachedFile(f.name), style = MaterialTheme.typography.bodySmall)
            OutlinedTextField(note, { note = it }, label = { Text(c.supplyNote) }, modifier = Modifier.fillMaxWidth())
            Button(
                enabled = attached.isNotEmpty() || note.isNotBlank(),
                onClick = {
                    act({ supplySent }) {
                        z.casesApi.supply(id, "{}", attached.map { it.id }, note)
                        attached = emptyList()
                        note = ""
                    }
                },
            ) { Text(c.supplySend) }
        }
        if (a.resubmit || a.discard) {
            // The platform's reason is shown once, above, under 现在需要 (it was here a second time).
            SectionTitle(c.refusedTitle)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                if (a.resubmit) {
                    Button(onClick = {
                        act({ resubmitted }) { z.casesApi.resubmit(id, null, false, null, attached.map { it.id }.ifEmpty { null }) }
                    }) { Text(c.resubmit) }
                }
                if (a.discard) {
                    OutlinedButton(onClick = { act({ discarded }) { z.casesApi.discardRefused(id, c.discardReason) } }) { Text(c.discard) }
                }
            }
        }
        if (a.rate) {
            SectionTitle(c.rateTitle)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                choices.forEachIndexed { i, r ->
                    FilterChip(selected = levelIndex == i, onClick = { levelIndex = i }, label = { Text(lang.pick(r.label)) })
                }
            }
            val chosen = levelIndex?.let { choices[it] }
            OutlinedTextField(
                reason,
                { reason = it },
                label = { Text(if (chosen?.needsReason == true) c.rateReasonNeeded else c.rateReason) },
                modifier = Modifier.fillMaxWidth(),
            )
            Button(enabled = chosen != null, onClick = {
                chosen?.let { r -> act({ rated }) { z.casesApi.rate(id, r.level, reason.ifBlank { null }) } }
            }) { Text(c.rateSend) }
        }
        if (a.complain) {
            SectionTitle(c.complainTitle)
            OutlinedTextField(complaint, { complaint = it }, label = { Text(c.complainHint) }, modifier = Modifier.fillMaxWidth())
            OutlinedButton(enabled = complaint.isNotBlank(), onClick = {
                act({ complained }) {
                    z.casesApi.complain(id, complaint)
                    complaint = ""
                }
            }) { Text(c.complainSend) }
        }
        ErrorText(error)
        done?.let { Text(c.it(), color = MaterialTheme.colorScheme.primary) }
    }
}
