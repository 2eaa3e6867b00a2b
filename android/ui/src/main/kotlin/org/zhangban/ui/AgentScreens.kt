package org.zhangban.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.layout.width
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.CheckCircle
import androidx.compose.material3.Icon
import androidx.compose.ui.draw.alpha
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.semantics.stateDescription
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
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
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.zhangban.kit.AgentMode
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Zhangban
import uniffi.zhangban_agent.DoorConsentInput
import uniffi.zhangban_agent.PrincipalView
import uniffi.zhangban_agent.ScopeItem
import uniffi.zhangban_base.Text as CoreText
import uniffi.zhangban_ffi.ZhangbanException
import androidx.compose.foundation.layout.aspectRatio
import uniffi.zhangban_agent.AgentCard
import uniffi.zhangban_ffi.renderQr

/** The pages of agent mode (saved across a rotation with the principal and draft they show). */
enum class AgentPage { Home, Door, Card, Principal, Form, Summary }

/**
 * Agent mode (帮办代办) on the agent's phone: the home (every principal with what each needs now), door
 * intake for a principal without a phone, a principal's page (switching to them: a banner says whose data is
 * shown), their draft (the form screen, every edit checked against the delegation by the core) and the
 * summary the principal confirms before the agent submits. Every rule and every word about the principal's
 * data comes from the core; a refused action shows the core's PermissionDenied text.
 */
