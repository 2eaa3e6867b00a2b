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
import org.zhangban.kit.text
import uniffi.zhangban_base.NoticeKind
import uniffi.zhangban_cases.CaseState
import uniffi.zhangban_cases.NeedKind
import uniffi.zhangban_cases.Submission
import uniffi.zhangban_base.selfSubject

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
        // One day for the phone and the clerk (see [oneDay]): the 5 and 3 working days below hold at any hour.
        val (clock, day) = oneDay()
        val z = Zhangban.open(File(tmp, "s").path, AesGcmKeyVault { key }, null, sandbox.url, clock = clock)
        assertFalse(z.isRegistered())
        z.registerDevice("android", "jvm-test", "0")
        assertTrue(z.isRegistered(), "the registration is kept in the store")
        val photo = z.store.writeAttachment(selfSubject(), "photo.jpg", ByteArray(20_000) { (it % 253).toByte() })
        val code = sandbox.catalogCodes().first()
        val submitted = z.casesApi.submit(
            selfSubject(),
            Submission(
                itemCodes = listOf(code),
                title = "居住证申领",
                values = Json.encode(mapOf("name" to "李奶奶", "address" to "杭州市西湖区")),
                attachments = listOf(photo.id),
                deferredMaterials = emptyList(),
            ),
        )
        assertEquals(CaseState.QUEUED, submitted.state)
        assertEquals(selfSubject(), submitted.subject)
        z.syncNow()
        val receipt = z.cases.value.single().receipt
        assertNotNull(receipt)

        // The clerk accepts by receipt number. The sync below goes straight to the generated API, not through
        // the facade: only the listener can tell the StateFlow.
        sandbox.clerk("accept", receipt, "--days", "5", "--clerk", "王芳", "--on", day)
        val notice = async(start = CoroutineStart.UNDISPATCHED) {
            z.notices.first { it.kind == NoticeKind.STATE_CHANGED }
        }
        val report = z.casesApi.syncNow()
        assertTrue(report.eventsApplied >= 1u, report.toString())
        val accepted = withTimeout(10_000) { z.cases.first { l -> l.any { it.state == CaseState.ACCEPTED } } }.single()
        assertEquals(submitted.id, accepted.id)
        assertEquals("已受理", Lang.ZH.pick(accepted.stateText))
        assertEquals("Accepted", Lang.EN.pick(accepted.stateText))
        val changed = withTimeout(10_000) { notice.await() }
        assertEquals(submitted.id, changed.caseId)
        assertEquals(changed.titleZh, changed.text(Lang.ZH).title)
        assertEquals(changed.bodyEn, changed.text(Lang.EN).body)

        val p = z.view(submitted.id)
        assertEquals(5L, p.workingDaysLeft)
        assertNotNull(p.promisedDate)
        assertFalse(p.overdue)
        assertTrue(p.timeline.any { it.actor == "clerk:王芳" }, p.timeline.toString())
        val acceptedStep = p.timeline.last { it.actor == "clerk:王芳" }
        assertEquals("已受理", Lang.ZH.pick(acceptedStep.stateText))
        assertEquals("Accepted", Lang.EN.pick(acceptedStep.stateText))
        assertTrue(Lang.ZH.pick(acceptedStep.note).contains("5"), acceptedStep.note.toString())

        // A supplement request: the list follows, and the screen shows what is needed, in both languages.
        sandbox.clerk("supplement", receipt, "--items", "身份证复印件", "--due-days", "3", "--on", day)
        z.casesApi.syncNow()
        withTimeout(10_000) { z.cases.first { l -> l.any { it.state == CaseState.SUPPLEMENT_REQUESTED } } }
        val view = z.view(submitted.id)
        val need = view.neededNow.single()
        assertEquals(NeedKind.SUPPLEMENT, need.kind)
        assertEquals(3L, need.workingDaysLeft)
        assertTrue(Lang.ZH.pick(need.text).contains("身份证复印件"), need.text.zh)
        assertTrue(Lang.EN.pick(need.text).startsWith("Supply"), need.text.en)
        assertTrue(view.actions.supplement && !view.actions.resubmit, view.actions.toString())
        z.close()
    }

    @Test
    fun theBackgroundSyncLoopAndTheListenerKeepTheListCurrentWithoutAnyManualSync() = runBlocking {
        val (clock, day) = oneDay()
        val z = Zhangban.open(File(tmp, "bg").path, AesGcmKeyVault { aesKey() }, null, sandbox.url, clock = clock)
        z.registerDevice("android", "jvm-test", "0")
        z.startBackgroundSync()
        val photo = z.store.writeAttachment(selfSubject(), "p.jpg", ByteArray(1_000) { 7 })
        val case = z.casesApi.submit(
            selfSubject(),
            Submission(
                itemCodes = listOf(sandbox.catalogCodes().first()),
                title = "后台同步",
                values = Json.encode(mapOf("name" to "王大爷")),
                attachments = listOf(photo.id),
                deferredMaterials = emptyList(),
            ),
        )
        // submit() nudges the loop: it sends, the receipt notice arrives, the StateFlow follows.
        val sent = withTimeout(15_000) { z.cases.first { l -> l.any { it.id == case.id && it.receipt != null } } }
        val receipt = sent.single().receipt!!
        sandbox.clerk("accept", receipt, "--days", "3", "--on", day)
        z.casesApi.nudge() // what the app does when the network comes back
        withTimeout(15_000) { z.cases.first { l -> l.any { it.id == case.id && it.state == CaseState.ACCEPTED } } }
        assertEquals(3L, z.view(case.id).workingDaysLeft)
        z.shutdown()
    }
}

