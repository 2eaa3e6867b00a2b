package org.zhangban.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
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
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.zhangban.app.R
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.text
import uniffi.zhangban_catalog.Hit
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_forms.Checklist

/** 办事: search the catalog offline, read the one-time checklist (一次性告知), start and fill the form. */
@Composable
fun ServicesScreen(z: Zhangban, lang: Lang, onSubmitted: () -> Unit) {
    var query by remember { mutableStateOf("") }
    var hits by remember { mutableStateOf<List<Hit>>(emptyList()) }
    var checklist by remember { mutableStateOf<Checklist?>(null) }
    var form by remember { mutableStateOf<DraftForm?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()

    LaunchedEffect(query) {
        delay(200) // typing: search when it pauses
        hits = try {
            z.search(query)
        } catch (e: ZhangbanException) {
            error = e.text(lang)
            emptyList()
        }
    }

    form?.let { f ->
        FormScreen(z, f, lang, onClose = { form = null; f.close() }, onSubmitted = onSubmitted)
        return
    }
    checklist?.let { c ->
        Column(Modifier.padding(16.dp)) {
            TextButton(onClick = { checklist = null }) { Text(stringResource(R.string.back)) }
            Text(lang.pick(c.name), style = MaterialTheme.typography.titleLarge)
            Text(stringResource(R.string.fees_and_days, c.fees.toString(), c.promisedDays.toInt()))
            SectionTitle(stringResource(R.string.checklist_title))
            LazyColumn(Modifier.weight(1f, fill = false)) {
                items(c.entries, key = { it.key }) { line ->
                    Column(Modifier.padding(vertical = 4.dp)) {
                        Text(lang.pick(line.title), style = MaterialTheme.typography.bodyLarge)
                        if (lang.pick(line.why).isNotBlank()) Text(lang.pick(line.why), style = MaterialTheme.typography.bodySmall)
                    }
                }
            }
            ErrorText(error)
            Button(onClick = {
                scope.launch {
                    try {
                        form = z.startDraft(c.code)
                    } catch (e: ZhangbanException) {
                        error = e.text(lang)
                    }
                }
            }) { Text(stringResource(R.string.start_application)) }
        }
        return
    }
    Column(Modifier.padding(16.dp)) {
        OutlinedTextField(
            value = query,
            onValueChange = { query = it },
            label = { Text(stringResource(R.string.search_hint)) },
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        ErrorText(error)
        LazyColumn {
            items(hits, key = { it.code }) { hit ->
                Text(
                    lang.pick(hit.name),
                    style = MaterialTheme.typography.bodyLarge,
                    modifier = Modifier.fillMaxWidth().clickable {
                        scope.launch {
                            try {
                                checklist = z.checklist(hit.code)
                            } catch (e: ZhangbanException) {
                                error = e.text(lang)
                            }
                        }
                    }.padding(vertical = 12.dp),
                )
            }
        }
    }
}
