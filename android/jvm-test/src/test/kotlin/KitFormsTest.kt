package org.zhangban.jvmtest

import java.io.File
import java.util.Collections
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Lang
import org.zhangban.kit.Zhangban
import org.zhangban.kit.blocking
import org.zhangban.kit.field
import org.zhangban.kit.issuesFor
import org.zhangban.kit.text
import uniffi.zhangban_base.Notice
import uniffi.zhangban_base.NoticeKind
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_forms.MaterialAction
import uniffi.zhangban_forms.MaterialStatus
import uniffi.zhangban_forms.Severity

/** A GB 11643 citizen ID number: 17 digits and the ISO 7064 MOD 11-2 check character. */
fun idNumber(body17: String): String {
    val weights = intArrayOf(7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    val sum = body17.mapIndexed { i, c -> (c - '0') * weights[i] }.sum()
    return body17 + "10X98765432"[sum % 11]
}

fun aesKey(): SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

/**
 * The forms journey through the Kotlin layer the Android app uses (android/zhangban): find a service, read
 * its checklist, start a draft, fill it (with mistakes first), attach and commit materials, submit it with
 * `ZhangbanCases.submitDraft`, sync it to the sandbox platform, and get the receipt; the draft survives the
 * app being closed.
 */
class KitFormsTest : SandboxTest("forms") {
    @Test
    fun findFillValidateSubmitAndSyncADraft() = runBlocking {
        val key = aesKey()
        val vault = AesGcmKeyVault { key }
        val notices = Collections.synchronizedList(mutableListOf<Notice>())
        val dir = File(tmp, "store").path
        val z = Zhangban.open(dir, vault, null, sandbox.url, onNotice = { notices.add(it) })
        z.registerDevice("android", "jvm-test", "0")

        // Find the service and learn what it needs.
        val hits = z.search("个体工商户")
        assertEquals("SJ-002", hits.first().code, hits.toString())
        assertEquals("个体工商户登记", Lang.ZH.pick(hits.first().name))
        assertEquals("Individual business registration", Lang.EN.pick(hits.first().name))
        val checklist = z.checklist("SJ-002")
        assertTrue(checklist.entries.any { it.key == "material:M_ID" }, checklist.entries.map { it.key }.toString())
        assertTrue(checklist.entries.all { Lang.ZH.pick(it.title).isNotBlank() && Lang.EN.pick(it.title).isNotBlank() })

        val form = z.startDraft("SJ-002")
        var s = form.state.value
        assertFalse(s.complete)
        assertEquals("SJ-002", s.target)
        assertTrue(s.issuesFor("applicant.name").any { it.severity == Severity.ERROR }, s.issues.toString())
        assertEquals("", Lang.ZH.pick(s.field("applicant.name")!!.display))
        assertTrue(Lang.EN.pick(s.field("applicant.name")!!.label).isNotBlank())
        // Editability and the material actions come from the core: no licence here, so the name is editable;
        // an ID card can only be attached, the address proof may be replaced by a commitment.
        assertTrue(s.field("applicant.name")!!.editable)
        assertNull(s.field("applicant.name")!!.lockReason)
        assertEquals(listOf(MaterialAction.ATTACH), s.materials.first { it.code == "M_ID" }.actions)
        assertEquals(
            listOf(MaterialAction.ATTACH, MaterialAction.COMMIT),
            s.materials.first { it.code == "M_ADDRESS_PROOF" }.actions,
        )

        // Not complete: the core refuses, naming a field; nothing is queued.
        val early = assertFailsWith<ZhangbanException.Validation> { z.submit(form) }
        assertTrue(early.field.isNotBlank())
        assertEquals(0u, z.casesApi.pendingCount())

        // A wrong phone number: the problem names the field, in both languages; nothing else is lost.
        s = form.set("applicant.phone", "12345")
        val phone = s.issuesFor("applicant.phone")
        assertTrue(phone.any { it.severity == Severity.ERROR }, s.issues.toString())
        assertTrue(phone.all { Lang.ZH.pick(it.message).isNotBlank() && Lang.EN.pick(it.message).isNotBlank() })
        assertEquals("12345", Lang.EN.pick(s.field("applicant.phone")!!.display))
        assertEquals(phone, s.field("applicant.phone")!!.issues)

        val values = mapOf(
            "applicant.name" to "张三",
            "applicant.id_number" to idNumber("11010519800101001"),
            "applicant.phone" to "13800138000",
            "enterprise.name" to "张三便民服务部",
            "enterprise.address" to "北京市朝阳区建国路88号1层",
            "enterprise.region" to "110105",
            "enterprise.scope" to "日用百货零售、便民服务",
            // What a text box gives: the core reads the number out of the typed text.
            "enterprise.employees" to "2",
        )
        for ((path, v) in values) s = form.set(path, v)
        assertTrue(s.issuesFor("applicant.phone").isEmpty(), s.issues.toString())
        assertEquals("张三", form.value("applicant.name"))
        s = form.attach("M_ID", "id.jpg", byteArrayOf(-1, -40, -1, 1, 2, 3), selfSubject())
        assertTrue(s.materials.first { it.code == "M_ID" }.status is MaterialStatus.Attached)
        assertEquals("已上传", Lang.ZH.pick(s.materials.first { it.code == "M_ID" }.statusText))
        assertEquals(
            listOf(MaterialAction.ATTACH, MaterialAction.CLEAR),
            s.materials.first { it.code == "M_ID" }.actions,
        )
        assertEquals(
            "attach it or sign a commitment",
            Lang.EN.pick(s.materials.first { it.code == "M_ADDRESS_PROOF" }.statusText),
        )
        s = form.commit("M_ADDRESS_PROOF")
        assertTrue(s.complete, s.blocking.toString())
        assertTrue(s.blocking.isEmpty())
        assertEquals(0u, s.summary.requiredLeft)

        val case = z.submit(form)
        assertEquals(uniffi.zhangban_cases.CaseState.QUEUED, case.state)
        assertEquals(listOf("SJ-002"), case.itemCodes)
        assertEquals(form.id, case.draftId)
        assertEquals(case.id, form.state.value.submittedCase)
        // Read-only now: every field says why, and no material action is offered.
        assertTrue(form.state.value.fields.all { !it.editable && it.lockReason != null })
        assertTrue(form.state.value.materials.all { it.actions.isEmpty() })
        assertEquals(listOf(case.id), z.cases.value.map { it.id })
        // A submitted draft is read-only; a second tap submits nothing new.
        assertFailsWith<ZhangbanException.Validation> { form.set("enterprise.employees", "3") }
        assertEquals(case.id, z.submit(form).id)
        assertEquals(1u, z.casesApi.pendingCount())

        val report = z.syncNow()
        assertEquals(Triple(1u, 1u, 0u), Triple(report.sent, report.receipts, report.remaining))
        val synced = z.cases.value.single()
        assertEquals(uniffi.zhangban_cases.CaseState.SUBMITTED, synced.state)
        assertTrue(synced.receipt!!.startsWith("ZB"), synced.receipt)
        val receipt = notices.single { it.kind == NoticeKind.RECEIPT }
        assertEquals(case.id, receipt.caseId)
        assertEquals(receipt.titleZh, receipt.text(Lang.ZH).title)
        assertEquals(receipt.bodyEn, receipt.text(Lang.EN).body)
        assertTrue(receipt.text(Lang.ZH).body.isNotBlank())

        // Another draft, half filled, then the app is killed: reopened, every edit is there.
        val next = z.startDraft("SW-002")
        assertEquals("张三", next.value("applicant.name"), "the profile learned the submitted name")
        next.set("applicant.phone", "13900139000")
        val nextId = next.id
        form.close()
        next.close()
        z.close()
        val again = Zhangban.open(dir, AesGcmKeyVault { key }, null, sandbox.url)
        assertEquals(listOf(case.id), again.cases.value.map { it.id })
        val resumed = again.resumeDraft(nextId)
        assertEquals("13900139000", resumed.value("applicant.phone"))
        assertNull(resumed.state.value.submittedCase)
        assertNotNull(again.drafts().firstOrNull { it.id == form.id && it.submitted })
        again.close()

        // The store does not open with another Keystore key.
        val wrong = assertFailsWith<ZhangbanException.WrongKey> {
            Zhangban.open(dir, AesGcmKeyVault { aesKey() }, null, sandbox.url)
        }
        assertTrue(wrong.text(Lang.ZH).isNotBlank() && wrong.text(Lang.EN) != wrong.text(Lang.ZH))
    }
}
