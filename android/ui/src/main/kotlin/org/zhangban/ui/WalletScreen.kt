package org.zhangban.ui

import androidx.compose.foundation.Canvas
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
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
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.geometry.Size
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlin.math.floor
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.kit.QrPresenter
import org.zhangban.kit.Zhangban
import org.zhangban.kit.issuerName
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.renderQr
import uniffi.zhangban_wallet.LicenceSummary
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_wallet.QrImage

/** 证照: the wallet's licences; tap one to present it as a refreshing QR code. */
@Composable
fun WalletScreen(z: Zhangban) {
    val c = chrome()
    val lang = c.lang
    // null until the wallet answered: nothing is laid out above the buttons before (the cards arriving
    // later pushed them down under the finger).
    var loaded by remember { mutableStateOf<List<LicenceSummary>?>(null) }
    val licences = loaded.orEmpty()
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    // The licence on screen survives a rotation (its id; the item is looked up again).
    var showingId by rememberSaveable { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()
    suspend fun reload() {
        loaded = withContext(Dispatchers.IO) { z.wallet.licences() }
    }
    LaunchedEffect(Unit) {
        error = attempt { reload() }
        if (loaded == null) loaded = emptyList() // refused (the error says why): the actions are still offered
    }

    var verifying by rememberSaveable { mutableStateOf(false) }
    if (verifying) {
        VerifierScreen(z, onBack = { verifying = false })
        return
    }
    var usageOpen by rememberSaveable { mutableStateOf(false) }
    if (usageOpen) {
        UsageScreen(z, onBack = { usageOpen = false })
        return
    }
    licences.firstOrNull { it.licenceId == showingId }?.let {
        PresentScreen(z, it, onClose = { showingId = null })
        return
    }
    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        ErrorText(error)
        if (loaded == null) return@Column
        if (licences.isEmpty()) Text(c.noLicences)
        for (item in licences) {
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { showingId = item.licenceId }) {
                Column(Modifier.padding(16.dp)) {
                    Text(lang.pick(item.typeName), style = MaterialTheme.typography.titleMedium)
                    Text(item.issuerName(lang))
                    Text(lang.pick(item.statusText))
                }
            }
        }
        // Sandbox only: the platform issues a device-bound licence to a registered device.
        Button(
            onClick = {
                scope.launch {
                    error = attempt {
                        z.wallet.refreshLists(z.platformUrl)
                        z.wallet.requestLicence(z.platformUrl, "resident_id", null)
                        reload()
                    }
                }
            },
            modifier = Modifier.padding(top = 16.dp),
        ) { Text(c.requestSampleLicence) }
        OutlinedButton(onClick = { verifying = true }, modifier = Modifier.padding(top = 8.dp)) { Text(c.verifyOpen) }
        OutlinedButton(onClick = { usageOpen = true }, modifier = Modifier.padding(top = 8.dp)) { Text(c.usageOpen) }
    }
}

private val PRESETS = listOf(Preset.HotelCheckIn, Preset.AgeCheck, Preset.Full)

/**
 * 亮证: the QR code of a presentation, redrawn by the presenter before it lapses; the host keeps the window
 * out of screenshots and recordings and turns the brightness up while it is shown. Scrolls: at a large
 * font the chips, the code and the countdown do not fit one screen.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun PresentScreen(z: Zhangban, item: LicenceSummary, onClose: () -> Unit) {
    val c = chrome()
    val host = LocalHost.current
    DisposableEffect(Unit) {
        host.protectScreen(true)
        onDispose { host.protectScreen(false) }
    }
    var presetIndex by rememberSaveable { mutableStateOf(0) }
    val preset = PRESETS[presetIndex]
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    val presenter = remember { z.presenter() }
    // Engagement mode: the verifier's challenge (`ZBE1:`) scanned from its screen; the codes answer it.
    var engagement by rememberSaveable { mutableStateOf<String?>(null) }
    val scan = host.rememberCodeScanner { text -> if (text != null) { error = null; engagement = text.trim() } }
    // A hardware device key that wants the person first (`NeedsUserAuthentication`): asked once in the core's
    // words; confirmed, the codes start again.
    var asked by remember { mutableStateOf(0) }
    LaunchedEffect(error) {
        val e = error
        if (e is ZhangbanException.NeedsUserAuthentication && confirmedPerson(host, c.lang, e)) {
            error = null
            asked++
        }
    }
    val shown by remember(preset, engagement, asked) {
        val e = engagement
        val codes = if (e == null) presenter.codes(item.licenceId, preset) else engagedCodes(z, item.licenceId, preset, e)
        codes.catch { x ->
            if (x is ZhangbanException) error = x else throw x
        }
    }.collectAsStateWithLifecycle(initialValue = null)
    val now by produceState(nowSecs()) {
        while (true) {
            delay(1000)
            value = nowSecs()
        }
    }

    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        TextButton(onClick = onClose) { Text(c.back) }
        Text(c.lang.pick(item.typeName), style = MaterialTheme.typography.titleLarge)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            PRESETS.forEachIndexed { i, p ->
                val label = when (p) {
                    Preset.HotelCheckIn -> c.presentHotel
                    Preset.AgeCheck -> c.presentAge
                    else -> c.presentFull
                }
                FilterChip(selected = presetIndex == i, onClick = { presetIndex = i }, label = { Text(label) })
            }
        }
        if (engagement != null) {
            Text(c.answeringChallenge, style = MaterialTheme.typography.bodyMedium)
            TextButton(onClick = { engagement = null; error = null }) { Text(c.stopEngagement) }
        } else if (scan != null) {
            OutlinedButton(onClick = scan) { Text(c.scanChallenge) }
        }
        ErrorText(error)
        shown?.let { s ->
            QrCode(s.qr, c.qrDescription, Modifier.fillMaxWidth().aspectRatio(1f).padding(8.dp).changesByItself(), s.code.qrText)
            Text(c.qrValidFor(s.secondsLeft(now).toInt()), Modifier.changesByItself())
        }
        Text(c.qrProtected, style = MaterialTheme.typography.bodySmall)
    }
}

/** Codes answering a verifier's challenge, each replaced half-way through its window (as [QrPresenter] does). */
private fun engagedCodes(z: Zhangban, licenceId: String, preset: Preset, challenge: String): Flow<QrPresenter.Shown> = flow {
    while (true) {
        val out = withContext(Dispatchers.IO) { z.wallet.presentEngaged(licenceId, preset, challenge) }
        emit(QrPresenter.Shown(out, renderQr(out.qrText)))
        delay((out.refreshAt - out.notBefore).coerceAtLeast(1) * 1000) // the core's times
    }
}

/** The modules drawn as squares on white with a 4-module quiet zone, snapped to whole pixels. */
@Composable
fun QrCode(qr: QrImage, description: String, modifier: Modifier, payload: String? = null) {
    val w = qr.width.toInt()
    Canvas(
        modifier.semantics {
            contentDescription = description
            // what a camera reads from it (the desktop tests scan it this way)
            if (payload != null) qrPayload = payload
        },
    ) {
        val n = w + 8
        val cell = floor(size.minDimension / n)
        val x0 = (size.width - cell * n) / 2 + 4 * cell
        val y0 = (size.height - cell * n) / 2 + 4 * cell
        drawRect(Color.White)
        for (y in 0 until w) {
            for (x in 0 until w) {
                if (qr.modules[y * w + x]) {
                    drawRect(Color.Black, topLeft = Offset(x0 + x * cell, y0 + y * cell), size = Size(cell, cell))
                }
            }
        }
    }
}
