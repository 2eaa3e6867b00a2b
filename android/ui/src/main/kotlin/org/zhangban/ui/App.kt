package org.zhangban.ui

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.AccountBox
import androidx.compose.material.icons.filled.CheckCircle
import androidx.compose.material.icons.filled.List
import androidx.compose.material.icons.filled.Search
import androidx.compose.material.icons.filled.Settings
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.Icon
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.vector.ImageVector
import androidx.compose.ui.platform.LocalDensity
import androidx.compose.ui.unit.Density
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_remind.Screen

private sealed interface Opening {
    data object Busy : Opening
    data class Ready(val z: Zhangban) : Opening
    data class Failed(val error: ZhangbanException) : Opening
}

/**
 * The app: opens the store with [open] (off the main thread; the host registers the device in the
 * background, never in the way of the first screen), then the tabs. [caseFromNotice] opens a case from a
 * notification once; [onCaseShown] tells the host it was shown (so a rotation does not reopen it).
 */
@Composable
fun ZhangbanRoot(open: suspend () -> Zhangban, caseFromNotice: String?, onCaseShown: () -> Unit) {
    val c = chrome()
    var attempt by rememberSaveable { mutableStateOf(0) }
    var opening by remember { mutableStateOf<Opening>(Opening.Busy) }
    var prefs by rememberSaveable { mutableStateOf(Prefs()) }
    val host = LocalHost.current
    LaunchedEffect(attempt) {
        opening = try {
            // A store without a PIN opens with its gated vault key: the person may have to confirm it is them.
            Opening.Ready(asPerson(host, c.lang) { open() })
        } catch (e: ZhangbanException) {
            Opening.Failed(e) // WrongKey, Storage, … with what to do, from the core
        }
    }
    when (val o = opening) {
        Opening.Busy -> Box(Modifier.fillMaxSize(), contentAlignment = Alignment.Center) {
            Column(horizontalAlignment = Alignment.CenterHorizontally) {
                CircularProgressIndicator()
                Text(c.opening, Modifier.padding(16.dp))
            }
        }
        is Opening.Failed -> Column(Modifier.fillMaxSize().padding(24.dp)) {
            ErrorText(o.error)
            Button(onClick = { opening = Opening.Busy; attempt++ }) { Text(c.retry) }
        }
        is Opening.Ready -> {
            // The person's choices in 设置 apply to every screen: their language, larger text.
            val density = LocalDensity.current
            CompositionLocalProvider(
                LocalLang provides (prefs.lang ?: LocalLang.current),
                LocalDensity provides Density(density.density, density.fontScale * if (prefs.largeText) 1.3f else 1f),
            ) {
                // A store with a PIN opens locked, and locks again when the host calls lock(): the PIN screen.
                val locked by o.z.locked.collectAsStateWithLifecycle()
                if (locked) {
                    UnlockScreen(o.z)
                } else {
                    ZhangbanTabs(o.z, caseFromNotice, onCaseShown, prefs, onPrefs = { prefs = it })
                }
            }
        }
    }
}

/** The tabs of the app (the selected tab survives a rotation); 待办 first, as on iOS. */
enum class Tab { Todo, Wallet, Services, Cases, Settings }

@Composable
fun ZhangbanTabs(
    z: Zhangban,
    caseFromNotice: String?,
    onCaseShown: () -> Unit,
    prefs: Prefs = Prefs(),
    onPrefs: (Prefs) -> Unit = {},
    start: Tab = Tab.Todo,
) {
    val c = chrome()
    var tab by rememberSaveable { mutableStateOf(start) }
    // A case opened from 待办 (shown once by the cases tab, like one from a notification).
    var caseFromTodo by rememberSaveable { mutableStateOf<String?>(null) }
    LaunchedEffect(caseFromNotice) { if (caseFromNotice != null) tab = Tab.Cases }
    Scaffold(
        bottomBar = {
            NavigationBar {
                // The five labels at one size (the longest decides), each whole.
                val labels = remember { FitGroup() }
                for (t in Tab.entries) {
                    val (label, icon) = when (t) {
                        Tab.Todo -> c.tabTodo to Icons.Filled.CheckCircle
                        Tab.Wallet -> c.tabWallet to Icons.Filled.AccountBox
                        Tab.Services -> c.tabServices to Icons.Filled.Search
                        Tab.Cases -> c.tabCases to Icons.Filled.List
                        Tab.Settings -> c.tabSettings to Icons.Filled.Settings
                    }
                    NavigationBarItem(
                        selected = tab == t,
                        onClick = { tab = t },
                        // the label says it: the icon is decoration for a screen reader
                        icon = { TabIcon(icon) },
                        label = { FitText(label, group = labels) },
                    )
                }
            }
        },
    ) { padding ->
        Box(Modifier.padding(padding).fillMaxSize()) {
            when (tab) {
                Tab.Todo -> TodoScreen(z, onOpen = { screen, id ->
                    when (screen) {
                        Screen.CASE -> {
                            caseFromTodo = id
                            tab = Tab.Cases
                        }
                        Screen.LICENCE, Screen.RENEWAL, Screen.GRANT -> tab = Tab.Wallet
                        Screen.DRAFT -> tab = Tab.Services
                        else -> {} // the home itself, sync status, a principal: shown here
                    }
                })
                Tab.Wallet -> WalletScreen(z)
                Tab.Services -> ServicesScreen(z, onSubmitted = { tab = Tab.Cases })
                Tab.Cases -> CasesScreen(z, caseFromTodo ?: caseFromNotice) {
                    if (caseFromTodo != null) caseFromTodo = null else onCaseShown()
                }
                Tab.Settings -> SettingsScreen(z, prefs, onPrefs)
            }
        }
    }
}

@Composable
private fun TabIcon(icon: ImageVector) = Icon(icon, contentDescription = null)
