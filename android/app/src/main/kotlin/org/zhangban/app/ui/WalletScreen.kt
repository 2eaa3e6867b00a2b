package org.zhangban.app.ui

import android.app.Activity
import android.graphics.Bitmap
import android.view.WindowManager
import androidx.compose.foundation.Image
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableLongStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.zhangban.app.R
import org.zhangban.kit.Json
import org.zhangban.kit.Lang
import org.zhangban.kit.QrPresenter
import org.zhangban.kit.Zhangban
import org.zhangban.kit.issuerName
import org.zhangban.kit.text
import org.zhangban.kit.toPixels
import uniffi.zhangban_wallet.LicenceSummary
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_ffi.ZhangbanException

/** 证照: the wallet's licences; tap one to present it as a refreshing QR code. */
@Composable
fun WalletScreen(z: Zhangban, lang: Lang) {
    var licences by remember { mutableStateOf<List<LicenceSummary>>(emptyList()) }
    var error by remember { mutableStateOf<String?>(null) }
    var showing by remember { mutableStateOf<LicenceSummary?>(null) }
    val scope = rememberCoroutineScope()
    suspend fun reload() {
        licences = withContext(Dispatchers.IO) { z.wallet.licences(nowSecs()) }
    }
    LaunchedEffect(Unit) {
        try {
            reload()
        } catch (e: ZhangbanException) {
            error = e.text(lang)
        }
    }

    showing?.let {
        PresentScreen(z, it, lang, onClose = { showing = null })
        return
    }
    Column(Modifier.padding(16.dp).verticalScroll(rememberScrollState())) {
        ErrorText(error)
        if (licences.isEmpty()) Text(stringResource(R.string.no_licences))
        for (item in licences) {
            Card(Modifier.fillMaxWidth().padding(vertical = 4.dp).clickable { showing = item }) {
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
                    error = try {
                        z.wallet.refreshLists(z.platformUrl)
                        z.wallet.requestLicence(z.platformUrl, "resident_id", Json.encode(SAMPLE_RESIDENT))
                        reload()
                        null
                    } catch (e: ZhangbanException) {
                        e.text(lang)
                    }
                }
            },
            modifier = Modifier.padding(top = 16.dp),
        ) { Text(stringResource(R.string.request_sample_licence)) }
    }
}

private val SAMPLE_RESIDENT = mapOf(
    "name" to "张三",
    "sex" to "女",
    "ethnicity" to "汉",
    "birth_date" to "1949-12-31",
    "address" to "北京市朝阳区建国路88号",
    "id_number" to "11010519491231002X",
    "issuing_authority" to "北京市公安局朝阳分局",
)

/** 亮证: the QR code of a presentation, redrawn by [QrPresenter] before it lapses; no screenshots. */
@Composable
private fun PresentScreen(z: Zhangban, item: LicenceSummary, lang: Lang, onClose: () -> Unit) {
    val activity = LocalContext.current as? Activity
    DisposableEffect(Unit) {
        activity?.window?.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
        onDispose { activity?.window?.clearFlags(WindowManager.LayoutParams.FLAG_SECURE) }
    }
    var preset by remember { mutableStateOf<Preset>(Preset.HotelCheckIn) }
    var error by remember { mutableStateOf<String?>(null) }
    val presenter = remember { z.presenter() }
    val shown by remember(preset) {
        presenter.codes(item.licenceId, preset).catch { e ->
            if (e is ZhangbanException) error = e.text(lang) else throw e
        }
    }.collectAsStateWithLifecycle(initialValue = null)
    var now by remember { mutableLongStateOf(nowSecs()) }
    LaunchedEffect(Unit) {
        while (true) {
            now = nowSecs()
            delay(1000)
        }
    }

    Column(Modifier.padding(16.dp)) {
        TextButton(onClick = onClose) { Text(stringResource(R.string.back)) }
        Text(lang.pick(item.typeName), style = MaterialTheme.typography.titleLarge)
        Row {
            listOf(
                Preset.HotelCheckIn to R.string.present_hotel,
                Preset.AgeCheck to R.string.present_age,
                Preset.Full to R.string.present_full,
            ).forEach { (p, label) ->
                FilterChip(
                    selected = preset == p,
                    onClick = { preset = p },
                    label = { Text(stringResource(label)) },
                    modifier = Modifier.padding(end = 8.dp),
                )
            }
        }
        ErrorText(error)
        shown?.let { s ->
            val bitmap = remember(s) {
                val px = s.qr.toPixels(scale = 1)
                Bitmap.createBitmap(px.argb, px.size, px.size, Bitmap.Config.ARGB_8888).asImageBitmap()
            }
            Image(
                bitmap = bitmap,
                contentDescription = stringResource(R.string.qr_description),
                filterQuality = FilterQuality.None, // sharp modules when scaled up
                modifier = Modifier.fillMaxWidth().aspectRatio(1f).padding(8.dp),
            )
            Text(stringResource(R.string.qr_valid_for, s.secondsLeft(now).toInt()))
        }
    }
}
