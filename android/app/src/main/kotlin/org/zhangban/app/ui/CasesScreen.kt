package org.zhangban.app.ui

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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.zhangban.app.R
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.text
import uniffi.zhangban_cases.CaseView
import uniffi.zhangban_ffi.ZhangbanException

/** 我的办件: the case list (a StateFlow the core's listener keeps current) and one case's progress. */
@Composable
fun CasesScreen(z: Zhangban, lang: Lang, caseFromNotice: String?, onCaseShown: () -> Unit) {
    val cases by z.cases.collectAsStateWithLifecycle()
    var open by remember { mutableStateOf<String?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(caseFromNotice) {
        if (caseFromNotice != null) {
            open = caseFromNotice
            onCaseShown()
        }
    }

    open?.let { id ->
        CaseDetail(z, id, lang, onClose = { open = null })
        return
    }
    Column(Modifier.padding(16.dp)) {
        OutlinedButton(onClick = {
            scope.launch {
                error = try {
                    z.syncNow() // offline: the outbox keeps everything; the list shows "queued"
                    null
                } catch (e: ZhangbanException) {
                    e.text(lang)
                }
            }
        }) { Text(stringResource(R.string.sync_now)) }
        ErrorText(error)
        if (cases.isEmpty()) Text(stringResource(R.string.no_cases), Modifier.padding(top = 16.dp))
        LazyColumn {
            items(cases, key = { it.id }) { c ->
                Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { open = c.id }) {
                    Column(Modifier.padding(16.dp)) {
                        Text(c.title, style = MaterialTheme.typography.titleMedium)
                        Text(lang.pick(c.stateText))
                        c.receipt?.let { Text(stringResource(R.string.receipt, it), style = MaterialTheme.typography.bodySmall) }
                        c.problem?.let { ErrorText(it) }
                    }
                }
            }
        }
    }
}

@Composable
private fun CaseDetail(z: Zhangban, caseId: String, lang: Lang, onClose: () -> Unit) {
    val cases by z.cases.collectAsStateWithLifecycle()
    var view by remember { mutableStateOf<CaseView?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    // Reloaded whenever the list changes (a notice arrived): the deadline and what is needed follow.
    LaunchedEffect(caseId, cases) {
        try {
            view = z.view(caseId)
        } catch (e: ZhangbanException) {
            error = e.text(lang)
        }
    }
    LazyColumn(Modifier.padding(16.dp)) {
        item {
            TextButton(onClick = onClose) { Text(stringResource(R.string.back)) }
            ErrorText(error)
        }
        val v = view ?: return@LazyColumn
        item {
            Text(v.summary.title, style = MaterialTheme.typography.titleLarge)
            Text(lang.pick(v.summary.stateText), style = MaterialTheme.typography.titleMedium)
            v.summary.receipt?.let { Text(stringResource(R.string.receipt, it)) }
            // The deadline line as the core words it (working days, overdue, provisional calendar).
            v.deadlineText?.let { if (v.overdue) ErrorText(lang.pick(it)) else Text(lang.pick(it)) }
            if (v.neededNow.isNotEmpty()) SectionTitle(stringResource(R.string.needed_now))
        }
        items(v.neededNow) { n ->
            Text(lang.pick(n.text) + (n.due?.let { " · $it" } ?: ""), Modifier.padding(vertical = 4.dp))
        }
        item { SectionTitle(stringResource(R.string.timeline)) }
        items(v.timeline) { t ->
            Column(Modifier.padding(vertical = 4.dp)) {
                Text("${formatTime(t.at)} · ${lang.pick(t.stateText)}", style = MaterialTheme.typography.labelMedium)
                lang.pick(t.note).takeIf { it.isNotBlank() }?.let { Text(it) }
            }
        }
    }
}
