package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.AgentMode
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import java.io.Serializable
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_wallet.CacheInfo

/** What the person chose in 设置 (kept across a rotation; `lang` null: the device's language). */
data class Prefs(val lang: Lang? = null, val largeText: Boolean = false) : Serializable

/** 设置: the PIN (set or change, the core counts attempts), large text, language, and 备份与换机 ([BackupScreen]). */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun SettingsScreen(z: Zhangban, prefs: Prefs, onPrefs: (Prefs) -> Unit) {
    var backupOpen by rememberSaveable { mutableStateOf(false) }
    if (backupOpen) {
        BackupScreen(z, onBack = { backupOpen = false })
        return
    }
    // 帮办代办: this phone's owner as a principal (who may act for me), or as an agent.
    var agentMode by rememberSaveable { mutableStateOf<String?>(null) }
    when (agentMode) {
        "principal" -> {
            val principal = remember { PrincipalMode(z.store) }
            DisposableEffect(principal) { onDispose { principal.close() } }
            PrincipalRoot(principal, onClose = { agentMode = null })
            return
        }
        "agent" -> {
            val agent = remember { AgentMode(z.store, z.platformUrl) }
            DisposableEffect(agent) { onDispose { agent.close() } }
            AgentRoot(z, agent, onClose = { agentMode = null })
            return
        }
    }
    val c = chrome()
    var hasPin by remember { mutableStateOf<Boolean?>(null) }
    var old by remember { mutableStateOf("") }
    var new by remember { mutableStateOf("") }
    var again by remember { mutableStateOf("") }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var done by remember { mutableStateOf(false) }
    val scope = rememberCoroutineScope()
    var answered by remember { mutableStateOf(false) }
    LaunchedEffect(Unit) {
        error = attempt { hasPin = withContext(Dispatchers.IO) { z.store.hasPin() } }
        answered = true // the PIN section, or (refused) its error: the rest is laid out after it, in place
    }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        SectionTitle(c.pinTitle)
        // Nothing below the title is laid out until the store answered: the PIN section arrives above every
        // other action here, and a button placed before it would move under the finger (or a test's click).
        if (!answered) {
            ErrorText(error)
            return@Column
        }
        val has = hasPin
        if (has != null) {
            Text(if (has) c.pinIsSet else c.pinNotSet, style = MaterialTheme.typography.bodyMedium)
            if (has) PinField(old, c.pinOld) { old = it; done = false }
            PinField(new, c.pinNew) { new = it; done = false }
            PinField(again, c.pinAgain) { again = it; done = false }
            val mismatch = again.isNotEmpty() && again != new
            if (mismatch) ErrorText(c.pinMismatch)
            ErrorText(error)
            if (done) Text(c.pinSaved, color = MaterialTheme.colorScheme.primary)
            Button(
                enabled = new.isNotEmpty() && again == new && (!has || old.isNotEmpty()),
                onClick = {
                    scope.launch {
                        error = attempt {
                            // PBKDF2 on purpose (about half a second): off the main thread
                            withContext(Dispatchers.IO) { z.store.changePin(if (has) old else null, new) }
                            hasPin = true
                            done = true
                            old = ""
                            new = ""
                            again = ""
                        }
                    }
                },
                modifier = Modifier.padding(top = 8.dp),
            ) { Text(if (has) c.pinChange else c.pinSet) }
        }

        SectionTitle(c.display)
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(c.largeText, Modifier.weight(1f))
            Switch(checked = prefs.largeText, onCheckedChange = { onPrefs(prefs.copy(largeText = it)) })
        }
        Text(c.language)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            for ((choice, label) in listOf(null to c.langSystem, Lang.ZH to "中文", Lang.EN to "English")) {
                FilterChip(selected = prefs.lang == choice, onClick = { onPrefs(prefs.copy(lang = choice)) }, label = { Text(label) })
            }
        }

        OutlinedButton(onClick = { backupOpen = true }, modifier = Modifier.padding(top = 16.dp)) { Text(c.backupOpen) }

        SectionTitle(c.agentModeTitle)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(onClick = { agentMode = "principal" }) { Text(c.openMyDelegations) }
            OutlinedButton(onClick = { agentMode = "agent" }) { Text(c.openAgentMode) }
        }

        // About: how fresh the lists are that 亮证 and 核验 rely on offline.
        SectionTitle(c.about)
        Text(c.aboutApp, style = MaterialTheme.typography.bodyMedium)
        val lists by produceState<CacheInfo?>(null) {
            value = try {
                withContext(Dispatchers.IO) { z.wallet.cacheInfo() }
            } catch (e: ZhangbanException) {
                null
            }
        }
        lists?.let { Text(c.trustListAge(it.trustAgeSecs), style = MaterialTheme.typography.bodyMedium) }
    }
}

@Composable
internal fun PinField(value: String, label: String, onChange: (String) -> Unit) {
    OutlinedTextField(
        value = value,
        onValueChange = { v -> onChange(v.filter { it.isDigit() }.take(12)) },
        label = { Text(label) },
        singleLine = true,
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
        modifier = Modifier.fillMaxWidth(),
    )
}
