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
import org.zhangban.kit.issuesFor
import uniffi.zhangban_catalog.FieldType
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_forms.FieldState
import uniffi.zhangban_forms.Issue
import uniffi.zhangban_forms.MaterialAction
import uniffi.zhangban_forms.MaterialState
import uniffi.zhangban_forms.ValueSource

/**
 * A draft's form: one input per visible field, each keystroke one call to the core (which saves it at once);
 * the problems the core reports under their fields; fields filled from an e-licence visibly locked;
 * materials to attach, commit to or defer; submit when the core says complete.
 *
 * Agent mode (帮办代办) reuses it for a principal's draft: [header] shows whose data it is, [attach] writes a
 * photo under the principal's key, and the final button ([submitLabel], [submit]) goes to the principal's
 * confirmation instead of submitting.
 */
@Composable
fun FormScreen(
    z: Zhangban,
    form: DraftForm,
    onClose: () -> Unit,
    onSubmitted: () -> Unit,
    header: @Composable () -> Unit = {},
    attach: (suspend (code: String, file: PickedFile) -> Unit)? = null,
    submitLabel: String? = null,
    submit: (suspend () -> Unit)? = null,
) {
    val c = chrome()
    val shownState by form.state.collectAsStateWithLifecycle()
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    var attachFor by remember { mutableStateOf<String?>(null) }
    val pick = LocalHost.current.rememberFilePicker { file ->
        val code = attachFor
        if (file != null && code != null) {
            scope.launch {
                error = attempt {
                    if (attach != null) attach(code, file) else form.attach(code, file.name, file.read(), selfSubject())
                }
            }
        }
    }
    fun edit(block: suspend () -> Unit) {
        scope.launch { error = attempt(block) } // Validation names the field; the draft is unchanged
    }
    // Read here, in the composable, not only inside the LazyColumn's builder (see CaseDetail).
    val state = shownState
    val readOnly = state.submittedCase != null

    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            header()
            TextButton(onClick = onClose) { Text(c.back) }
            Text(
                c.lang.pick(state.summary.filledText), // worded by the core
                style = MaterialTheme.typography.labelLarge,
            )
        }
        items(state.fields, key = { it.path }) { f ->
            FieldRow(f) { v -> edit { form.set(f.path, v) } }
            if (f.kind == FieldType.REPEAT && !readOnly) {
                OutlinedButton(onClick = { edit { form.addInstance(f.path) } }) { Text(c.addEntry) }
            }
            if (f.confirm && !readOnly) {
                val what = c.confirmValue(c.lang.pick(f.label))
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
                onAttach = { attachFor = m.code; pick() },
                onCommit = { edit { form.commit(m.code) } },
                onDefer = { edit { form.defer(m.code) } },
                onClear = { edit { form.clearMaterial(m.code) } },
            )
        }
        item {
            ErrorText(error)
            val submitted = state.submittedCase
            if (submitted != null) {
                Text(c.submitted(submitted), Modifier.changesByItself())
            } else {
                if (!state.complete) Text(c.submitHint, style = MaterialTheme.typography.bodySmall)
                Button(
                    enabled = state.complete,
                    onClick = {
                        edit {
                            if (submit != null) submit() else z.submit(form)
                            onSubmitted()
                        }
                    },
                    modifier = Modifier.padding(vertical = 16.dp),
                ) { Text(submitLabel ?: c.submit) }
            }
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun FieldRow(f: FieldState, onChange: (Any?) -> Unit) {
    val c = chrome()
    val lang = c.lang
    // Whether it can be changed, and why not, is the core's (from a licence, computed, submitted).
    val locked = !f.editable
    val problem = f.issues.firstOrNull()?.let { lang.pick(it.message) }
    val label = lang.pick(f.label)
    val display = lang.pick(f.display)
    // Why it is locked, or where a value the person did not type came from, as the core words them.
    val origin = (f.lockReason ?: f.sourceText?.takeIf { f.source != ValueSource.FORM })?.let { lang.pick(it) }
    Column(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
        when (f.kind) {
            FieldType.BOOL -> Row(verticalAlignment = Alignment.CenterVertically) {
                LockedLabel(label, locked, Modifier.weight(1f))
                Switch(checked = f.value == "true", onCheckedChange = { onChange(it) }, enabled = !locked)
            }
            FieldType.CHOICE, FieldType.MULTI_CHOICE -> {
                val multi = f.kind == FieldType.MULTI_CHOICE
                val value = runCatching { Json.decode(f.value) }.getOrNull()
                val chosen = if (multi) (value as? List<*>).orEmpty() else listOfNotNull(value)
                LockedLabel(label, locked)
                // Wraps: at a large font the options do not fit one line.
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    for (o in f.options) {
                        val on = o.value in chosen
                        FilterChip(
                            selected = on,
                            onClick = { onChange(if (!multi) o.value else if (on) chosen - o.value else chosen + o.value) },
                            label = { Text(lang.pick(o.label)) },
                            enabled = !locked,
                        )
                    }
                }
            }
            FieldType.REPEAT, FieldType.ATTACHMENT -> Text(label, style = MaterialTheme.typography.titleSmall)
            else -> {
                // Every keystroke is one call (the core autosaves it); the text box keeps what was typed.
                var text by remember(f.path) { mutableStateOf(display) }
                val shown = if (locked) display else text
                OutlinedTextField(
                    value = shown,
                    onValueChange = {
                        text = it
                        onChange(it)
                    },
                    label = { Text(label) },
                    readOnly = locked,
                    leadingIcon = if (f.source == ValueSource.LICENCE && locked) {
                        { Icon(Icons.Filled.Lock, contentDescription = origin) }
                    } else {
                        null
                    },
                    isError = problem != null && shown.isNotEmpty(),
                    supportingText = {
                        Text(
                            when {
                                problem != null && shown.isNotEmpty() -> problem
                                origin != null -> origin
                                else -> f.help?.let { lang.pick(it) }.orEmpty()
                            },
                        )
                    },
                    modifier = Modifier.fillMaxWidth(),
                )
            }
        }
        if (f.kind in setOf(FieldType.BOOL, FieldType.CHOICE, FieldType.MULTI_CHOICE)) {
            // A choice from an e-licence says so, as a text box does (greyed chips alone did not say why).
            if (problem != null) ErrorText(problem) else origin?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        }
    }
}