@Composable
fun AgentRoot(z: Zhangban, agent: AgentMode, onClose: (() -> Unit)? = null) {
    var page by rememberSaveable { mutableStateOf(AgentPage.Home) }
    var subject by rememberSaveable { mutableStateOf<String?>(null) }
    var draftId by rememberSaveable { mutableStateOf<String?>(null) }
    // Switching to a principal: one call (audited by the core); reloaded when the page changes.
    var view by remember { mutableStateOf<PrincipalView?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    LaunchedEffect(subject, page) {
        val s = subject
        view = null
        if (s != null && page != AgentPage.Home && page != AgentPage.Door && page != AgentPage.Card) {
            error = attempt { view = agent.switchPrincipal(s) }
        }
    }
    val home = { page = AgentPage.Home; subject = null; error = null }
    when (page) {
        AgentPage.Home -> AgentHomeScreen(
            agent,
            onOpen = { subject = it; page = AgentPage.Principal },
            onDoor = { page = AgentPage.Door },
            onCard = { page = AgentPage.Card },
            onClose = onClose,
        )
        AgentPage.Card -> AgentCardScreen(agent, onBack = home)
        AgentPage.Door -> DoorIntakeScreen(agent, onClose = home, onDone = { subject = it; page = AgentPage.Principal })
        else -> {
            val v = view
            if (v == null) {
                // Nothing to press until the answer: the principal's banner arrives above the back button, which
                // would move under the finger. A refusal offers the way back.
                if (error != null) {
                    Column(Modifier.padding(16.dp)) {
                        TextButton(onClick = home) { Text(chrome().back) }
                        ErrorText(error)
                    }
                }
                return
            }
            val s = v.line.subject
            when (page) {
                AgentPage.Principal -> PrincipalScreen(agent, v, onBack = home, onDraft = { draftId = it; page = AgentPage.Form })
                AgentPage.Form -> AgentDraft(agent, s, draftId ?: "", onLost = { page = AgentPage.Principal }) { form ->
                    FormScreen(
                        z, form,
                        onClose = { page = AgentPage.Principal },
                        onSubmitted = { page = AgentPage.Summary },
                        header = { PrincipalBanner(v) },
                        attach = { code, file -> agent.attach(form, s, code, file.name, file.read()) },
                        submitLabel = chrome().reviewWithPrincipal,
                        submit = {},
                    )
                }
                else -> AgentDraft(agent, s, draftId ?: "", onLost = { page = AgentPage.Principal }) { form ->
                    AgentSummaryScreen(agent, v, form, onBack = { page = AgentPage.Form }, onSubmitted = { page = AgentPage.Principal })
                }
            }
        }
    }
}

/** The banner on every page for a principal: whose data this is (the core's words), and what they need now. */
@Composable
fun PrincipalBanner(v: PrincipalView) {
    val lang = chrome().lang
    Surface(color = MaterialTheme.colorScheme.tertiaryContainer, modifier = Modifier.fillMaxWidth().padding(top = 8.dp)) {
        Column(Modifier.padding(12.dp)) {
            Text(lang.pick(v.banner), style = MaterialTheme.typography.titleSmall)
            Text(lang.pick(v.line.needsNow), style = MaterialTheme.typography.bodySmall)
        }
    }
}

/**
 * The agent's home: every principal on this phone with what each needs now, those with work first; scanning a
 * principal's `ZBD1:` delegation code (the host's camera; pasting its text where there is none), door intake.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun AgentHomeScreen(agent: AgentMode, onOpen: (String) -> Unit, onDoor: () -> Unit, onCard: () -> Unit = {}, onClose: (() -> Unit)? = null) {
    val c = chrome()
    val lang = c.lang
    val principals by agent.principals.collectAsStateWithLifecycle()
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var pasting by rememberSaveable { mutableStateOf(false) }
    var pasted by rememberSaveable { mutableStateOf("") }
    val scope = rememberCoroutineScope()
    val accept = { text: String -> scope.launch { error = attempt { onOpen(agent.scanDelegation(text.trim()).subject) } } }
    val scan = LocalHost.current.rememberCodeScanner { text -> if (!text.isNullOrBlank()) accept(text) }
    LaunchedEffect(Unit) { error = attempt { agent.refresh() } }
    // Read here, in the composable, not only inside the LazyColumn's builder (see CaseDetail).
    val list = principals
    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            if (onClose != null) TextButton(onClick = onClose) { Text(c.back) }
            Text(c.agentHome, style = MaterialTheme.typography.titleLarge, modifier = Modifier.padding(top = 16.dp))
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp), modifier = Modifier.padding(vertical = 8.dp)) {
                OutlinedButton(onClick = { if (scan != null) scan() else pasting = true }) { Text(c.scanDelegation) }
                OutlinedButton(onClick = onDoor) { Text(c.doorIntake) }
                OutlinedButton(onClick = onCard) { Text(c.myAgentCard) }
            }
            if (pasting) {
                OutlinedTextField(pasted, { pasted = it }, label = { Text(c.pasteDelegation) }, modifier = Modifier.fillMaxWidth())
                OutlinedButton(onClick = { if (pasted.isNotBlank()) accept(pasted) }) { Text(c.next) }
            }
            ErrorText(error)
            if (list.isEmpty()) Text(c.noPrincipals)
        }
        items(list, key = { it.subject }) { p ->
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { onOpen(p.subject) }) {
                Column(Modifier.padding(16.dp)) {
                    Text("${p.name}  ${p.idMasked}", style = MaterialTheme.typography.titleMedium)
                    Text(lang.pick(p.needsNow), style = MaterialTheme.typography.bodyLarge)
                    Text(lang.pick(p.assuranceText), style = MaterialTheme.typography.bodySmall)
                }
            }
        }
    }
}

/** A principal's page after switching to them: the banner, what the mandate covers, drafts, cases. */
@Composable
fun PrincipalScreen(agent: AgentMode, v: PrincipalView, onBack: () -> Unit, onDraft: (String) -> Unit) {
    val c = chrome()
    val lang = c.lang
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    val s = v.line.subject
    LazyColumn(Modifier.padding(horizontal = 16.dp)) {
        item {
            PrincipalBanner(v)
            TextButton(onClick = onBack) { Text(c.back) }
            ErrorText(error)
            SectionTitle(c.canApplyFor)
        }
        items(v.items, key = { "item:" + it.code }) { item ->
            OutlinedButton(onClick = {
                scope.launch { error = attempt { agent.startDraft(s, item.code).use { onDraft(it.id) } } }
            }) { Text(c.startFor(lang.pick(item.name))) }
        }
        val open = v.drafts.filter { !it.submitted }
        if (open.isNotEmpty()) item { SectionTitle(c.drafts) }
        items(open, key = { "draft:" + it.id }) { d ->
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { onDraft(d.id) }) {
                Column(Modifier.padding(16.dp)) {
                    val title = v.items.firstOrNull { it.code == d.target }?.let { lang.pick(it.name) } ?: d.target
                    Text(title, style = MaterialTheme.typography.bodyLarge)
                    Text(c.resume, style = MaterialTheme.typography.bodySmall)
                }
            }
        }
        if (v.cases.isNotEmpty()) item { SectionTitle(c.tabCases) }
        items(v.cases, key = { "case:" + it.id }) { case ->
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp)) {
                Column(Modifier.padding(16.dp)) {
                    Text(lang.pick(case.title), style = MaterialTheme.typography.titleMedium)
                    Text(lang.pick(case.stateText))
                    case.receipt?.let { Text(c.receipt(it), style = MaterialTheme.typography.bodySmall, modifier = Modifier.changesByItself()) }
                }
            }
        }
    }
}

