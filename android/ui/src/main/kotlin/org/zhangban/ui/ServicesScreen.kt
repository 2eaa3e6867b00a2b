package org.zhangban.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Zhangban
import uniffi.zhangban_catalog.Browse
import uniffi.zhangban_catalog.Hit
import uniffi.zhangban_forms.Checklist
import uniffi.zhangban_ffi.ZhangbanException

/**
 * 办事: unfinished drafts to resume, the catalog searched offline, the one-time checklist (一次性告知), then
 * the form. What is open (the checklist's code, the draft's id) survives a rotation; the draft is resumed.
 */
@Composable
fun ServicesScreen(z: Zhangban, onSubmitted: () -> Unit) {
    var checklistCode by rememberSaveable { mutableStateOf<String?>(null) }
    var draftId by rememberSaveable { mutableStateOf<String?>(null) }

    draftId?.let { id ->
        // Submitted: the form is closed (FormHost leaves) and the cases tab shows the new case.
        FormHost(z, id, onClose = { draftId = null }, onSubmitted = { draftId = null; onSubmitted() })
        return
    }
    checklistCode?.let { code ->
        ChecklistScreen(z, code, onBack = { checklistCode = null }, onStarted = { id ->
            checklistCode = null
            draftId = id
        })
        return
    }
    SearchScreen(z, onOpen = { checklistCode = it }, onResume = { draftId = it })
}

/** The search box, the hits, and the unfinished drafts while the box is empty. */
@Composable
fun SearchScreen(z: Zhangban, onOpen: (String) -> Unit, onResume: (String) -> Unit) {
    val c = chrome()
    val lang = c.lang
    var query by rememberSaveable { mutableStateOf("") }
    var hits by remember { mutableStateOf<List<Hit>?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    LaunchedEffect(query) {
        if (query.isNotBlank()) delay(200) // typing: search when it pauses
        error = attempt { hits = if (query.isBlank()) null else z.search(query) }
    }
    // Browsing while the box is empty: the unfinished drafts, then the bundles (一件事一次办), then the items by
    // department. Both answers are shown together: the drafts are laid out above the catalogue, and drafts
    // arriving after it pushed every row down under the finger (or a test's click).
    val start by produceState<Pair<Browse?, List<Pair<String, String>>>?>(null, lang) {
        val browse = try { z.browse() } catch (e: ZhangbanException) { null }
        // (draft id, the service's name): a draft names its target by code only
        val drafts = try {
            z.drafts().filter { !it.submitted }.map { d -> d.id to lang.pick(z.checklist(d.target).name) }
        } catch (e: ZhangbanException) {
            emptyList()
        }
        value = browse to drafts
    }

    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(
            value = query,
            onValueChange = { query = it },
            label = { Text(c.searchHint) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        ErrorText(error)
        // Read here, in the composable, not only inside the LazyColumn's builder (see CaseDetail).
        val h = hits
        val open = start?.second.orEmpty()
        val all = start?.first
        LazyColumn {
            if (h == null && open.isNotEmpty()) {
                item { SectionTitle(c.drafts) }
                items(open, key = { "draft:" + it.first }) { (id, name) ->
                    Column(Modifier.fillMaxWidth().clickable(onClickLabel = c.resume) { onResume(id) }.padding(vertical = 12.dp)) {
                        Text(name, style = MaterialTheme.typography.bodyLarge)
                        Text(c.resume, style = MaterialTheme.typography.bodySmall, color = MaterialTheme.colorScheme.primary)
                    }
                }
            }
            if (h == null && all != null) {
                if (all.bundles.isNotEmpty()) item { SectionTitle(c.bundles) }
                items(all.bundles, key = { "bundle:" + it.code }) { b -> HitRow(lang.pick(b.name)) { onOpen(b.code) } }
                item { SectionTitle(c.byDepartment) }
                for (d in all.departments) {
                    item(key = "dept:" + d.name.zh) {
                        Text(lang.pick(d.name), style = MaterialTheme.typography.titleSmall, color = MaterialTheme.colorScheme.primary, modifier = Modifier.padding(top = 12.dp))
                    }
                    items(d.items, key = { "dept-item:" + it.code }) { i -> HitRow(lang.pick(i.name)) { onOpen(i.code) } }
                }
            }
            if (h != null && h.isEmpty()) item { Text(c.noHits, Modifier.padding(vertical = 12.dp)) }
            items(h.orEmpty(), key = { it.code }) { hit ->
                Text(
                    lang.pick(hit.name),
                    style = MaterialTheme.typography.bodyLarge,
                    modifier = Modifier.fillMaxWidth().clickable { onOpen(hit.code) }.padding(vertical = 12.dp),
                )
                HorizontalDivider()
            }
        }
    }
}

@Composable
private fun HitRow(name: String, onClick: () -> Unit) {
    Text(name, style = MaterialTheme.typography.bodyLarge, modifier = Modifier.fillMaxWidth().clickable(onClick = onClick).padding(vertical = 10.dp))
    HorizontalDivider()
}

/** 一次性告知: everything the service needs, and why, before any draft exists. */
@Composable
fun ChecklistScreen(z: Zhangban, code: String, onBack: () -> Unit, onStarted: (String) -> Unit) {
    val c = chrome()
    val lang = c.lang
    var checklist by remember { mutableStateOf<Checklist?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(code) { error = attempt { checklist = z.checklist(code) } }

    // A short list: a plain scrolling column (every line composed at once).
    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onBack) { Text(c.back) }
        val info = checklist
        if (info != null) {
            Text(lang.pick(info.name), style = MaterialTheme.typography.titleLarge)
            Text(lang.pick(info.terms)) // the fee and the promised time, worded by the core
            SectionTitle(c.checklistTitle)
            for (line in info.entries) {
                Column(Modifier.padding(vertical = 4.dp)) {
                    Text(lang.pick(line.title), style = MaterialTheme.typography.bodyLarge)
                    val why = lang.pick(line.why)
                    if (why.isNotBlank()) Text(why, style = MaterialTheme.typography.bodySmall)
                }
            }
        }
        ErrorText(error)
        if (info != null) {
            Button(onClick = {
                scope.launch {
                    error = attempt {
                        // The form screen resumes the draft by id (also after a rotation).
                        z.startDraft(info.code).use { onStarted(it.id) }
                    }
                }
            }) { Text(c.startApplication) }
        }
    }
}

/**
 * Owns the open draft while its form is on screen: resumed by id, closed when the screen leaves (back, another
 * tab, submitted). Closing waits for an edit in flight (see [DraftForm.close]).
 */
@Composable
fun FormHost(z: Zhangban, draftId: String, onClose: () -> Unit, onSubmitted: () -> Unit) {
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val form by produceState<DraftForm?>(null, draftId) {
        // Opened and closed by this one coroutine: closed when the screen leaves (back, another tab,
        // submitted), also when it leaves before it ever drew the form (a DisposableEffect registered on the
        // next composition missed that: the draft stayed open). Closing waits for an edit in flight.
        val opened = try {
            z.resumeDraft(draftId)
        } catch (e: ZhangbanException) {
            error = e
            null
        }
        value = opened
        awaitDispose { opened?.close() }
    }
    val f = form
    if (f == null) {
        // Nothing to press until the draft is open (its screen lays out its own back button); a refusal offers one.
        if (error != null) {
            Column(Modifier.padding(16.dp)) {
                TextButton(onClick = onClose) { Text(chrome().back) }
                ErrorText(error)
            }
        }
        return
    }
    FormScreen(z, f, onClose = onClose, onSubmitted = onSubmitted)
}
