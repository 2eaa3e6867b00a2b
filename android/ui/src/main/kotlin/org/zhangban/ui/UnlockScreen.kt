package org.zhangban.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.zhangban.kit.Zhangban
import org.zhangban.kit.text
import uniffi.zhangban_ffi.ZhangbanException

/**
 * The PIN screen (the store has a PIN and is locked: opened without it, or locked when the app left the
 * screen). Every rule is the core's: it counts an attempt before it checks it, says how many are left
 * (`WrongPin`), and after five wrong ones how long to wait (`Locked`), measured on the boot clock so setting
 * the phone's time back or forward changes nothing. The screen shows the core's words and the wait left,
 * and takes no PIN while the core would refuse it.
 */
@Composable
fun UnlockScreen(z: Zhangban) {
    val c = chrome()
    var pin by remember { mutableStateOf("") }
    var error by remember { mutableStateOf<ZhangbanException?>(null) }
    var busy by remember { mutableStateOf(false) }
    var wait by remember { mutableStateOf(0L) }
    var waitKnown by remember { mutableStateOf(false) }
    val scope = rememberCoroutineScope()
    val host = LocalHost.current
    // The wait left, from the core, once a second while there is one (at start too: a lockout survives a restart).
    LaunchedEffect(error) {
        while (true) {
            wait = try {
                z.lockoutRemaining()
            } catch (e: ZhangbanException) {
                0
            }
            waitKnown = true
            if (wait == 0L) break
            delay(1000)
        }
    }
    Column(Modifier.fillMaxSize().padding(24.dp).verticalScroll(rememberScrollState())) {
        Text(c.unlockTitle, style = MaterialTheme.typography.titleLarge, modifier = Modifier.padding(bottom = 8.dp))
        Text(c.unlockHint, style = MaterialTheme.typography.bodyMedium, modifier = Modifier.padding(bottom = 8.dp))
        PinField(pin, c.pinTitle) { pin = it }
        // The button waits for the core's first answer: a lockout carried over from before shows its wait above it,
        // and a button laid out before would move under the finger.
        if (!waitKnown) return@Column
        // The wait in the core's words, counted down (the refusal itself said the same once more).
        if (error !is ZhangbanException.Locked) ErrorText(error)
        if (wait > 0) ErrorText(ZhangbanException.Locked(wait.toULong()).text(c.lang))
        Button(
            enabled = pin.isNotEmpty() && wait == 0L && !busy,
            onClick = {
                busy = true
                scope.launch {
                    // PBKDF2 on purpose (about half a second): off the main thread. Success: [Zhangban.locked]
                    // turns false and the tabs replace this screen.
                    // The core may first want the person to confirm it is them (finding 6): the host asks.
                    error = attempt { asPerson(host, c.lang) { z.unlock(pin) } }
                    pin = ""
                    busy = false
                }
            },
            modifier = Modifier.padding(top = 8.dp),
        ) { Text(c.unlock) }
    }
}
