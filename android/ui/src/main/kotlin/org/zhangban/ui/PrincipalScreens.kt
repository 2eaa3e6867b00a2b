package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ButtonDefaults
import androidx.compose.material3.Card
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
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
import kotlinx.coroutines.launch
import org.zhangban.kit.PrincipalMode
import uniffi.zhangban_agent.Action
import uniffi.zhangban_agent.DelegationChoices
import uniffi.zhangban_agent.DelegationLine
import uniffi.zhangban_agent.DelegationPreview
import uniffi.zhangban_agent.DelegationRequest
import uniffi.zhangban_agent.GivenDelegation
import uniffi.zhangban_agent.LicenceShare
import uniffi.zhangban_agent.PrincipalHome
import uniffi.zhangban_agent.Scope
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.renderQr

/** The pages of the principal's side (saved across a rotation with the code scanned or shown). */
enum class PrincipalPage { Home, Delegate, Code }

/**
 * The principal's own phone (委托人, often elderly), or a family member's: who is authorised to act for
 * them and what each may do, revoking one, what agents did for them (from entries the platform signed), and
 * authorising an agent: scan the agent's code, choose the items, the actions and which elements of which
 * licences the agent may use, read the sentence the core words, sign, show the code to the agent. Big text,
 * plain words; every sentence about the delegation comes from the core (both shells say the same).
 */
@Composable
fun PrincipalRoot(principal: PrincipalMode, onClose: (() -> Unit)? = null) {
    var page by rememberSaveable { mutableStateOf(PrincipalPage.Home) }
    var agentQr by rememberSaveable { mutableStateOf<String?>(null) }
    var shown by rememberSaveable { mutableStateOf<String?>(null) }
    val home = { page = PrincipalPage.Home }
    when (page) {
        PrincipalPage.Home -> PrincipalHomeScreen(
            principal,
            onClose = onClose,
            onScanned = { agentQr = it; page = PrincipalPage.Delegate },
            onShowCode = { shown = it; page = PrincipalPage.Code },
        )
        PrincipalPage.Delegate -> DelegateScreen(principal, agentQr ?: "", onBack = home, onSigned = { shown = it.id; page = PrincipalPage.Code })
        PrincipalPage.Code -> DelegationCodeScreen(principal, shown ?: "", onDone = home)
    }
}

/** The principal's page: how many agents may act now, each delegation (revoke, show its code), what agents did. */
@Composable
fun PrincipalHomeScreen(principal: PrincipalMode, onScanned: (String) -> Unit, onShowCode: (String) -> Unit, onClose: (() -> Unit)? = null) {
    val c = chrome()
    val lang = c.lang
    var home by remember { mutableStateOf<PrincipalHome?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var reload by remember { mutableStateOf(0) }
    var confirming by rememberSaveable { mutableStateOf<String?>(null) }
    var pasting by rememberSaveable { mutableStateOf(false) }
    var pasted by rememberSaveable { mutableStateOf("") }
    val scope = rememberCoroutineScope()
    LaunchedEffect(reload) { error = attempt { home = principal.home() } }
    val scan = LocalHost.current.rememberCodeScanner { text -> if (!text.isNullOrBlank()) onScanned(text.trim()) }
    // Read here, in the composable body (a screen that reads its state only in a lazy builder never recomposed).
    val h = home
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        if (onClose != null) TextButton(onClick = onClose) { Text(c.back) }
        Text(c.myDelegations, style = MaterialTheme.typography.headlineMedium, modifier = Modifier.padding(top = 16.dp))
        // Nothing to press before the first answer: its summary arrives above the buttons (a refusal shows them).
        if (h == null && error == null) return@Column
        h?.let { Text(lang.pick(it.summary), style = MaterialTheme.typography.titleLarge, modifier = Modifier.padding(vertical = 8.dp)) }
        ErrorText(error)
        Button(onClick = { if (scan != null) scan() else pasting = true }, modifier = Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
            Text(c.scanAgent, style = MaterialTheme.typography.titleMedium)
        }
        if (pasting) {
            OutlinedTextField(pasted, { pasted = it }, label = { Text(c.pasteAgentCode) }, modifier = Modifier.fillMaxWidth())
            OutlinedButton(onClick = { if (pasted.isNotBlank()) onScanned(pasted.trim()) }) { Text(c.next) }
        }
        for (line in h?.delegations.orEmpty()) {
            DelegationCard(
                line,
                confirming = confirming == line.delegation.id,
                onShowCode = { onShowCode(line.delegation.id) },
                onRevoke = { confirming = line.delegation.id },
                onConfirm = {
                    scope.launch {
                        error = attempt { principal.revoke(line.delegation.id) }
                        confirming = null
                        reload++
                    }
                },
                onKeep = { confirming = null },
            )
        }
        if (h != null && h.activity.isNotEmpty()) {
            Text(c.whatAgentsDid, style = MaterialTheme.typography.headlineSmall, modifier = Modifier.padding(top = 16.dp, bottom = 8.dp))
            for (a in h.activity) {
                Card(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
                    Column(Modifier.padding(16.dp)) {
                        Text(lang.pick(a.day), style = MaterialTheme.typography.bodyLarge, modifier = Modifier.changesByItself())
                        // (its receipt number carries the day the platform took the case: it changes by itself)
                        Text(lang.pick(a.text), style = MaterialTheme.typography.titleMedium, modifier = Modifier.changesByItself())
                    }
                }
            }
        }
    }
}

