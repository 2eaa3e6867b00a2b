package org.zhangban.jvmtest

import java.io.File
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.AgentMode
import org.zhangban.kit.Lang
import org.zhangban.kit.PrincipalMode
import org.zhangban.kit.Zhangban
import org.zhangban.kit.field
import org.zhangban.kit.text
import uniffi.zhangban_agent.Action
import uniffi.zhangban_agent.Assurance
import uniffi.zhangban_agent.LicenceElements
import uniffi.zhangban_agent.PrincipalStatus
import uniffi.zhangban_agent.Scope
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_forms.MaterialStatus
import uniffi.zhangban_forms.ValueSource
import uniffi.zhangban_wallet.Preset

/** 李秀英, the principal: what the platform's register holds for her phone (the sandbox's 实名认证 step). */
val LI = mapOf(
    "name" to "李秀英",
    "sex" to "女",
    "ethnicity" to "汉",
    "birth_date" to "1940-01-01",
    "address" to "北京市朝阳区幸福村8号",
    "id_number" to "110105194001010018",
    "issuing_authority" to "北京市公安局朝阳分局",
)

/**
 * Agent mode (帮办代办) through the Kotlin kit (`AgentMode` / `PrincipalMode`) over the real library and the
 * sandbox platform: an agent registers and gets a certificate; 李秀英 reads it on her phone and delegates by QR;
 * the agent scans it, checks her e-licence QR at the door, switches to her, fills her draft — autofilled from
 * HER licence, while the agent's own wallet holds 张三's — attaches material, shows her the summary, she
 * confirms on her phone, the agent submits, the platform gives a receipt and relays it to her phone. An action
 * outside the delegation is `PermissionDenied` naming what is missing, in Chinese and English.
 */
