package org.zhangban.app.ui

import android.net.Uri
import android.provider.OpenableColumns
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.app.R
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Json
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.displayValue
import org.zhangban.kit.help
import org.zhangban.kit.label
import org.zhangban.kit.message
import org.zhangban.kit.name
import org.zhangban.kit.statusText
import org.zhangban.kit.text
import uniffi.zhangban_ffi.FieldInfo
import uniffi.zhangban_ffi.FormIssue
import uniffi.zhangban_ffi.MaterialInfo
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.selfSubject

/**
 * A draft's form: one input per visible field, each edit saved by the core at once; the problems the core
 * reports under their fields; materials to attach, commit to or defer; submit when the core says complete.
 */
@Composable
fun FormScreen(z: Zhangban, form: DraftForm, lang: Lang, onClose: () -> Unit, onSubmitted: () -> Unit) {
    val state by form.state.collectAsStateWithLifecycle()
    var error by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    var attachFor by remember { mutableStateOf<String?>(null) }
    val picker = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        val code = attachFor ?: return@rememberLauncherForActivityResult
        if (uri == null) return@rememberLauncherForActivityResult
        scope.launch {
            error = try {
                val (name, bytes) = withContext(Dispatchers.IO) {
                    val name = context.contentResolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)
                        ?.use { c -> if (c.moveToFirst()) c.getString(0) else null } ?: "material"
                    name to (context.contentResolver.openInputStream(uri)?.use { it.readBytes() } ?: ByteArray(0))
                }
                form.attach(code, name, bytes, selfSubject())
                null
            } catch (e: ZhangbanException) {
                e.text(lang)
            }
        }
    }
    fun edit(block: suspend () -> Unit) {
        scope.launch {
            error = try {
                block()
                null
            } catch (e: ZhangbanException) {
                e.text(lang) // Validation names the field; the draft is unchanged
            }
        }
    }

    LazyColumn(Modifier.padding(16.dp)) {
        item {
            TextButton(onClick = onClose) { Text(stringResource(R.string.back)) }
            Text(
                stringResource(R.string.filled, state.summary.fieldsFilled.toInt(), state.summary.fieldsTotal.toInt()),
                style = MaterialTheme.typography.labelLarge,
            )
        }
        items(state.fields, key = { it.path }) { f ->
            FieldRow(f, state.issuesFor(f.path), lang, readOnly = state.submittedCaseId != null) { v ->
                edit { form.set(f.path, v) }
            }
            if (f.kind == "repeat") {
                OutlinedButton(onClick = { edit { form.addInstance(f.path) } }) { Text(stringResource(R.string.add_entry)) }
            }
            if (f.confirm) {
                OutlinedButton(onClick = { edit { form.confirm(f.path) } }) { Text("✓") }
            }
        }
        items(state.materials, key = { "material:" + it.code }) { m ->
            MaterialRow(
                m,
                state.issuesFor("material:" + m.code),
                lang,
                onAttach = { attachFor = m.code; picker.launch("*/*") },
                onCommit = { edit { form.commit(m.code) } },
                onDefer = { edit { form.defer(m.code) } },
            )
        }
        item {
            ErrorText(error)
            val submitted = state.submittedCaseId
            if (submitted != null) {
                Text(stringResource(R.string.submitted, submitted))
            } else {
                Button(
                    enabled = state.complete,
                    onClick = {
                        edit {
                            z.submit(form)
                            onSubmitted()
                        }
                    },
                    modifier = Modifier.padding(top = 16.dp),
                ) { Text(stringResource(R.string.submit)) }
            }
        }
    }
}

@Composable
private fun FieldRow(f: FieldInfo, issues: List<FormIssue>, lang: Lang, readOnly: Boolean, onChange: (Any?) -> Unit) {
    val locked = readOnly || f.locked || f.computed
    val problem = issues.firstOrNull()?.message(lang)
    Column(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        when (f.kind) {
            "bool" -> Row {
                Text(f.label(lang), Modifier.weight(1f))
                Switch(checked = f.valueJson == "true", onCheckedChange = { onChange(it) }, enabled = !locked)
            }
            "choice" -> {
                Text(f.label(lang))
                Row {
                    for (o in f.options) {
                        FilterChip(
                            selected = f.displayValue == o,
                            onClick = { onChange(o) },
                            label = { Text(o) },
                            enabled = !locked,
                            modifier = Modifier.padding(end = 8.dp),
                        )
                    }
                }
            }
            "multi_choice" -> {
                val chosen = (runCatching { Json.decode(f.valueJson) }.getOrNull() as? List<*>).orEmpty()
                Text(f.label(lang))
                Row {
                    for (o in f.options) {
                        FilterChip(
                            selected = o in chosen,
                            onClick = { onChange(if (o in chosen) chosen - o else chosen + o) },
                            label = { Text(o) },
                            enabled = !locked,
                            modifier = Modifier.padding(end = 8.dp),
                        )
                    }
                }
            }
            "repeat", "attachment" -> Text(f.label(lang), style = MaterialTheme.typography.titleSmall)
            else -> {
                // Every keystroke is sent (the core autosaves it); the text box keeps what was typed.
                var text by remember(f.path) { mutableStateOf(f.displayValue) }
                OutlinedTextField(
                    value = text,
                    onValueChange = {
                        text = it
                        onChange(it)
                    },
                    label = { Text(f.label(lang)) },
                    readOnly = locked,
                    isError = issues.any { it.blocking } && text.isNotEmpty(),
                    supportingText = {
                        // FFI gap: field help comes in Chinese only.
                        Text(if (text.isNotEmpty()) problem.orEmpty() else f.help(lang).orEmpty())
                    },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
        }
        if (f.kind in setOf("bool", "choice", "multi_choice") && problem != null) ErrorText(problem)
    }
}

@Composable
private fun MaterialRow(
    m: MaterialInfo,
    issues: List<FormIssue>,
    lang: Lang,
    onAttach: () -> Unit,
    onCommit: () -> Unit,
    onDefer: () -> Unit,
) {
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
        Text(m.name(lang), style = MaterialTheme.typography.bodyLarge)
        Text(m.statusText(lang), style = MaterialTheme.typography.bodySmall)
        issues.firstOrNull()?.let { ErrorText(it.message(lang)) }
        if (m.blocks || m.status in setOf("deferrable", "commitment", "optional")) {
            Row {
                OutlinedButton(onClick = onAttach, modifier = Modifier.padding(end = 8.dp)) {
                    Text(stringResource(R.string.attach))
                }
                if (m.status == "commitment") {
                    OutlinedButton(onClick = onCommit, modifier = Modifier.padding(end = 8.dp)) {
                        Text(stringResource(R.string.commit))
                    }
                }
                if (m.status == "deferrable") {
                    OutlinedButton(onClick = onDefer) { Text(stringResource(R.string.defer)) }
                }
            }
        }
    }
}