/** A field's label, with a lock in front when the person cannot change it. */
@Composable
private fun LockedLabel(label: String, locked: Boolean, modifier: Modifier = Modifier) {
    Row(modifier, verticalAlignment = Alignment.CenterVertically) {
        if (locked) Icon(Icons.Filled.Lock, contentDescription = null, modifier = Modifier.padding(end = 4.dp))
        Text(label)
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun MaterialRow(
    m: MaterialState,
    issues: List<Issue>,
    onAttach: () -> Unit,
    onCommit: () -> Unit,
    onDefer: () -> Unit,
    onClear: () -> Unit,
) {
    val c = chrome()
    Column(Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
        Text(c.lang.pick(m.name), style = MaterialTheme.typography.bodyLarge)
        Text(c.lang.pick(m.statusText), style = MaterialTheme.typography.bodySmall)
        issues.firstOrNull()?.let { ErrorText(c.lang.pick(it.message)) }
        // The actions allowed are the core's (none once submitted).
        if (m.actions.isNotEmpty()) {
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for (action in m.actions) {
                    when (action) {
                        MaterialAction.ATTACH -> OutlinedButton(onClick = onAttach) { Text(c.attach) }
                        MaterialAction.COMMIT -> OutlinedButton(onClick = onCommit) { Text(c.commit) }
                        MaterialAction.DEFER -> OutlinedButton(onClick = onDefer) { Text(c.defer) }
                        MaterialAction.CLEAR -> OutlinedButton(onClick = onClear) { Text(c.clearMaterial) }
                    }
                }
            }
        }
    }
}
