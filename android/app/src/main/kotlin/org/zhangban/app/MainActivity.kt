package org.zhangban.app

import android.Manifest
import android.content.Intent
import android.os.Build
import android.os.Bundle
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.platform.LocalConfiguration
import androidx.fragment.app.FragmentActivity
import org.zhangban.kit.Lang
import org.zhangban.ui.LocalHost
import org.zhangban.ui.LocalLang
import org.zhangban.ui.RestoreScreen
import org.zhangban.ui.ZhangbanRoot
import org.zhangban.ui.ZhangbanTheme

/**
 * A thin host: the screens are org.zhangban.ui (android/ui), the Android pieces are [AndroidHost]. A
 * FragmentActivity (a ComponentActivity) because BiometricPrompt needs one (finding 6).
 */
class MainActivity : FragmentActivity() {
    private val openCase = mutableStateOf<String?>(null)

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Only a fresh start reads the notification's case: after a rotation the intent is the same one, and
        // the case it named was shown already (the open case itself is saved state of the screens).
        if (savedInstanceState == null) openCase.value = takeCase(intent)
        val app = application as ZhangbanApp
        val host = AndroidHost(this)
        setContent {
            // the device's language now (a change of locale recreates the activity and re-reads it)
            val lang = Lang.of(LocalConfiguration.current.locales[0])
            // The first start on this phone: restore a backup (a new phone) or start afresh, before any store.
            var firstStart by rememberSaveable { mutableStateOf(app.firstStart()) }
            CompositionLocalProvider(LocalHost provides host, LocalLang provides lang) {
                ZhangbanTheme {
                    AskForNotifications()
                    if (firstStart) {
                        RestoreScreen(remember { app.newPhone() }, onRestored = { firstStart = false }, onFresh = { firstStart = false })
                    } else {
                        ZhangbanRoot(open = { app.zhangban() }, caseFromNotice = openCase.value) { openCase.value = null }
                    }
                }
            }
        }
    }

    // Lock on background (issue 13): leaving the screen binds the changes and starts the core's delay (leftTheScreen,
    // 30 s by default with a PIN), coming back cancels it. A rotation stops and starts the activity: not a leave.
    override fun onStart() {
        super.onStart()
        (application as ZhangbanApp).current()?.onForeground()
    }

    override fun onStop() {
        super.onStop()
        if (!isChangingConfigurations) (application as ZhangbanApp).current()?.onBackground()
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        takeCase(intent)?.let { openCase.value = it }
    }

    /** The case a notice or a reminder's deep link (`zhangban://case/<id>`) names; other links open the app. */
    private fun takeCase(intent: Intent): String? =
        intent.getStringExtra(Notifications.EXTRA_CASE_ID)?.also { intent.removeExtra(Notifications.EXTRA_CASE_ID) }
            ?: intent.data?.takeIf { it.scheme == "zhangban" && it.host == "case" }?.lastPathSegment
                ?.also { intent.data = null }
}

@Composable
private fun AskForNotifications() {
    if (Build.VERSION.SDK_INT < 33) return
    val launcher = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { }
    LaunchedEffect(Unit) { launcher.launch(Manifest.permission.POST_NOTIFICATIONS) }
}
