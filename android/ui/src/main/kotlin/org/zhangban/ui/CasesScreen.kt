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
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.zhangban.kit.Zhangban
import uniffi.zhangban_cases.CaseView
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
        ErrorText(error)
        if (cases.isEmpty()) Text(c.noCases, Modifier.padding(top = 16.dp))
        LazyColumn {
            items(cases, key = { it.id }) { case ->
                Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { open = case.id }) {
                    Column(Modifier.padding(16.dp)) {
                        Text(case.title, style = MaterialTheme.typography.titleMedium)
                        Text(lang.pick(case.stateText))
                        case.receipt?.let {
                            Text(c.receipt(it), style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself())
                        }
                        case.problem?.let { ErrorText(it) }
                    }
                }
            }
        }
    }
}

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
    LaunchedEffect(caseId, line) { error = attempt { view = z.view(caseId) } }
    // Read here, in the composable, not inside the LazyColumn's builder: a loaded view recomposes this
    // function and so rebuilds the list.
    val loaded = view
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            TextButton(onClick = onClose) { Text(c.back) }
            ErrorText(error)
        }
        val v = loaded ?: return@LazyColumn
        item {
            Text(v.summary.title, style = MaterialTheme.typography.titleLarge)
            Text(lang.pick(v.summary.stateText), style = MaterialTheme.typography.titleMedium)
            v.summary.receipt?.let { Text(c.receipt(it), Modifier.changesByItself()) }
            // The deadline as the core words it: promised date, working days left (from today), overdue, provisional.
            v.deadlineText?.let {
                if (v.overdue) ErrorText(lang.pick(it)) else Text(lang.pick(it), Modifier.changesByItself())
            }
            if (v.neededNow.isNotEmpty()) SectionTitle(c.neededNow)
        }
        items(v.neededNow) { n ->
            Text(lang.pick(n.text) + (n.due?.let { " · $it" } ?: ""), Modifier.padding(vertical = 4.dp))
        }
        item { SectionTitle(c.timeline) }
        items(v.timeline) { t ->
            Column(Modifier.padding(vertical = 4.dp)) {
                Text(formatTime(t.at, lang), style = MaterialTheme.typography.labelMedium, modifier = Modifier.changesByItself())
                Text(lang.pick(t.stateText), style = MaterialTheme.typography.bodyMedium)
                // the note may carry a receipt number, which names the day
                lang.pick(t.note).takeIf { it.isNotBlank() }?.let {
                    Text(it, style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself())
                }
            }
        }
    }
}