class KitAgentTest : SandboxTest("agent") {
    @Test
    fun anAgentFillsAndSubmitsForAPrincipalFromHerDataNotHis() = runBlocking {
        // ---- the agent's phone: its own person is 张三 (the sandbox's sample resident), with his e-licence ----
        val az = Zhangban.open(File(tmp, "agent").path, AesGcmKeyVault { aesKey() }, null, sandbox.url)
        az.registerDevice("android", "jvm-test-agent", "0")
        az.wallet.refreshLists(sandbox.url)
        val own = az.wallet.requestLicence(sandbox.url, "resident_id", null)
        assertEquals("resident_id", own.licenceType)
        // Control: the agent's own draft of the same item IS autofilled from 张三's licence (so the assertion
        // on the principal's draft below could fail if her draft read the agent's wallet).
        az.startDraft("MZ-002").use { assertEquals("张三", it.value("applicant.name")) }

        val agentMode = AgentMode(az.store, sandbox.url)
        val cert = agentMode.register("王帮办", "12110105MB0000002B")
        assertEquals("12110105MB0000002B", cert.orgCode)
        val certQr = agentMode.certificateQr()
        assertTrue(certQr.startsWith("ZBA1:"))

        // ---- 李秀英's phone: her own person and licence; she checks the agent and delegates ----
        val lz = Zhangban.open(File(tmp, "li").path, AesGcmKeyVault { aesKey() }, null, sandbox.url)
        val liDevice = lz.registerDevice("android", "jvm-test-li", "0")
        sandbox.enrol(liDevice, LI)
        lz.wallet.refreshLists(sandbox.url)
        val hers = lz.wallet.requestLicence(sandbox.url, "resident_id", null)
        val li = PrincipalMode(lz.store)
        assertEquals(cert.certId, li.readAgentCertificate(certQr).certId)
        val scope = Scope(
            items = listOf("MZ-002"),
            licenceTypes = listOf("resident_id"),
            actions = listOf(Action.FILL, Action.SUBMIT, Action.FOLLOW, Action.RECEIVE_RESULTS),
            // Per-field scope (ZBD1: version 2): which elements of her ID card the agent may use.
            elements = listOf(LicenceElements("resident_id", listOf("name", "id_number", "sex", "birth_date", "ethnicity"))),
        )
        val given = li.delegate(certQr, "李秀英", LI.getValue("id_number"), scope)
        assertTrue(given.text.startsWith("ZBD1:"))
        assertEquals("王帮办", given.agentName)

        // ---- the agent scans it: she is on the home, with what she needs now ----
        val line = agentMode.scanDelegation(given.text)
        assertEquals("李秀英", line.name)
        assertEquals(PrincipalStatus.ACTIVE, line.status)
        assertEquals(Assurance.DELEGATION, line.assurance)
        assertEquals(listOf(line.subject), agentMode.principals.value.map { it.subject })
        assertEquals("可开始填报", Lang.ZH.pick(agentMode.principals.value.single().needsNow))
        assertEquals("ready to start an application", Lang.EN.pick(agentMode.principals.value.single().needsNow))
        val her = line.subject

        // ---- out of scope: another item → PermissionDenied naming it, zh and en ----
        val denied = assertFailsWith<ZhangbanException.PermissionDenied> { agentMode.startDraft(her, "GA-002") }
        assertEquals("item:GA-002", denied.missing)
        assertEquals("无权代办：授权范围不含事项 GA-002", denied.text(Lang.ZH))
        assertEquals("Not permitted for this principal: the delegation does not cover service item GA-002", denied.text(Lang.EN))
        // …and outside agent mode her data is not reachable at all (a plain draft of her subject).
        val plain = assertFailsWith<ZhangbanException.PermissionDenied> { az.startDraft("MZ-002", her) }
        assertEquals("delegation", plain.missing)

        // ---- at the door she shows her e-licence (亮证); the agent's phone checks it offline ----
        val shown = lz.presenter().present(hers.licenceId, Preset.Full)
        val checked = agentMode.checkPrincipalLicence(her, shown.code.qrText)
        assertEquals(hers.licenceId, checked.licenceId)
        assertEquals("李秀英", checked.disclosed.first { it.key == "name" }.display)

        // ---- switch to her, fill her draft: autofilled from HER licence, not the agent's ----
        val view = agentMode.switchPrincipal(her)
        assertEquals("李秀英", view.line.name)
        assertTrue(view.cases.isEmpty())
        val form = agentMode.startDraft(her, "MZ-002")
        val name = form.state.value.field("applicant.name")!!
        assertEquals("李秀英", form.value("applicant.name"), "filled from the principal's licence")
        assertEquals(LI.getValue("id_number"), form.value("applicant.id_number"))
        assertFalse(form.state.value.fields.any { it.value.contains("张三") || it.value.contains("11010519491231002X") },
            "nothing of the agent's own licence in her draft")
        assertEquals(ValueSource.LICENCE, name.source)
        assertFalse(name.editable, "locked: it comes from her e-licence")
        assertTrue(form.state.value.materials.single { it.code == "M_ID" }.status is MaterialStatus.Exempt,
            "her ID card is covered by HER licence")
        assertEquals(form.id, agentMode.switchPrincipal(her).drafts.single().id)

        // Her address is on the card but outside the per-field scope: not filled from it (the agent asks her).
        assertTrue(form.value("applicant.address") == null || form.value("applicant.address") == "", "address not in scope")
        for ((path, v) in mapOf(
            "applicant.phone" to "13900001111",
            "allowance.account" to "6217000010001234567",
            "applicant.address" to LI.getValue("address"),
        )) {
            form.set(path, v)
        }
        for (m in form.state.value.materials.filter { it.status !is MaterialStatus.Exempt }) {
            agentMode.attach(form, her, m.code, "${m.code}.jpg", byteArrayOf(-1, -40, -1, 1, 2, 3) + m.code.toByteArray())
        }
        assertTrue(form.state.value.complete, form.state.value.issues.toString())

        // ---- the summary in large text; she confirms on her phone; the agent submits ----
        val summary = agentMode.summary(her, form)
        assertTrue(summary.zh.contains("王帮办") && summary.zh.contains("李秀英"), summary.zh)
        assertTrue(summary.en.startsWith("You asked agent 王帮办"), summary.en)
        assertFalse(summary.zh.contains("张三"))
        // A signature from another phone (the agent's own) over the same summary is refused.
        val forged = PrincipalMode(az.store).confirmSummary(summary.zh)
        val bad = assertFailsWith<ZhangbanException.PermissionDenied> { agentMode.confirm(her, form, null, forged) }
        assertEquals("signature", bad.missing)
        assertEquals(64, agentMode.confirm(her, form, null, li.confirmSummary(summary.zh)).length)
        val case = agentMode.submit(her, form)
        assertEquals(her, case.subject, "the case says whose it is")
        assertTrue(az.cases.value.isEmpty(), "the agent's own list never shows a principal's case")
        assertEquals("1 件待联网发送", Lang.ZH.pick(agentMode.principals.value.single().needsNow))

        // ---- signal: the platform checks the mandate again and gives a receipt; her phone hears of it ----
        assertEquals(1u, az.syncNow().receipts)
        val receipt = agentMode.switchPrincipal(her).cases.single().receipt
        assertNotNull(receipt)
        assertTrue(receipt.startsWith("ZB"))
        // The clerk's view of who acted for whom (`zhangban-sandbox clerk agents`).
        @Suppress("UNCHECKED_CAST")
        val proxied = ((sandbox.clerk("agents") as Map<String, Any?>)["cases"] as List<Map<String, Any?>>).single()
        assertEquals("王帮办", proxied["agent_name"])
        assertEquals("李秀英", proxied["principal"])
        assertEquals("delegation", proxied["assurance"])
        assertEquals(receipt, proxied["receipt"])
        assertEquals(given.id, proxied["mandate_id"])
        assertEquals(false, proxied["mandate_revoked"])
        lz.syncNow()
        val activity = li.activity()
        assertTrue(activity.any { it.kind == "submitted" && it.receipt == receipt }, activity.toString())
        // Issue 11: each access the agent made for her, relayed by the platform, worded by the core.
        assertTrue(activity.any { it.kind == "access:follow" }, activity.toString())
        // (the same access on one day is one line with its count: she looked at her cases' list twice)
        assertTrue(li.home().activity.any { Lang.ZH.pick(it.text) == "王帮办查看了您的办件（2 次）。" && it.times == 2u }, li.home().activity.toString())

        // ---- she revokes; the agent's next sync brings it; the next attempt is refused ----
        li.revoke(given.id)
        assertEquals(1u, lz.syncNow().revocationsSent)
        assertEquals(1u, az.syncNow().revocationsApplied)
        val revoked = assertFailsWith<ZhangbanException.PermissionDenied> { agentMode.switchPrincipal(her) }
        assertEquals("revoked", revoked.missing)
        assertEquals("无权代办：委托人已撤销该授权委托", revoked.text(Lang.ZH))
        assertEquals("Not permitted for this principal: the principal revoked this delegation", revoked.text(Lang.EN))
        assertEquals(PrincipalStatus.REVOKED, agentMode.refresh().single().status)
        @Suppress("UNCHECKED_CAST")
        val after = ((sandbox.clerk("agents") as Map<String, Any?>)["cases"] as List<Map<String, Any?>>).single()
        assertEquals(true, after["mandate_revoked"], "the clerk sees the mandate was revoked")
        // The refused attempt after she revoked reaches her phone too.
        az.syncNow()
        lz.syncNow()
        val newest = li.home().activity.first()
        assertEquals("revoked", newest.entry.missing)
        assertEquals("王帮办尝试查看您的办件（已拒绝：委托已撤销）。", Lang.ZH.pick(newest.text))

        form.close()
        agentMode.close()
        li.close()
        lz.close()
        az.close()
    }
}
