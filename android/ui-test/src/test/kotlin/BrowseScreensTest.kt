package org.zhangban.uitest

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.hasScrollToIndexAction
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollToNode
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import kotlin.test.Test
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.jvmtest.SandboxTest
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.ui.ZhangbanRoot

/**
 * 办事 without a query: the bundles (一件事一次办) and every item under its department, as the core's
 * `catalog_browse` lists them; a bundle opens its one-time checklist. Rendered in zh/en at font scale 1 and 2.
 */
@OptIn(ExperimentalTestApi::class)
class BrowseScreensTest : SandboxTest("browse") {
    @Test
    fun servicesBrowseByBundleAndDepartment() {
        val z = runBlocking { Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { aesKey() }, null, sandbox.url) }
        val all = runBlocking { z.browse() }
        assertTrue(all.bundles.isNotEmpty() && all.departments.size > 1, "the bundled catalog has bundles and departments")
        runSkikoComposeUiTest(SCREEN, Density(1f)) {
            val cam = Camera(this)
            cam.setContent(TestHost()) { ZhangbanRoot(open = { z }, caseFromNotice = null, onCaseShown = {}) }
            waitForText("办事")
            onNodeWithText("办事").performClick()
            waitForText("一件事一次办")
            cam.shoot("services-browse")
            val list = onNode(hasScrollToIndexAction())
            for (b in all.bundles) {
                list.performScrollToNode(hasText(Lang.ZH.pick(b.name)))
                assertTrue(shown(Lang.ZH.pick(b.name)), b.name.zh)
            }
            list.performScrollToNode(hasText("按部门"))
            for (d in all.departments) {
                list.performScrollToNode(hasText(Lang.ZH.pick(d.name)))
                for (i in d.items) {
                    list.performScrollToNode(hasText(Lang.ZH.pick(i.name)))
                    assertTrue(shown(Lang.ZH.pick(i.name)), "${d.name.zh}: ${i.name.zh}")
                }
            }
            // A bundle opens its 一次性告知, as a hit of the search does.
            val bundle = all.bundles.first()
            list.performScrollToNode(hasText(Lang.ZH.pick(bundle.name)))
            onNodeWithText(Lang.ZH.pick(bundle.name)).performClick()
            waitForText("所需材料（一次性告知）")
            assertTrue(shown(Lang.ZH.pick(bundle.name), substring = true))
            println("browse screens: ${cam.shot}")
            cam.verify()
        }
        z.close()
    }
}