/** One delegation: the agent, what they may do (the core's words), until when; revoke (asked twice) or show its code. */
@Composable
private fun DelegationCard(
    line: DelegationLine,
    confirming: Boolean,
    onShowCode: () -> Unit,
    onRevoke: () -> Unit,
    onConfirm: () -> Unit,
    onKeep: () -> Unit,
) {
    val c = chrome()
    val lang = c.lang
    Card(Modifier.fillMaxWidth().padding(vertical = 6.dp)) {
        Column(Modifier.padding(16.dp)) {
            Text(lang.pick(line.title), style = MaterialTheme.typography.titleLarge)
            Text(lang.pick(line.status), style = MaterialTheme.typography.bodyLarge, modifier = Modifier.changesByItself())
            Text(lang.pick(line.covers), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
            if (!line.active) return@Column
            if (confirming) {
                Text(c.revokeQuestion, style = MaterialTheme.typography.titleMedium, color = MaterialTheme.colorScheme.error)
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = onConfirm, colors = ButtonDefaults.buttonColors(containerColor = MaterialTheme.colorScheme.error)) {
                        Text(c.revokeYes)
                    }
                    OutlinedButton(onClick = onKeep) { Text(c.revokeNo) }
                }
            } else {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    OutlinedButton(onClick = onShowCode) { Text(c.showCode) }
                    Button(onClick = onRevoke, colors = ButtonDefaults.buttonColors(containerColor = MaterialTheme.colorScheme.error)) {
                        Text(c.revoke)
                    }
                }
            }
        }
    }
}

