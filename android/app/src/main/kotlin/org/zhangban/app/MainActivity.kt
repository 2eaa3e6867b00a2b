package org.zhangban.app

import android.Manifest
import android.content.Intent
import android.os.Build
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalConfiguration
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import org.zhangban.app.ui.CasesScreen
import org.zhangban.app.ui.ServicesScreen
import org.zhangban.app.ui.WalletScreen
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.text
import uniffi.zhangban_ffi.ZhangbanException

class MainActivity : ComponentActivity() {
    private val openCase = mutableStateOf<String?>(null)

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        openCase.value = intent.getStringExtra(Notifications.EXTRA_CASE_ID)
        val app = application as ZhangbanApp
        setContent {
            MaterialTheme {
                AskForNotifications()
                Root(app, openCase.value) { openCase.value = null }
            }
        }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        intent.getStringExtra(Notifications.EXTRA_CASE_ID)?.let { openCase.value = it }
    }
}

@Composable
private fun AskForNotifications() {
    if (Build.VERSION.SDK_INT < 33) return
    val launcher = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { }
    LaunchedEffect(Unit) { launcher.launch(Manifest.permission.POST_NOTIFICATIONS) }
}

private sealed interface Opening {
    data object Busy : Opening
    data class Ready(val z: Zhangban) : Opening
    data class Failed(val text: String) : Opening
}

@Composable
private fun Root(app: ZhangbanApp, caseFromNotice: String?, onCaseShown: () -> Unit) {
    val lang = Lang.of(LocalConfiguration.current.locales[0])
    var attempt by remember { mutableIntStateOf(0) }
    var opening by remember { mutableStateOf<Opening>(Opening.Busy) }
    LaunchedEffect(attempt) {
        opening = try {
            val z = app.zhangban()
            app.registerOnce(z)
            Opening.Ready(z)
        } catch (e: ZhangbanException) {
            Opening.Failed(e.text(lang)) // WrongKey, Storage, … with what to do, from the core
        }
    }
    when (val o = opening) {
        Opening.Busy -> Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
            Column(horizontalAlignment = Alignment.CenterHorizontally) {
                CircularProgressIndicator()
                Text(stringResource(R.string.opening), Modifier.padding(16.dp))
            }
        }
        is Opening.Failed -> Column(Modifier.fillMaxSize().padding(24.dp)) {
            Text(o.text, color = MaterialTheme.colorScheme.error)
            Button(onClick = { opening = Opening.Busy; attempt++ }) { Text(stringResource(R.string.retry)) }
        }
        is Opening.Ready -> Tabs(o.z, lang, caseFromNotice, onCaseShown)
    }
}

@Composable
private fun Tabs(z: Zhangban, lang: Lang, caseFromNotice: String?, onCaseShown: () -> Unit) {
    var tab by remember { mutableIntStateOf(0) }
    LaunchedEffect(caseFromNotice) { if (caseFromNotice != null) tab = 2 }
    Scaffold(
        bottomBar = {
            NavigationBar {
                listOf(R.string.tab_wallet, R.string.tab_services, R.string.tab_cases).forEachIndexed { i, label ->
                    NavigationBarItem(
                        selected = tab == i,
                        onClick = { tab = i },
                        icon = {},
                        label = { Text(stringResource(label)) },
                    )
                }
            }
        },
    ) { padding ->
        Box(Modifier.padding(padding).fillMaxSize()) {
            when (tab) {
                0 -> WalletScreen(z, lang)
                1 -> ServicesScreen(z, lang, onSubmitted = { tab = 2 })
                else -> CasesScreen(z, lang, caseFromNotice, onCaseShown)
            }
        }
    }
}
