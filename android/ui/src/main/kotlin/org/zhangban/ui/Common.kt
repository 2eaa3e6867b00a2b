package org.zhangban.ui

import androidx.compose.foundation.layout.BoxWithConstraints
import androidx.compose.foundation.layout.PaddingValues
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyListState
import androidx.compose.material3.LocalTextStyle
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.SideEffect
import androidx.compose.runtime.mutableStateMapOf
import androidx.compose.runtime.derivedStateOf
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.platform.LocalDensity
import androidx.compose.ui.Alignment
import androidx.compose.ui.text.rememberTextMeasurer
import androidx.compose.ui.text.style.TextOverflow
import androidx.compose.ui.unit.Constraints
import androidx.compose.ui.unit.isSpecified
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.Typography
import androidx.compose.runtime.Composable
import androidx.compose.runtime.ProvidableCompositionLocal
import androidx.compose.runtime.compositionLocalOf
import androidx.compose.runtime.staticCompositionLocalOf
import androidx.compose.ui.Modifier
import androidx.compose.ui.semantics.SemanticsPropertyKey
import androidx.compose.ui.semantics.SemanticsPropertyReceiver
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.text.TextStyle
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Locale
import org.zhangban.kit.Lang
import org.zhangban.kit.text
import uniffi.zhangban_base.userAuthenticationPromptTitle
import uniffi.zhangban_ffi.ZhangbanException

/**
 * What the screens need from the platform and cannot get from Compose: the Android app implements it
 * (window flags, brightness, the system file picker), the desktop tests implement it with plain JVM code.
 */
interface Host {
    /**
     * 亮证 is on screen ([on]) or gone: keep the window out of screenshots, screen recording and the app
     * switcher, and turn the brightness up so a scanner reads the code; restore both when [on] is false.
     */
    fun protectScreen(on: Boolean)

    /** A file picker: returns what opens it; [onPicked] gets the file, or null when the person cancelled. */
    @Composable
    fun rememberFilePicker(onPicked: (PickedFile?) -> Unit): () -> Unit

    /**
     * The folder the backup files go to (Android: `files/backup/`, the one folder Auto Backup and device
     * transfer carry; the files are sealed under the recovery code).
     */
    fun backupFolder(): java.io.File

    /**
     * The backup files of a restore on a new phone: a multiple selection (the full backup and its increments,
     * in any order) in the system's document picker; [onPicked] gets private copies the core can read by
     * path (a content URI is not a path), or null when the person cancelled.
     */
    @Composable
    fun rememberBackupPicker(onPicked: (List<java.io.File>?) -> Unit): () -> Unit

    /**
     * The camera reading a QR code (核验 and engagement mode): returns what opens it, or null where this
     * device has none (the screen then offers only pasting the code's text); [onScanned] gets the decoded
     * text, or null when the person cancelled.
     */
    @Composable
    fun rememberCodeScanner(onScanned: (String?) -> Unit): (() -> Unit)?

    /**
     * The person confirms it is them (Android: BiometricPrompt, a strong biometric or the screen lock), with the
     * core's [title] and [reason]. Asked only by [asPerson], when the core said `NeedsUserAuthentication` (the
     * platform gates the key of the store's data key: finding 6). True once they did; false when they cancelled
     * or the device cannot ask.
     */
    suspend fun confirmPerson(title: String, reason: String): Boolean
}

/**
 * Runs [block]; when the core says the person must confirm it is them first (`NeedsUserAuthentication`: the
 * core's rule of when to ask), asks the host once in the core's words and runs [block] again. A refusal or a
 * cancel gives the core's error back (the screen shows its text). Nothing else is asked, and nothing is retried.
 */
suspend fun <T> asPerson(host: Host, lang: Lang, block: suspend () -> T): T =
    try {
        block()
    } catch (e: ZhangbanException.NeedsUserAuthentication) {
        if (!confirmedPerson(host, lang, e)) throw e
        block()
    }

