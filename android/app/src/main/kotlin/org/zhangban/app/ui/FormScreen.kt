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
import org.zhangban.kit.issuesFor
import org.zhangban.kit.text
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.selfSubject
import uniffi.zhangban_forms.FieldState
import uniffi.zhangban_forms.FieldType
import uniffi.zhangban_forms.Issue
import uniffi.zhangban_forms.MaterialAction
import uniffi.zhangban_forms.MaterialState
import uniffi.zhangban_forms.Severity

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
            FieldRow(f, lang) { v -> edit { form.set(f.path, v) } }
            if (f.kind == FieldType.REPEAT && state.submittedCase == null) {
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
                onClear = { edit { form.clearMaterial(m.code) } },
            )
        }
        item {
            ErrorText(error)
            val submitted = state.submittedCase
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
private fun FieldRow(f: FieldState, lang: Lang, onChange: (Any?) -> Unit) {
    // Whether it can be changed, and why not, is the core's (a licence, computed, submitted).
    val locked = !f.editable
    val problem = f.issues.firstOrNull()?.let { lang.pick(it.message) }
    val label = lang.pick(f.label)
    Column(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        when (f.kind) {
            FieldType.BOOL -> Row {
                Text(label, Modifier.weight(1f))
                Switch(checked = f.value == "true", onCheckedChange = { onChange(it) }, enabled = !locked)
            }
            FieldType.CHOICE -> {
                Text(label)
                Row {
                    for (o in f.options) {
                        FilterChip(
                            selected = f.value == Json.encode(o.value),
                            onClick = { onChange(o.value) },
                            label = { Text(lang.pick(o.label)) },
                            enabled = !locked,
                            modifier = Modifier.padding(end = 8.dp),
                        )
                    }
                }
            }
            FieldType.MULTI_CHOICE -> {
                val chosen = (runCatching { Json.decode(f.value) }.getOrNull() as? List<*>).orEmpty()
                Text(label)
                Row {
                    for (o in f.options) {
                        FilterChip(
                            selected = o.value in chosen,
                            onClick = { onChange(if (o.value in chosen) chosen - o.value else chosen + o.value) },
                            label = { Text(lang.pick(o.label)) },
                            enabled = !locked,
                            modifier = Modifier.padding(end = 8.dp),
                        )
                    }
                }
            }
            FieldType.REPEAT, FieldType.ATTACHMENT -> Text(label, style = MaterialTheme.typography.titleSmall)
            else -> {
                // Every keystroke is sent (the core autosaves it); the text box keeps what was typed.
                var text by remember(f.path) { mutableStateOf(lang.pick(f.display)) }
                OutlinedTextField(
                    value = text,
                    onValueChange = {
                        text = it
                        onChange(it)
                    },
                    label = { Text(label) },
                    readOnly = locked,
                    isError = f.issues.any { it.severity == Severity.ERROR } && text.isNotEmpty(),
                    supportingText = {
                        val why = f.lockReason?.let { lang.pick(it) }
                        val help = f.help?.let { lang.pick(it) }
                        Text(why ?: (if (text.isNotEmpty()) problem else help) ?: f.sourceText?.let { lang.pick(it) }.orEmpty())
                    },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
        }
        if (f.kind in setOf(FieldType.BOOL, FieldType.CHOICE, FieldType.MULTI_CHOICE)) {
            f.lockReason?.let { Text(lang.pick(it), style = MaterialTheme.typography.bodySmall) }
            if (problem != null) ErrorText(problem)
        }
    }
}

@Composable
private fun MaterialRow(
    m: MaterialState,
    issues: List<Issue>,
    lang: Lang,
    onAttach: () -> Unit,
    onCommit: () -> Unit,
    onDefer: () -> Unit,
    onClear: () -> Unit,
) {
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
        Text(lang.pick(m.name), style = MaterialTheme.typography.bodyLarge)
        Text(lang.pick(m.statusText), style = MaterialTheme.typography.bodySmall)
        issues.firstOrNull()?.let { ErrorText(lang.pick(it.message)) }
        // The actions allowed are the core's.
        Row {
            for (action in m.actions) {
                val (label, onClick) = when (action) {
                    MaterialAction.ATTACH -> R.string.attach to onAttach
                    MaterialAction.COMMIT -> R.string.commit to onCommit
                    MaterialAction.DEFER -> R.string.defer to onDefer
                    MaterialAction.CLEAR -> R.string.clear to onClear
                }
                OutlinedButton(onClick = onClick, modifier = Modifier.padding(end = 8.dp)) {
                    Text(stringResource(label))
                }
            }
        }
    }
}
