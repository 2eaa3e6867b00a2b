package org.zhangban.uitest

import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.LocalRippleConfiguration
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.getValue
import androidx.compose.runtime.saveable.LocalSaveableStateRegistry
import androidx.compose.runtime.saveable.SaveableStateRegistry
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.geometry.Size
import androidx.compose.ui.graphics.toAwtImage
import androidx.compose.ui.focus.FocusManager
import androidx.compose.ui.platform.LocalDensity
import androidx.compose.ui.platform.LocalFocusManager
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.semantics.SemanticsActions
import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.test.SemanticsMatcher
import androidx.compose.ui.test.hasText
import androidx.compose.ui.text.TextLayoutResult
import androidx.compose.ui.test.SkikoComposeUiTest
import androidx.compose.ui.text.platform.Font
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.Density
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.LifecycleRegistry
import androidx.lifecycle.compose.LocalLifecycleOwner
import java.awt.Color
import java.awt.image.BufferedImage
import java.io.File
import javax.imageio.ImageIO
import org.zhangban.kit.Lang
import org.zhangban.ui.ChangesByItself
import org.zhangban.ui.Chrome
import org.zhangban.ui.Host
import org.zhangban.ui.LocalHost
import org.zhangban.ui.LocalLang
import org.zhangban.ui.PickedFile
import org.zhangban.ui.ZhangbanTheme

/** Screen size of every render: 360 × 760 dp at density 1 (so 360 × 760 pixels). */
val SCREEN = Size(360f, 760f)

/** One way of looking at a screen: a language and a font scale (1 = default, 2 = the largest text). */
data class Variant(val lang: Lang, val fontScale: Float) {
    val suffix: String get() = "${lang.name.lowercase()}-x${fontScale.toInt()}"
}

val VARIANTS = listOf(Variant(Lang.ZH, 1f), Variant(Lang.EN, 1f), Variant(Lang.ZH, 2f), Variant(Lang.EN, 2f))

/** The desktop [Host]: records what 亮证 asked of the window; the file picker gives a fixed small JPEG-ish file. */
class TestHost(private val backups: File = kotlin.io.path.createTempDirectory("zb-backups").toFile()) : Host {
    var protected = false
        private set
    val protectCalls = mutableListOf<Boolean>()
    var picks = 0
        private set

    override fun protectScreen(on: Boolean) {
        protected = on
        protectCalls += on
    }

    @Composable
    override fun rememberFilePicker(onPicked: (PickedFile?) -> Unit): () -> Unit = {
        picks++
        onPicked(PickedFile("id-card.jpg") { byteArrayOf(-1, -40, -1, 0xE0.toByte(), 1, 2, 3, 4) })
    }

    override fun backupFolder(): File = backups

    /** What the backup picker of a restore gives next (the tests put the files here, in the order picked). */
    var nextBackupFiles: List<File>? = null

    @Composable
    override fun rememberBackupPicker(onPicked: (List<File>?) -> Unit): () -> Unit = { onPicked(nextBackupFiles) }

    /** What the camera reads next (the tests put a code's text here, as a person holds up a phone). */
    var nextScan: String? = null
    var scans = 0
        private set

    @Composable
    override fun rememberCodeScanner(onScanned: (String?) -> Unit): (() -> Unit)? = {
        scans++
        onScanned(nextScan)
    }

    /** What the person answers when asked to confirm it is them (the tests set it), and what they were shown. */
    var confirms = true
    val confirmPrompts = mutableListOf<Pair<String, String>>()
    var onConfirm: () -> Unit = {}

    override suspend fun confirmPerson(title: String, reason: String): Boolean {
        confirmPrompts += title to reason
        if (confirms) onConfirm()
        return confirms
    }
}

private class Resumed : LifecycleOwner {
    private val registry = LifecycleRegistry.createUnsafe(this).apply { currentState = Lifecycle.State.RESUMED }
    override val lifecycle: Lifecycle get() = registry
}

/** The pinned CJK font (fonts-wqy-microhei): renders are the same on every machine that has it. */
val pinnedFont: FontFamily by lazy {
    val path = System.getProperty("zhangban.font") ?: "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    val file = File(path)
    check(file.isFile) { "$path is missing: install the Debian package fonts-wqy-microhei (tests/run.sh does, as root)" }
    FontFamily(Font(file))
}

/**
 * Holds the variant the screens are shown in and takes the pictures: each [shoot] renders the current screen
 * in every [VARIANTS] entry, writes the PNG as shown to `target/screens/NAME-VARIANT.png`, paints over what
 * changes by itself (QR codes, countdowns, clock times, case ids: [ChangesByItself]) and compares that with
 * the golden `src/test/goldens/NAME-VARIANT.png` pixel for pixel; `-Dzhangban.goldens=update` rewrites the
 * goldens instead. Mismatches are collected; [verify] fails with all of them at the end.
 */