/** Holds a principal's draft open (resumed through agent mode: checked and audited) while [content] shows it. */
@Composable
private fun AgentDraft(agent: AgentMode, subject: String, draftId: String, onLost: () -> Unit, content: @Composable (DraftForm) -> Unit) {
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val form by produceState<DraftForm?>(null, subject, draftId) {
        // Opened and closed by this one coroutine: closed when the screen leaves (back, another tab,
        // submitted), also when it leaves before it ever drew the form (a DisposableEffect registered on the
        // next composition missed that: the draft stayed open). Closing waits for an edit in flight.
        val opened = try {
            agent.resumeDraft(subject, draftId)
        } catch (e: ZhangbanException) {
            error = e
            null
        }
        value = opened
        awaitDispose { opened?.close() }
    }
    val f = form
    if (f == null) {
        // As in AgentRoot: the form's banner would arrive above a back button laid out now.
        if (error != null) {
            Column(Modifier.padding(16.dp)) {
                TextButton(onClick = onLost) { Text(chrome().back) }
                ErrorText(error)
            }
        }
        return
    }
    content(f)
}

/**
 * The summary the principal reads (large text) before anything is sent; they sign (a signature image, the
 * camera / picker here) and the agent submits. The words are the core's.
 */
@Composable
fun AgentSummaryScreen(agent: AgentMode, v: PrincipalView, form: DraftForm, onBack: () -> Unit, onSubmitted: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    val s = v.line.subject
    var summary by remember { mutableStateOf<CoreText?>(null) }
    var confirmed by rememberSaveable { mutableStateOf(false) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(form) { error = attempt { summary = agent.summary(s, form) } }
    val sign = LocalHost.current.rememberFilePicker { file ->
        if (file != null) {
            scope.launch {
                error = attempt {
                    agent.confirm(s, form, agent.photo(s, file.name, file.read()), null)
                    confirmed = true
                }
            }
        }
    }
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        PrincipalBanner(v)
        TextButton(onClick = onBack) { Text(c.back) }
        SectionTitle(c.confirmTitle)
        // The buttons wait for the summary the principal reads: it arrives above them.
        val text = summary
        if (text == null) {
            ErrorText(error)
            return@Column
        }
        Text(lang.pick(text), style = MaterialTheme.typography.headlineSmall)
        ErrorText(error)
        if (confirmed) {
            Text(c.principalConfirmed, style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
        } else {
            OutlinedButton(onClick = sign, modifier = Modifier.padding(vertical = 8.dp)) { Text(c.principalSigns) }
        }
        Button(
            enabled = confirmed,
            onClick = {
                scope.launch {
                    error = attempt {
                        agent.submit(s, form)
                        onSubmitted()
                    }
                }
            },
            modifier = Modifier.padding(vertical = 8.dp),
        ) { Text(c.submitForPrincipal) }
    }
}

/**
 * Door intake for a principal without a phone: who is at the door, then the ID card photo, their photo and
 * their signature (encrypted under their own key), the items (only those offered at home), and the summary
 * read out to them (the core's words); the consent is signed by this phone's key at the lower assurance.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun DoorIntakeScreen(agent: AgentMode, onClose: () -> Unit, onDone: (String) -> Unit) {
    val c = chrome()
    val host = LocalHost.current
    val lang = c.lang
    var name by rememberSaveable { mutableStateOf("") }
    var idNumber by rememberSaveable { mutableStateOf("") }
    var subject by rememberSaveable { mutableStateOf<String?>(null) }
    var pictures by rememberSaveable { mutableStateOf(mapOf<String, String>()) }
    var chosen by rememberSaveable { mutableStateOf(listOf<String>()) }
    // Null until the door items are in: the section below the pictures is held until then.
    var items by remember { mutableStateOf<List<ScopeItem>?>(null) }
    // The read-out for one choice of items: shown, with the save button under it, only once it is in for the
    // current choice (a button laid out before it would move down when it arrived, and lose a finger's tap).
    var summary by remember { mutableStateOf<Pair<List<String>, CoreText>?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    LaunchedEffect(Unit) { error = attempt { items = agent.doorItems() } }
    LaunchedEffect(subject, chosen) {
        val s = subject
        if (s != null && chosen.isNotEmpty()) {
            val choice = chosen
            error = attempt { summary = choice to agent.doorSummary(s, choice) }
        }
    }
    var capturing by remember { mutableStateOf<String?>(null) }
    val pick = LocalHost.current.rememberFilePicker { file ->
        val kind = capturing
        val s = subject
        if (file != null && kind != null && s != null) {
            scope.launch { error = attempt { pictures = pictures + (kind to agent.capture(s, file.name, file.read())) } }
        }
    }
    // Errors go under the buttons: an error that arrives never pushes a button down.
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onClose) { Text(c.back) }
        Text(c.doorIntake, style = MaterialTheme.typography.titleLarge)
        val s = subject
        if (s == null) {
            OutlinedTextField(name, { name = it }, label = { Text(c.principalName) }, modifier = Modifier.fillMaxWidth())
            OutlinedTextField(idNumber, { idNumber = it }, label = { Text(c.principalId) }, modifier = Modifier.fillMaxWidth())
            Button(
                onClick = { scope.launch { error = attempt { subject = agent.openDoorIntake(name, idNumber).subject } } },
                modifier = Modifier.padding(vertical = 8.dp),
            ) { Text(c.openIntake) }
            ErrorText(error)
            return@Column
        }
        Text(name, style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
        // A captured picture keeps its row: the same button with the same words, disabled, its check mark (whose
        // place is kept before) shown and "已采集" as its state. The row was replaced by a line of another height
        // (and a longer label wraps at large text), so the rows and the save button below moved.
        for ((kind, label) in listOf("id_photo" to c.captureIdPhoto, "principal_photo" to c.capturePhoto, "signature" to c.captureSignature)) {
            val captured = kind in pictures
            OutlinedButton(
                enabled = !captured,
                onClick = { capturing = kind; pick() },
                modifier = if (captured) Modifier.semantics { stateDescription = c.captured } else Modifier,
            ) {
                Icon(
                    Icons.Filled.CheckCircle,
                    contentDescription = null,
                    modifier = Modifier.size(18.dp).alpha(if (captured) 1f else 0f),
                )
                Spacer(Modifier.width(8.dp))
                Text(label)
            }
        }
        val offered = items
        if (offered == null) {
            ErrorText(error)
            return@Column
        }
        SectionTitle(c.itemsToCover)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            for (item in offered) {
                FilterChip(
                    selected = item.code in chosen,
                    onClick = { chosen = if (item.code in chosen) chosen - item.code else chosen + item.code },
                    label = { Text(lang.pick(item.name)) },
                )
            }
        }
        val readOut = summary?.takeIf { it.first == chosen && chosen.isNotEmpty() }?.second
        if (readOut != null) {
            SectionTitle(c.readOut)
            Text(lang.pick(readOut), style = MaterialTheme.typography.headlineSmall)
            Button(
                enabled = pictures.size == 3,
                onClick = {
                    scope.launch {
                        error = attempt {
                            val input = DoorConsentInput(
                                items = chosen,
                                idPhoto = pictures.getValue("id_photo"),
                                principalPhoto = pictures.getValue("principal_photo"),
                                signature = pictures.getValue("signature"),
                                summary = readOut.zh,
                                validDays = null,
                                singleUse = false,
                            )
                            asPerson(host, lang) { agent.doorConsent(s, input) }
                            onDone(s)
                        }
                    }
                },
                modifier = Modifier.padding(vertical = 16.dp),
            ) { Text(c.saveConsent) }
        }
        ErrorText(error)
    }
}

/**
 * 我的帮办员证: the `ZBA1:` code a principal scans on her phone before she delegates (the certificate the platform
 * signed for this phone's key), with the name and organisation it carries; on a phone without one, the
 * registration with the platform (the name and the organisation's code as the service centre registered them).
 * Shown once the store has answered (nothing to press moves when it does).
 */
@Composable
fun AgentCardScreen(agent: AgentMode, onBack: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    // null: not asked yet; Pair(null, null): no certificate on this phone.
    var card by remember { mutableStateOf<Pair<AgentCard?, String?>?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var name by rememberSaveable { mutableStateOf("") }
    var org by rememberSaveable { mutableStateOf("") }
    var busy by remember { mutableStateOf(false) }
    val scope = rememberCoroutineScope()
    val load: suspend () -> Unit = {
        val own = agent.card()
        card = own to own?.let { agent.certificateQr() }
    }
    LaunchedEffect(Unit) { error = attempt { load() } }
    Column(Modifier.padding(horizontal = 16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onBack) { Text(c.back) }
        val loaded = card
        if (loaded == null) {
            ErrorText(error)
            return@Column
        }
        val (own, text) = loaded
        if (own != null && text != null) {
            val cert = own.certificate
            Text(c.myAgentCard, style = MaterialTheme.typography.headlineMedium)
            // Accesses the platform refused for good (its certificate ended, ADR 0045), worded by the core: they
            // have not reached the principals. First, so that it is seen also at large text; loaded with the card,
            // so nothing arrives after it.
            own.notDelivered?.let {
                Text(lang.pick(it), color = MaterialTheme.colorScheme.error, modifier = Modifier.padding(vertical = 8.dp))
            }
            Text(c.agentCardScan, style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
            val qr = remember(text) { renderQr(text) }
            QrCode(qr, c.myAgentCard, Modifier.fillMaxWidth().aspectRatio(1f).padding(8.dp).changesByItself(), text)
            Text(cert.name, style = MaterialTheme.typography.titleLarge)
            Text(cert.orgName, style = MaterialTheme.typography.titleMedium)
            // Worded by the core (as her phone words it); the date follows from the day it was issued (masked).
            Text(lang.pick(own.validText), modifier = Modifier.changesByItself())
        } else {
            Text(c.agentRegisterTitle, style = MaterialTheme.typography.headlineMedium)
            Text(c.agentRegisterWhy, modifier = Modifier.padding(vertical = 8.dp))
            OutlinedTextField(name, { name = it }, label = { Text(c.agentName) }, singleLine = true, modifier = Modifier.fillMaxWidth())
            OutlinedTextField(org, { org = it }, label = { Text(c.agentOrgCode) }, singleLine = true, modifier = Modifier.fillMaxWidth())
            Button(
                enabled = !busy && name.isNotBlank() && org.isNotBlank(),
                onClick = {
                    scope.launch {
                        busy = true
                        error = attempt {
                            agent.register(name.trim(), org.trim())
                            load()
                        }
                        busy = false
                    }
                },
                modifier = Modifier.fillMaxWidth().padding(vertical = 8.dp),
            ) { Text(c.agentRegister) }
        }
        // Under the actions: an error that arrives pushes nothing down.
        ErrorText(error)
    }
}
