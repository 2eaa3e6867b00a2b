package org.zhangban.jvmtest

import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Json
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.stateText
import org.zhangban.kit.text
import uniffi.zhangban_ffi.CaseNoticeKind
import uniffi.zhangban_ffi.SubmissionInput
import uniffi.zhangban_ffi.selfSubject

/**
 * Cases through the Kotlin layer against the sandbox platform: the case list is a StateFlow that follows
 * the core's CaseListener notices (the clerk accepts at the counter, the next sync brings the event, the list
 * updates without the screen asking), notices carry the core's texts in both languages, progress counts
 * working days, and a supplement request shows what is needed.
 */
class KitCasesTest : SandboxTest("cases") {
    @Test
    fun theCaseListFollowsClerkEventsThroughTheListener() = runBlocking {
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "s").path, AesGcmKeyVault { key }, null, sandbox.url)
        assertFalse(z.isRegistered())
        z.registerDevice("android", "jvm-test", "0")
        assertTrue(z.isRegistered(), "the registration is kept in the store")
        val photo = z.store.writeAttachment(selfSubject(), "photo.jpg", ByteArray(20_000) { (it % 253).toByte() })
        val code = sandbox.catalogCodes().first()
        val submitted = z.casesApi.submit(
            SubmissionInput(
                itemCodes = listOf(code),
                title = "居住证申领",
                valuesJson = Json.encode(mapOf("name" to "李奶奶", "address" to "杭州市西湖区")),
                attachmentIds = listOf(photo.id),
                deferredMaterials = emptyList(),
                subject = selfSubject(),
            ),
        )
        assertEquals("queued", submitted.state)
        z.syncNow()
        val receipt = z.cases.value.single().receipt
        assertNotNull(receipt)

        // The clerk accepts by receipt number. The sync below goes straight to the generated API, not through
        // the facade: only the listener can tell the StateFlow.
        sandbox.clerk("accept", receipt, "--days", "5", "--clerk", "王芳")
        val notice = async(start = CoroutineStart.UNDISPATCHED) {
            z.notices.first { it.kind == CaseNoticeKind.STATE_CHANGED }
        }
        val report = z.casesApi.syncNow()
        assertTrue(report.eventsApplied >= 1u, report.toString())
        val accepted = withTimeout(10_000) { z.cases.first { l -> l.any { it.state == "accepted" } } }.single()
        assertEquals(submitted.id, accepted.id)
        assertEquals("已受理", accepted.stateText(Lang.ZH))
        assertEquals(accepted.stateEn, accepted.stateText(Lang.EN))
        val changed = withTimeout(10_000) { notice.await() }
        assertEquals(submitted.id, changed.caseId)
        assertEquals(changed.titleZh, changed.text(Lang.ZH).title)
        assertEquals(changed.bodyEn, changed.text(Lang.EN).body)

        val p = z.progress(submitted.id)
        assertEquals(5L, p.workingDaysLeft)
        assertNotNull(p.promisedDate)
        assertFalse(p.overdue)
        assertTrue(p.timeline.any { it.actor == "clerk:王芳" }, p.timeline.toString())
        val acceptedStep = p.timeline.last { it.actor == "clerk:王芳" }
        assertEquals("已受理", acceptedStep.stateText(Lang.ZH))
        assertEquals("accepted", acceptedStep.stateText(Lang.EN))

        // A supplement request: the list follows, and the screen shows what is needed, in both languages.
        sandbox.clerk("supplement", receipt, "--items", "身份证复印件", "--due-days", "3")
        z.casesApi.syncNow()
        withTimeout(10_000) { z.cases.first { l -> l.any { it.state == "supplement_requested" } } }
        val need = z.progress(submitted.id).neededNow.single()
        assertEquals("supplement", need.kind)
        assertEquals(3L, need.workingDaysLeft)
        assertTrue(need.text(Lang.ZH).contains("身份证复印件"), need.textZh)
        assertTrue(need.text(Lang.EN).startsWith("Supply"), need.textEn)
        z.close()
    }

    @Test
    fun theBackgroundSyncLoopAndTheListenerKeepTheListCurrentWithoutAnyManualSync() = runBlocking {
        val z = Zhangban.open(File(tmp, "bg").path, AesGcmKeyVault { aesKey() }, null, sandbox.url)
        z.registerDevice("android", "jvm-test", "0")
        z.startBackgroundSync()
        val photo = z.store.writeAttachment(selfSubject(), "p.jpg", ByteArray(1_000) { 7 })
        val case = z.casesApi.submit(
            SubmissionInput(
                itemCodes = listOf(sandbox.catalogCodes().first()),
                title = "后台同步",
                valuesJson = Json.encode(mapOf("name" to "王大爷")),
                attachmentIds = listOf(photo.id),
                deferredMaterials = emptyList(),
                subject = selfSubject(),
            ),
        )
        // submit() nudges the loop: it sends, the receipt notice arrives, the StateFlow follows.
        val sent = withTimeout(15_000) { z.cases.first { l -> l.any { it.id == case.id && it.receipt != null } } }
        val receipt = sent.single().receipt!!
        sandbox.clerk("accept", receipt, "--days", "3")
        z.casesApi.nudge() // what the app does when the network comes back
        withTimeout(15_000) { z.cases.first { l -> l.any { it.id == case.id && it.state == "accepted" } } }
        assertEquals(3L, z.progress(case.id).workingDaysLeft)
        z.shutdown()
    }
}