/** Asks the host to confirm the person, in the core's words for [e]; true once they have. */
suspend fun confirmedPerson(host: Host, lang: Lang, e: ZhangbanException.NeedsUserAuthentication): Boolean =
    host.confirmPerson(lang.pick(userAuthenticationPromptTitle()), e.text(lang))

/** A file the person picked: its display name and its bytes (read off the main thread). */
class PickedFile(val name: String, val read: suspend () -> ByteArray)

/** The platform pieces; the host provides them around [ZhangbanRoot]. */
val LocalHost: ProvidableCompositionLocal<Host> = staticCompositionLocalOf { error("no Host provided") }

/** The language of the screens (from the device's locale on Android; set by the tests). */
val LocalLang: ProvidableCompositionLocal<Lang> = compositionLocalOf { Lang.current() }

/**
 * The app's theme. [fontFamily] replaces the default font everywhere (the desktop tests pin a CJK font so
 * renders are the same on every machine; the Android app leaves it null: the system font).
 */
@Composable
fun ZhangbanTheme(fontFamily: FontFamily? = null, content: @Composable () -> Unit) {
    val base = Typography()
    val typography = if (fontFamily == null) base else base.withFont(fontFamily)
    MaterialTheme(typography = typography, content = content)
}

private fun Typography.withFont(f: FontFamily): Typography {
    fun TextStyle.f() = copy(fontFamily = f)
    return Typography(
        displayLarge.f(), displayMedium.f(), displaySmall.f(),
        headlineLarge.f(), headlineMedium.f(), headlineSmall.f(),
        titleLarge.f(), titleMedium.f(), titleSmall.f(),
        bodyLarge.f(), bodyMedium.f(), bodySmall.f(),
        labelLarge.f(), labelMedium.f(), labelSmall.f(),
    )
}

/**
 * Marks what changes from run to run by itself (a QR code, a countdown, a clock time, a random case id):
 * accessibility ignores it; the golden-image tests paint over it before comparing.
 */
val ChangesByItself = SemanticsPropertyKey<Boolean>("ChangesByItself")
private var SemanticsPropertyReceiver.changesByItself by ChangesByItself

fun Modifier.changesByItself(): Modifier = semantics { changesByItself = true }

/** The text a QR code on screen encodes (what a camera would read from it). */
val QrPayload = SemanticsPropertyKey<String>("QrPayload")
var SemanticsPropertyReceiver.qrPayload by QrPayload

fun nowSecs(): Long = System.currentTimeMillis() / 1000

fun Lang.locale(): Locale = if (this == Lang.ZH) Locale.SIMPLIFIED_CHINESE else Locale.UK

private val formatters = Lang.entries.associateWith {
    DateTimeFormatter.ofLocalizedDateTime(FormatStyle.SHORT).withLocale(it.locale())
}

/** A time in the device's zone, formatted for [lang] (a formatter per language: switching language follows). */
fun formatTime(unixSecs: Long, lang: Lang): String =
    formatters.getValue(lang).withZone(ZoneId.systemDefault()).format(Instant.ofEpochSecond(unixSecs))

@Composable
fun ErrorText(text: String?, modifier: Modifier = Modifier) {
    if (text != null) Text(text, color = MaterialTheme.colorScheme.error, modifier = modifier.padding(8.dp))
}

/** The core's error in the screen's language (kept as the error, so a language switch re-words it). */
@Composable
fun ErrorText(error: ZhangbanException?) = ErrorText(error?.text(LocalLang.current))

@Composable
fun SectionTitle(text: String) {
    Text(text, style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(vertical = 8.dp))
}

/**
 * Where the item [anchor] picks (by key) is laid out now: its key and its offset in the list. Taken before a
 * reloaded answer is shown, and given to [KeepPlace] with it. Nothing that arrives after the first frame may push
 * an action down (a button that moved under a click lost it; ADR 0035, 0040): a notice that reloads a screen is
 * such an answer.
 */
fun LazyListState.placeOf(anchor: (Any) -> Boolean): Pair<Any, Int>? =
    layoutInfo.visibleItemsInfo.firstOrNull { anchor(it.key) }?.let { it.key to it.offset }

