package org.zhangban.uitest

import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.semantics.getOrNull
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.SemanticsMatcher
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.hasSetTextAction
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.performTextInput
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.PhoneBackup
import org.zhangban.kit.Zhangban
import org.zhangban.ui.BACKUP_FILE
import org.zhangban.ui.BackupScreen
import org.zhangban.ui.Tab
import org.zhangban.ui.ZhangbanTabs
import org.zhangban.ui.incrementFile

/**
 * 备份与换机, reached from 设置, over the real library: no code yet (backing up is not possible), a code made and
 * shown once (masked in the goldens: it is random), typed back and checked; a full backup, then one with only
 * the changes, into the host's backup folder; the two files restore as a chain on a "new phone". Rendered zh/en ×
 * font scale 1/2 (the screen on its own: the bottom bar belongs to the tabs) and compared with the goldens.
 */
@OptIn(ExperimentalTestApi::class)
class BackupScreensTest : SandboxTest("backup-ui") {
    @Test
    fun backupScreenFromSettingsDrivenAssertedAndRendered() {
        val key = aesKey()
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { key }, null, sandbox.url) }
        val folder = File(tmp, "backups")
        val host = TestHost(folder)
        var alone by mutableStateOf(false)
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(host) {
                if (alone) BackupScreen(z, onBack = {}) else ZhangbanTabs(z, null, {}, start = Tab.Settings)
            }
            // Reached from 设置.
            waitForText("备份与换机")
            onNodeWithText("备份与换机").performScrollTo().performClick()
            waitForText("还没有恢复码", substring = true)
            assertFalse(shown("设置 PIN"), "the backup screen replaced the settings")
            runOnIdle { alone = true }
            waitForText("还没有恢复码", substring = true)
            onNodeWithText("完整备份").assertIsNotEnabled()
            cam.shoot("backup-no-code")

            onNodeWithText("生成恢复码").performClick()
            waitForText("请抄在纸上", substring = true)
            val codeShape = Regex("^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$")
            val isCode = SemanticsMatcher("the recovery code") { node ->
                node.config.getOrNull(SemanticsProperties.Text)?.any { codeShape.matches(it.text) } == true
            }
            val code = onNode(isCode).fetchSemanticsNode().config[SemanticsProperties.Text].first().text
            onNode(hasSetTextAction()).performTextInput(code.lowercase())
            onNodeWithText("核对").performClick()
            waitForText("核对无误", substring = true)
            assertFalse(shown(code), "the code is not on screen once checked")
            onNodeWithText("完整备份").assertIsEnabled().performClick()
            waitForText("已保存完整备份。")
            assertTrue(File(folder, BACKUP_FILE).isFile)
            onNodeWithText("只备份变化").performClick()
            waitForText("已保存第 1 个增量", substring = true)
            assertTrue(File(folder, incrementFile(1u)).isFile)
            cam.shoot("backup-saved")

            // The two files restore as a chain on a new phone, with the code that was written down.
            val files = listOf(File(folder, BACKUP_FILE).path, File(folder, incrementFile(1u)).path)
            val newKey = aesKey()
            val (restored, summary) = runBlocking {
                PhoneBackup.restoreChain(files, code, File(tmp, "new-phone").path, AesGcmKeyVault { newKey }, null)
            }
            assertEquals(2u, summary.files)
            restored.close()
            cam.verify()
        }
        z.close()
    }
}
