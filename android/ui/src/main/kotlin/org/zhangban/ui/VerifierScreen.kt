package org.zhangban.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
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
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanVerifier
import uniffi.zhangban_ffi.renderQr
import uniffi.zhangban_wallet.EngagementCode
import uniffi.zhangban_wallet.VerificationOutcome
import uniffi.zhangban_wallet.defaultVerifyPolicy

/** What a verifier checks for: the purposes of the holder's presets (the core's purpose names). */
private val PURPOSES = listOf("hotel-check-in", "age-check", "full")

/**
 * 核验: a clerk, hotel or agent verifies someone's 亮证 code offline, from this phone's cached trust and status
 * lists. Engagement mode first (the default): this screen shows its challenge (`ZBE1:`), the holder's phone
 * scans it and answers it, so a code relayed from another verifier is refused. The code is scanned with the
 * host's camera ([Host.rememberCodeScanner]) or pasted as text. The result is the core's
 * `VerificationOutcome`: accepted with who issued what and exactly which fields were disclosed, or refused
 * with the core's reason (expired, revoked, another verifier's challenge, tampered, …).
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun VerifierScreen(z: Zhangban, onBack: () -> Unit) {
    val c = chrome()
    val lang = c.lang
    var purposeIndex by rememberSaveable { mutableStateOf(0) }
    var engaged by rememberSaveable { mutableStateOf(true) }
    var pasted by rememberSaveable { mutableStateOf("") }
    var verifier by remember { mutableStateOf<ZhangbanVerifier?>(null) }
    var generation by remember { mutableStateOf(0) } // a new verifier after the lists were updated
    var engagement by remember { mutableStateOf<EngagementCode?>(null) }
    var outcome by remember { mutableStateOf<VerificationOutcome?>(null) }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val scope = rememberCoroutineScope()
    val purpose = PURPOSES[purposeIndex]

    // The verifier over this store's cached lists; closed when the screen goes or a newer one replaces it.
    LaunchedEffect(generation) {
        val made = try {
            withContext(Dispatchers.IO) { z.wallet.verifier() }
        } catch (e: ZhangbanException) {
            error = e
            return@LaunchedEffect
        }
        verifier = made
        try {
            awaitCancellation()
        } finally {
            verifier = null
            made.close()
        }
    }
    val v = verifier
    // Engagement mode: a challenge for the chosen purpose, replaced before it lapses.
    LaunchedEffect(v, purpose, engaged) {
        engagement = null
        if (v == null || !engaged) return@LaunchedEffect
        while (true) {
            val e = try {
                withContext(Dispatchers.IO) { v.engage(purpose) }
            } catch (e: ZhangbanException) {
                error = e
                return@LaunchedEffect
            }
            engagement = e
            delay((e.expiresAt - e.createdAt - 10).coerceAtLeast(5) * 1000) // the core's times
        }
    }
    fun check(text: String) {
        val ver = v ?: return
        scope.launch {
            val policy = defaultVerifyPolicy().copy(acceptedPurposes = listOf(purpose))
            outcome = withContext(Dispatchers.IO) {
                if (engaged) ver.verifyEngaged(text.trim(), policy) else ver.verify(text.trim(), policy)
            }
        }
    }
    val scan = LocalHost.current.rememberCodeScanner { text -> if (text != null) check(text) }
    val scroll = rememberScrollState()
    // A new answer: back to the top, where it is shown.
    LaunchedEffect(outcome) { if (outcome != null) scroll.scrollTo(0) }

    Column(Modifier.padding(16.dp).verticalScroll(scroll)) {
        TextButton(onClick = onBack) { Text(c.back) }
        Text(c.verifyTitle, style = MaterialTheme.typography.titleLarge)
        // The answer first, where the clerk looks: no scrolling to see whether to accept.
        outcome?.let { OutcomeCard(it) }
        Text(c.verifyFor, Modifier.padding(top = 8.dp))
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            PURPOSES.forEachIndexed { i, p ->
                val label = when (p) {
                    "hotel-check-in" -> c.presentHotel
                    "age-check" -> c.presentAge
                    else -> c.presentFull
                }
                FilterChip(selected = purposeIndex == i, onClick = { purposeIndex = i; outcome = null }, label = { Text(label) })
            }
        }
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            FilterChip(selected = engaged, onClick = { engaged = true; outcome = null }, label = { Text(c.verifyEngaged) })
            FilterChip(selected = !engaged, onClick = { engaged = false; outcome = null }, label = { Text(c.verifyOneWay) })
        }
        ErrorText(error)
        if (engaged) {
            Text(c.verifyShowFirst, Modifier.padding(top = 8.dp))
            // The challenge is made after the screen is up (and again for another purpose, a new verifier): its
            // place is kept meanwhile, so the buttons below do not move when it appears.
            val place = Modifier.fillMaxWidth(0.7f).aspectRatio(1f).padding(8.dp)
            when (val e = engagement) {
                null -> Box(place)
                else -> {
                    val qr = remember(e.text) { renderQr(e.text) }
                    QrCode(qr, c.verifyChallenge, place.changesByItself(), e.text)
                }
            }
        }
        if (scan != null) {
            Button(onClick = scan, enabled = v != null, modifier = Modifier.padding(top = 8.dp)) { Text(c.verifyScan) }
        }
        OutlinedTextField(
            value = pasted,
            onValueChange = { pasted = it; outcome = null },
            label = { Text(c.verifyPaste) },
            maxLines = 3,
            modifier = Modifier.fillMaxWidth().padding(top = 8.dp).changesByItself(),
        )
        OutlinedButton(onClick = { check(pasted) }, enabled = v != null && pasted.isNotBlank()) { Text(c.verifyCheck) }
        OutlinedButton(
            onClick = {
                scope.launch {
                    error = attempt {
                        // A verifier checks licences of every status list shard (ADR 0039).
                        z.wallet.refreshLists(z.platformUrl, everyShard = true)
                        outcome = null
                        generation++
                    }
                }
            },
            modifier = Modifier.padding(top = 16.dp),
        ) { Text(c.verifyUpdateLists) }
    }
}

/** The result: accepted with the issuer, the licence and exactly the disclosed fields; or the core's reason. */
@Composable
private fun OutcomeCard(o: VerificationOutcome) {
    val c = chrome()
    val lang = c.lang
    val colors = if (o.accepted) {
        CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.primaryContainer)
    } else {
        CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer)
    }
    Card(Modifier.fillMaxWidth().padding(vertical = 8.dp), colors = colors) {
        Column(Modifier.padding(16.dp)) {
            Text(if (o.accepted) c.verifyAccepted else c.verifyRefused, style = MaterialTheme.typography.titleLarge)
            o.reason?.let { Text(lang.pick(it)) }
            o.verified?.let { v ->
                Text(lang.pick(v.typeName), style = MaterialTheme.typography.titleMedium)
                Text(lang.pick(v.issuer.nameZh, v.issuer.nameEn), style = MaterialTheme.typography.bodySmall)
                SectionTitle(c.verifyDisclosed)
                for (d in v.disclosed) Text(c.labelled(lang.pick(d.name), d.display))
            }
        }
    }
}