@OptIn(ExperimentalTestApi::class)
class Camera(private val test: SkikoComposeUiTest, private val noHover: Boolean = true) {
    var variant by mutableStateOf(VARIANTS[0])
    private val screens = File(System.getProperty("zhangban.screens.dir") ?: "target/screens").apply { mkdirs() }
    private val goldens = File(System.getProperty("zhangban.goldens.dir") ?: "src/test/goldens")
    private val update = System.getProperty("zhangban.goldens") == "update"
    val problems = mutableListOf<String>()
    val shot = mutableListOf<String>()

    private var focus: FocusManager? = null

    // A rotation: the activity is recreated; what the screens put in rememberSaveable is saved and restored,
    // everything else is composed anew (as StateRestorationTester does: the same composition structure, so
    // the saveable keys match).
    private var present by mutableStateOf(true)
    private var registry by mutableStateOf(SaveableStateRegistry(emptyMap()) { true })

    @OptIn(ExperimentalMaterial3Api::class)
    fun setContent(host: Host, content: @Composable () -> Unit) {
        val owner = Resumed()
        test.setContent {
            if (present) {
                focus = LocalFocusManager.current
                CompositionLocalProvider(
                    LocalSaveableStateRegistry provides registry,
                    LocalHost provides host,
                    LocalLang provides variant.lang,
                    LocalDensity provides Density(1f, variant.fontScale),
                    LocalLifecycleOwner provides owner,
                    // With noHover, no render depends on the pointer: the desktop scene keeps the pointer where
                    // the last click left it, and a Material ripple draws a hover layer on what is under it
                    // (seen: backup-saved and backup-no-code renders with the button last clicked highlighted,
                    // now and then). Without a ripple there is no hover or press layer to catch mid-fade; the
                    // screens are the same otherwise. BackupScreensTest hovers a button on purpose. Turned on
                    // for every test by default (ADR 0029; the 13 goldens that held such a layer were rendered again).
                    LocalRippleConfiguration provides if (noHover) null else LocalRippleConfiguration.current,
                ) {
                    ZhangbanTheme(fontFamily = pinnedFont, content = content)
                }
            }
        }
    }

    /** Saves the saveable state, throws the composition away and composes it again from that state. */
    fun rotate() {
        test.runOnIdle {
            val saved = registry.performSave()
            present = false
            registry = SaveableStateRegistry(saved) { true }
        }
        test.waitForIdle()
        test.runOnIdle { present = true }
        test.waitForIdle()
    }

    /** Renders the current screen in every variant, then goes back to the first (Chinese, scale 1). */
    fun shoot(name: String) {
        for (v in VARIANTS) {
            variant = v
            val (image, masked) = settled()
            checkTabLabels(v)
            val file = "$name-${v.suffix}.png"
            ImageIO.write(image, "png", File(screens, file))
            val golden = File(goldens, file)
            if (update) {
                goldens.mkdirs()
                ImageIO.write(masked, "png", golden)
            } else if (!golden.isFile) {
                problems += "$file: no golden (run with -Dzhangban.goldens=update, look at it, commit it)"
                ImageIO.write(masked, "png", File(screens, "$name-${v.suffix}.masked.png"))
            } else if (!samePixels(masked, ImageIO.read(golden))) {
                // What CI prints is all there is of a failed run: where the render differs and what the screen said.
                problems += "$file: differs from src/test/goldens/$file (new render: target/screens/$name-${v.suffix}.masked.png)" +
                    "\n  rows that differ: ${differingRows(masked, ImageIO.read(golden))}\n  on screen: ${textsOnScreen()}"
                ImageIO.write(masked, "png", File(screens, "$name-${v.suffix}.masked.png"))
            }
            shot += file
        }
        variant = VARIANTS[0]
        test.waitForIdle()
    }

    /**
     * The screen (as shown, masked) once it has stopped moving: no focus (a blinking cursor has no stable
     * phase), then captures a second of test-clock time apart until two masked ones are the same.
     */
    private fun settled(): Pair<BufferedImage, BufferedImage> {
        test.runOnUiThread { focus?.clearFocus(force = true) }
        test.waitForIdle()
        var last = test.captureToImage().toAwtImage().let { it to mask(it) }
        repeat(10) {
            test.mainClock.advanceTimeBy(1000)
            test.waitForIdle()
            val now = test.captureToImage().toAwtImage().let { it to mask(it) }
            if (samePixels(now.second, last.second)) return now
            last = now
        }
        error("the screen did not settle within 10 s of test-clock time")
    }