/**
 * Authorising the agent whose code was scanned, in two pages. First the choices: who the agent is (checked
 * offline by the core), the principal's name and ID number (from their resident ID card when the phone holds
 * one), the items (those offered at home first; the rest, about twenty, on asking, so the page stays short),
 * the actions, which elements of which licences the agent may use (each shown with its value: this is her
 * phone), how long. Then a page of its own with the sentence the core words from exactly these choices, in
 * large text, and the button that signs (or back to change them).
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun DelegateScreen(principal: PrincipalMode, agentQr: String, onBack: () -> Unit, onSigned: (GivenDelegation) -> Unit) {
    val c = chrome()
    val lang = c.lang
    var choices by remember { mutableStateOf<DelegationChoices?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var name by rememberSaveable { mutableStateOf("") }
    var idNumber by rememberSaveable { mutableStateOf("") }
    var items by rememberSaveable { mutableStateOf(listOf<String>()) }
    var actions by rememberSaveable { mutableStateOf(Action.entries.toList()) }
    // licence id -> the element keys chosen (a licence with none is not shared)
    var shared by rememberSaveable { mutableStateOf<Map<String, List<String>>?>(null) }
    var days by rememberSaveable { mutableStateOf<Int?>(null) }
    // The items not offered at home are shown on asking; the sentence is read on a page of its own.
    var allItems by rememberSaveable { mutableStateOf(false) }
    var reading by rememberSaveable { mutableStateOf(false) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(agentQr) {
        error = attempt {
            val ch = principal.choices(agentQr)
            choices = ch
            if (name.isEmpty()) name = ch.ownName ?: ""
            if (idNumber.isEmpty()) idNumber = ch.ownIdNumber ?: ""
            if (shared == null) shared = ch.licences.associate { l -> l.licenceId to l.elements.filter { it.suggested }.map { it.key } }
            if (days == null) days = ch.defaultDays.toInt()
        }
    }
    val ch = choices
    val chosen = shared.orEmpty().filterValues { it.isNotEmpty() }
    val request = DelegationRequest(
        agentQr, name.trim(), idNumber.trim(), Scope(items, emptyList(), actions, emptyList()),
        (days ?: 30).toUInt(), false, chosen.map { (id, keys) -> LicenceShare(id, keys) }, null,
    )
    var preview by remember { mutableStateOf<DelegationPreview?>(null) }
    var previewError by remember { mutableStateOf<ZhangbanException?>(null) }
    LaunchedEffect(request, ch) {
        preview = null
        previewError = if (ch != null && items.isNotEmpty() && actions.isNotEmpty()) attempt { preview = principal.preview(request) } else null
    }
    val shownPreview = preview
    if (reading && ch != null && shownPreview != null) {
        // Its own page (and scroll position): the sentence first, then the button that signs.
        Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
            TextButton(onClick = { reading = false }) { Text(c.back) }
            Text(c.delegateTitle, style = MaterialTheme.typography.headlineMedium)
            ErrorText(error)
            Surface(color = MaterialTheme.colorScheme.tertiaryContainer, modifier = Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
                Column(Modifier.padding(12.dp)) {
                    Text(c.pleaseRead, style = MaterialTheme.typography.titleMedium)
                    Text(lang.pick(shownPreview.text), style = MaterialTheme.typography.headlineSmall)
                    Text(lang.pick(shownPreview.until), style = MaterialTheme.typography.titleLarge, modifier = Modifier.changesByItself())
                }
            }
            Button(
                onClick = { scope.launch { error = attempt { onSigned(principal.sign(request)) } } },
                modifier = Modifier.fillMaxWidth().padding(vertical = 16.dp),
            ) { Text(c.signDelegation, style = MaterialTheme.typography.titleMedium) }
            OutlinedButton(onClick = { reading = false }, modifier = Modifier.fillMaxWidth()) { Text(c.changeChoices) }
        }
        return
    }
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onBack) { Text(c.back) }
        Text(c.delegateTitle, style = MaterialTheme.typography.headlineMedium)
        ErrorText(error)
        if (ch == null) return@Column
        Surface(color = MaterialTheme.colorScheme.secondaryContainer, modifier = Modifier.fillMaxWidth().padding(vertical = 8.dp)) {
            Column(Modifier.padding(12.dp)) {
                Text(lang.pick(ch.agent.text), style = MaterialTheme.typography.titleLarge)
                Text(lang.pick(ch.agent.validText), style = MaterialTheme.typography.bodyLarge, modifier = Modifier.changesByItself())
            }
        }
        SectionTitle(c.whoAmI)
        OutlinedTextField(name, { name = it }, label = { Text(c.yourName) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(idNumber, { idNumber = it }, label = { Text(c.yourIdNumber) }, modifier = Modifier.fillMaxWidth())
        SectionTitle(c.whichItems)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            // The first page: the items offered at home, and any chosen from the rest.
            for ((i, item) in ch.items.withIndex()) {
                if (!allItems && i >= ch.atHome.toInt() && item.code !in items) continue
                FilterChip(
                    selected = item.code in items,
                    onClick = { items = if (item.code in items) items - item.code else items + item.code },
                    label = { Text(lang.pick(item.name)) },
                )
            }
        }
        if (!allItems && ch.items.size > ch.atHome.toInt()) {
            TextButton(onClick = { allItems = true }) { Text(lang.pick(ch.moreItems)) }
        }
        SectionTitle(c.whichActions)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            for (a in ch.actions) {
                FilterChip(
                    selected = a.action in actions,
                    onClick = { actions = if (a.action in actions) actions - a.action else actions + a.action },
                    label = { Text(lang.pick(a.label)) },
                )
            }
        }
        if (ch.licences.isNotEmpty()) {
            SectionTitle(c.whichElements)
            for (l in ch.licences) {
                Text(lang.pick(l.typeName), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(top = 4.dp))
                val mine = shared.orEmpty()[l.licenceId].orEmpty()
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    for (e in l.elements) {
                        FilterChip(
                            selected = e.key in mine,
                            onClick = {
                                val next = if (e.key in mine) mine - e.key else mine + e.key
                                shared = shared.orEmpty() + (l.licenceId to next)
                            },
                            label = { Text("${lang.pick(e.name)}：${e.display}") },
                        )
                    }
                }
            }
        }
        SectionTitle(c.howLong)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            // The lengths and their words are the core's ("7 天 / 7 days" … the longest allowed).
            for (d in ch.durations) {
                val n = d.days.toInt()
                FilterChip(selected = days == n, onClick = { days = n }, label = { Text(lang.pick(d.label)) })
            }
        }
        ErrorText(previewError)
        Button(
            enabled = preview != null,
            onClick = { reading = true },
            modifier = Modifier.fillMaxWidth().padding(vertical = 16.dp),
        ) { Text(c.readThenSign, style = MaterialTheme.typography.titleMedium) }
    }
}

/** The signed delegation as a code for the agent to scan, with what it covers. */
@Composable
fun DelegationCodeScreen(principal: PrincipalMode, delegationId: String, onDone: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    var line by remember { mutableStateOf<DelegationLine?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    LaunchedEffect(delegationId) { error = attempt { line = principal.home().delegations.firstOrNull { it.delegation.id == delegationId } } }
    val l = line
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onDone) { Text(c.back) }
        Text(c.agentScansThis, style = MaterialTheme.typography.headlineMedium)
        ErrorText(error)
        if (l == null) return@Column
        val qr = remember(l.delegation.text) { renderQr(l.delegation.text) }
        QrCode(qr, c.delegationCode, Modifier.fillMaxWidth().aspectRatio(1f).padding(8.dp).changesByItself(), l.delegation.text)
        Text(lang.pick(l.title), style = MaterialTheme.typography.titleLarge)
        Text(lang.pick(l.covers), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
        Button(onClick = onDone, modifier = Modifier.fillMaxWidth().padding(vertical = 8.dp)) { Text(c.done) }
    }
}
