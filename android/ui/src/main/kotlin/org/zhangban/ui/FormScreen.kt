package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.Lock
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.Icon
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
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Json
import org.zhangban.kit.Zhangban
import org.zhangban.kit.displayValue
import org.zhangban.kit.help
import org.zhangban.kit.label
import org.zhangban.kit.message
import org.zhangban.kit.name
import org.zhangban.kit.statusText
import uniffi.zhangban_ffi.FieldInfo
import uniffi.zhangban_ffi.FormIssue
import uniffi.zhangban_ffi.MaterialInfo
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.selfSubject

/**
 * A draft's form: one input per visible field, each keystroke one call to the core (which saves it at once);
 * the problems the core reports under their fields; fields filled from an e-licence visibly locked;
 * materials to attach, commit to or defer; submit when the core says complete.
 */
@Composable
fun FormScreen(z: Zhangban, form: DraftForm, onClose: () -> Unit, onSubmitted: () -> Unit) {
    val c = chrome()
    val state by form.state.collectAsStateWithLifecycle()
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    var attachFor by remember { mutableStateOf<String?>(null) }
    val pick = LocalHost.current.rememberFilePicker { file ->
        val code = attachFor
        if (file != null && code != null) {
            scope.launch { error = attempt { form.attach(code, file.name, file.read(), selfSubject()) } }
        }
    }
    fun edit(block: suspend () -> Unit) {
        scope.launch { error = attempt(block) } // Validation names the field; the draft is unchanged
    }
    val readOnly = state.submittedCaseId != null

    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            TextButton(onClick = onClose) { Text(c.back) }
            Text(
                c.filled(state.summary.fieldsFilled.toInt(), state.summary.fieldsTotal.toInt()),
                style = MaterialTheme.typography.labelLarge,
            )
        }
        items(state.fields, key = { it.path }) { f ->
            FieldRow(f, state.issuesFor(f.path), readOnly) { v -> edit { form.set(f.path, v) } }
            if (f.kind == "repeat" && !readOnly) {
                OutlinedButton(onClick = { edit { form.addInstance(f.path) } }) { Text(c.addEntry) }
            }
            if (f.confirm && !readOnly) {
                val what = c.confirmValue(f.label(c.lang))
                OutlinedButton(
                    onClick = { edit { form.confirm(f.path) } },
                    modifier = Modifier.semantics { contentDescription = what },
                ) { Text(c.confirm) }
            }
        }
        items(state.materials, key = { "material:" + it.code }) { m ->
            MaterialRow(
                m,
                state.issuesFor("material:" + m.code),
                readOnly,
                onAttach = { attachFor = m.code; pick() },
                onCommit = { edit { form.commit(m.code) } },
                onDefer = { edit { form.defer(m.code) } },
            )
        }
        item {
            ErrorText(error)
            val submitted = state.submittedCaseId
            if (submitted != null) {
                Text(c.submitted(submitted), Modifier.changesByItself())
            } else {
                if (!state.complete) Text(c.submitHint, style = MaterialTheme.typography.bodySmall)
                Button(
                    enabled = state.complete,
                    onClick = {
                        edit {
                            z.submit(form)
                            onSubmitted()
                        }
                    },
                    modifier = Modifier.padding(vertical = 16.dp),
                ) { Text(c.submit) }
            }
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun FieldRow(f: FieldInfo, issues: List<FormIssue>, readOnly: Boolean, onChange: (Any?) -> Unit) {
    val c = chrome()
    val lang = c.lang
    val locked = readOnly || f.locked || f.computed
    val problem = issues.firstOrNull()?.message(lang)
    val origin = when {
        f.locked && f.source == "licence" -> c.fromLicence
        f.computed -> c.computed
        f.source == "profile" -> c.fromProfile
        else -> null
    }
    Column(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        when (f.kind) {
            "bool" -> Row(verticalAlignment = Alignment.CenterVertically) {
                Text(f.label(lang), Modifier.weight(1f))
                Switch(checked = f.valueJson == "true", onCheckedChange = { onChange(it) }, enabled = !locked)
            }
            "choice", "multi_choice" -> {
                val multi = f.kind == "multi_choice"
                val chosen = if (multi) {
                    (runCatching { Json.decode(f.valueJson) }.getOrNull() as? List<*>).orEmpty()
                } else {
                    listOf(f.displayValue)
                }
                Text(f.label(lang))
                // Wraps: at a large font the options do not fit one line.
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    for (o in f.options) {
                        FilterChip(
                            selected = o in chosen,
                            onClick = { onChange(if (!multi) o else if (o in chosen) chosen - o else chosen + o) },
                            label = { Text(o) },
                            enabled = !locked,
                        )
                    }
                }
            }
            "repeat", "attachment" -> Text(f.label(lang), style = MaterialTheme.typography.titleSmall)
            else -> {
                // Every keystroke is one call (the core autosaves it); the text box keeps what was typed.
                var text by remember(f.path) { mutableStateOf(f.displayValue) }
                val shown = if (locked) f.displayValue else text
                OutlinedTextField(
                    value = shown,
                    onValueChange = {
                        text = it
                        onChange(it)
                    },
                    label = { Text(f.label(lang)) },
                    readOnly = locked,
                    leadingIcon = if (f.locked && !readOnly) {
                        { Icon(Icons.Filled.Lock, contentDescription = c.fromLicence) }
                    } else {
                        null
                    },
                    isError = problem != null && shown.isNotEmpty(),
                    supportingText = {
                        Text(
                            when {
                                problem != null && shown.isNotEmpty() -> problem
                                origin != null -> origin
                                else -> f.help(lang).orEmpty()
                            },
                        )
                    },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
        }
        if (f.kind in setOf("bool", "choice", "multi_choice") && problem != null) ErrorText(problem)
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun MaterialRow(
    m: MaterialInfo,
    issues: List<FormIssue>,
    readOnly: Boolean,
    onAttach: () -> Unit,
    onCommit: () -> Unit,
    onDefer: () -> Unit,
) {
    val c = chrome()
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
        Text(m.name(c.lang), style = MaterialTheme.typography.bodyLarge)
        Text(m.statusText(c.lang), style = MaterialTheme.typography.bodySmall)
        issues.firstOrNull()?.let { ErrorText(it.message(c.lang)) }
        if (!readOnly && (m.blocks || m.status in setOf("deferrable", "commitment", "optional"))) {
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedButton(onClick = onAttach) { Text(c.attach) }
                if (m.status == "commitment") OutlinedButton(onClick = onCommit) { Text(c.commit) }
                if (m.status == "deferrable") OutlinedButton(onClick = onDefer) { Text(c.defer) }
            }
        }
    }
}