    /**
     * The bottom bar's five labels, where the screen has the bar: one text size for all five, each whole (not
     * cut). At font scale 2 "我的办件" / "My cases" alone was shrunk to about half the size of the others.
     */
    private fun checkTabLabels(v: Variant) {
        val c = Chrome(v.lang)
        val labels = listOf(c.tabTodo, c.tabWallet, c.tabServices, c.tabCases, c.tabSettings)
        val found = labels.mapNotNull { label ->
            test.onAllNodes(hasText(label), useUnmergedTree = true).fetchSemanticsNodes(atLeastOneRootRequired = false)
                .firstOrNull { it.boundsInRoot.top > SCREEN.height - 100f && SemanticsActions.GetTextLayoutResult in it.config }
                ?.let { node ->
                    val layouts = mutableListOf<TextLayoutResult>()
                    node.config[SemanticsActions.GetTextLayoutResult].action?.invoke(layouts)
                    label to layouts.single()
                }
        }
        if (found.isEmpty()) return // a screen without the bar (agent mode)
        check(found.size == labels.size) { "${v.suffix}: only ${found.map { it.first }} of the tab labels $labels" }
        val sizes = found.map { it.second.layoutInput.style.fontSize }
        check(sizes.distinct().size == 1) { "${v.suffix}: tab labels at different sizes: ${found.map { it.first }.zip(sizes)}" }
        for ((label, layout) in found) {
            // whole: its natural width fits the width it got (didOverflowWidth compares with the width laid out at)
            val whole = layout.multiParagraph.intrinsics.maxIntrinsicWidth <= layout.size.width + 0.5f
            check(whole && !layout.isLineEllipsized(0) && layout.lineCount == 1) {
                "${v.suffix}: tab label '$label' is cut (width overflow ${layout.didOverflowWidth}, ellipsis " +
                    "${layout.isLineEllipsized(0)}, ${layout.lineCount} lines, ${layout.size} for ${layout.multiParagraph.intrinsics.maxIntrinsicWidth})"
            }
        }
        tabChecks++
    }

    /** How many times the bottom bar was checked (every render that shows it). */
    var tabChecks = 0
        private set

    private fun mask(image: BufferedImage): BufferedImage {
        val copy = BufferedImage(image.width, image.height, BufferedImage.TYPE_INT_ARGB)
        val g = copy.createGraphics()
        g.drawImage(image, 0, 0, null)
        g.color = Color(0x9E, 0x9E, 0x9E)
        val nodes = test.onAllNodes(SemanticsMatcher.keyIsDefined(ChangesByItself), useUnmergedTree = true)
            .fetchSemanticsNodes(atLeastOneRootRequired = false)
        for (n in nodes) {
            val b = n.boundsInRoot
            // To the right edge: a text's own width changes with what it says (a time "13:52" is narrower
            // than "14:23" in a proportional font), and a mask that follows it would change the render.
            g.fillRect(b.left.toInt(), b.top.toInt(), image.width - b.left.toInt(), b.height.toInt() + 1)
        }
        g.dispose()
        return copy
    }

    /** The first and last pixel rows where [a] and [b] differ (or their sizes, if those differ). */
    private fun differingRows(a: BufferedImage, b: BufferedImage): String {
        if (a.width != b.width || a.height != b.height) return "sizes ${a.width}x${a.height} and ${b.width}x${b.height}"
        val rows = (0 until a.height).filter { y -> (0 until a.width).any { x -> a.getRGB(x, y) != b.getRGB(x, y) } }
        return if (rows.isEmpty()) "none" else "y ${rows.first()}..${rows.last()} (${rows.size} rows)"
    }

    /** Every text on screen with the top of its bounds, top to bottom (the unmerged tree, as laid out now). */
    private fun textsOnScreen(): String =
        test.onAllNodes(SemanticsMatcher.keyIsDefined(SemanticsProperties.Text), useUnmergedTree = true)
            .fetchSemanticsNodes(atLeastOneRootRequired = false)
            .sortedBy { it.boundsInRoot.top }
            .joinToString(" | ") { n -> "${n.boundsInRoot.top.toInt()}: ${n.config[SemanticsProperties.Text].joinToString(" ")}" }

    private fun samePixels(a: BufferedImage, b: BufferedImage): Boolean {
        if (a.width != b.width || a.height != b.height) return false
        for (y in 0 until a.height) for (x in 0 until a.width) if (a.getRGB(x, y) != b.getRGB(x, y)) return false
        return true
    }

    fun verify() {
        check(problems.isEmpty()) { "${problems.size} render(s) differ from the goldens:\n" + problems.joinToString("\n") }
    }
}