/**
 * Holds the item at [place] (from [placeOf]) where it was, in the composition that shows the new answer: the list
 * lays the answer out with that item at the same offset, what arrived above it above it (scroll up to see it).
 * [newIndex] is the key's index in the new list (null: gone, nothing held); [done] clears [place]. In a
 * `SideEffect`, after the new items are composed: asked for from the coroutine that set the answer, the list was
 * measured once with the old items and the new position, and held the wrong item (seen: a 待办 card one card too
 * high).
 */
@Composable
fun LazyListState.KeepPlace(place: Pair<Any, Int>?, newIndex: (Any) -> Int?, done: () -> Unit) {
    if (place != null) {
        SideEffect {
            newIndex(place.first)?.let { requestScrollToItem(it, -place.second) }
            done()
        }
    }
}

/**
 * Room after the last item, as tall as the list itself: what [KeepPlace] holds in place stays there even
 * when the list is shorter than the screen (a list that cannot scroll cannot hold an item below content that
 * grew: the case detail's complaint button moved down by the deadline line that way). Empty space, below the
 * content; read through `derivedStateOf`, so a scroll does not recompose.
 */
@Composable
fun LazyListState.roomToKeepPlace(): PaddingValues {
    val height by remember(this) { derivedStateOf { layoutInfo.viewportSize.height } }
    return PaddingValues(bottom = with(LocalDensity.current) { height.toDp() })
}

/** Runs [block]; the core's error is returned (to show), null on success. */
suspend fun attempt(block: suspend () -> Unit): ZhangbanException? =
    try {
        block()
        null
    } catch (e: ZhangbanException) {
        e
    }

/**
 * Labels that share one text size (the bottom bar's five tabs): each [FitText] of the group reports the
 * largest scale at which it fits its own width, and all of them are drawn at the smallest of those. At font
 * scale 2 "我的办件" / "My cases" alone was shrunk to about half the size of the other four.
 */
class FitGroup {
    private val scales = mutableStateMapOf<String, Float>()

    internal fun report(text: String, scale: Float) {
        scales[text] = scale
    }

    internal fun forget(text: String) {
        scales.remove(text)
    }

    internal fun scaleFor(own: Float): Float = minOf(own, scales.values.minOrNull() ?: own)
}

/**
 * One line of text that fits its width: at the text size the person chose when it fits, else the largest
 * smaller size that does (down to [minScale] of it, then cut with an ellipsis). For labels in a fixed width,
 * such as the bottom bar's five tabs: at font scale 2, "Settings" and "我的办件" were cut to "Setti", "我的".
 * In a [group], every label takes the group's smallest size, so the labels stay even.
 */
@Composable
fun FitText(text: String, modifier: Modifier = Modifier, minScale: Float = 0.5f, group: FitGroup? = null) {
    val style = LocalTextStyle.current
    val measurer = rememberTextMeasurer()
    BoxWithConstraints(modifier, contentAlignment = Alignment.Center) {
        val width = constraints.maxWidth
        val own = remember(text, style, width, measurer) {
            var scale = 1f
            while (scale > minScale && width != Constraints.Infinity &&
                measurer.measure(text, style.scaled(scale), maxLines = 1, softWrap = false, constraints = Constraints(maxWidth = width))
                    .hasVisualOverflow
            ) {
                scale -= 0.05f
            }
            scale
        }
        if (group != null) {
            DisposableEffect(group, text, own) {
                group.report(text, own)
                onDispose { group.forget(text) }
            }
        }
        val scale = group?.scaleFor(own) ?: own
        Text(text, style = style.scaled(scale), maxLines = 1, softWrap = false, overflow = TextOverflow.Ellipsis)
    }
}

private fun TextStyle.scaled(scale: Float): TextStyle =
    if (scale == 1f) {
        this
    } else {
        copy(fontSize = fontSize * scale, lineHeight = if (lineHeight.isSpecified) lineHeight * scale else lineHeight)
    }
