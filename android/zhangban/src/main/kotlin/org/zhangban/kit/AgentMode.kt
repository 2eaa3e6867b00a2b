package org.zhangban.kit

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.zhangban_agent.ActivityEntry
import uniffi.zhangban_agent.AgentCard
import uniffi.zhangban_agent.AgentCertificate
import uniffi.zhangban_agent.DelegationChoices
import uniffi.zhangban_agent.DelegationPreview
import uniffi.zhangban_agent.DelegationRequest
import uniffi.zhangban_agent.DoorConsentInput
import uniffi.zhangban_agent.DoorIntake
import uniffi.zhangban_agent.GivenDelegation
import uniffi.zhangban_agent.LicenceShare
import uniffi.zhangban_agent.PrincipalHome
import uniffi.zhangban_agent.PrincipalLine
import uniffi.zhangban_agent.PrincipalView
import uniffi.zhangban_agent.Relative
import uniffi.zhangban_agent.Scope
import uniffi.zhangban_agent.ScopeItem
import uniffi.zhangban_base.Text
import uniffi.zhangban_cases.CaseSummary
import uniffi.zhangban_forms.DraftState
import uniffi.zhangban_wallet.Verified
import uniffi.zhangban_ffi.ZhangbanAgent
import uniffi.zhangban_ffi.ZhangbanPrincipal
import uniffi.zhangban_ffi.ZhangbanStore

/**
 * Agent mode (帮办代办) for a UI: the agent's home (principals with what each needs now) as a [StateFlow],
 * switching principal, scanning a delegation QR, door intake and consent, a principal's draft. Glue only:
 * the scope check, the audit, every text ("needs now", the summary, PermissionDenied's message) come from
 * the core; a refused action throws `ZhangbanException.PermissionDenied` whose `textZh()`/`textEn()` say
 * what is missing.
 */
class AgentMode(
    private val store: ZhangbanStore,
    private val platformUrl: String,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    val agent = ZhangbanAgent(store)
    private val _principals = MutableStateFlow<List<PrincipalLine>>(emptyList())

    /** The home: every principal, those needing something first. */
    val principals: StateFlow<List<PrincipalLine>> = _principals.asStateFlow()

    suspend fun register(name: String, orgCode: String): AgentCertificate =
        withContext(io) { agent.register(platformUrl, name, orgCode) }

    /** This phone's agent certificate in words, as its card shows it (null before [register]). */
    suspend fun card(): AgentCard? = withContext(io) { agent.card() }

    /** The `ZBA1:` QR text a principal scans before delegating. */
    suspend fun certificateQr(): String = withContext(io) { agent.certificateText() }

    suspend fun refresh(): List<PrincipalLine> = withContext(io) { agent.principals() }.also { _principals.value = it }

    /** Switches to a principal: their line, cases and drafts (audited in the core). */
    suspend fun switchPrincipal(subject: String): PrincipalView = withContext(io) { agent.switchPrincipal(subject) }

    /** Scans a principal's `ZBD1:` delegation QR; verified offline. */
    suspend fun scanDelegation(qrText: String): PrincipalLine =
        withContext(io) { agent.scanDelegation(qrText) }.also { refresh() }

    /** Door intake for a principal without a phone: who, then the three pictures, then the consent. */
    suspend fun openDoorIntake(name: String, idNumber: String): PrincipalLine =
        withContext(io) { agent.openDoorIntake(DoorIntake(name, idNumber)) }.also { refresh() }

    /** The items a door consent may cover (those the catalog offers at home), named. */
    suspend fun doorItems(): List<ScopeItem> = withContext(io) { agent.doorItems() }

    /** The summary to read out before the principal signs (the core's words); its `zh` goes into the consent. */
    suspend fun doorSummary(subject: String, items: List<String>, validDays: UInt? = null): Text =
        withContext(io) { agent.doorSummary(subject, items, validDays) }

    suspend fun capture(subject: String, name: String, bytes: ByteArray): String =
        withContext(io) { agent.capture(subject, name, bytes) }

    suspend fun doorConsent(subject: String, input: DoorConsentInput): PrincipalLine =
        withContext(io) { agent.doorConsent(subject, input) }.also { refresh() }

    /**
     * At the door: the principal shows their e-licence QR (亮证); checked offline (the delegation must name
     * the licence type). Its disclosed fields fill that principal's drafts only — never the agent's licences.
     */
    suspend fun checkPrincipalLicence(subject: String, qrText: String): Verified =
        withContext(io) { agent.checkPrincipalLicence(subject, qrText) }

    /** A principal's draft as a [DraftForm]: every edit is checked against the delegation and audited by the core. */
    suspend fun startDraft(subject: String, target: String): DraftForm =
        opened(io) { DraftForm(store, agent.startDraft(subject, target), io) }

    suspend fun resumeDraft(subject: String, draftId: String): DraftForm =
        opened(io) { DraftForm(store, agent.resumeDraft(subject, draftId), io) }

    /** A photo of material [code] for the principal (encrypted under their key, scope `fill`), attached to [form]. */
    suspend fun attach(form: DraftForm, subject: String, code: String, name: String, bytes: ByteArray): DraftState =
        form.attachMaterial(code, withContext(io) { agent.attach(subject, name, bytes) })

    /** A picture for the principal (their signature image, say), encrypted under their key (scope `fill`); its id. */
    suspend fun photo(subject: String, name: String, bytes: ByteArray): String =
        withContext(io) { agent.attach(subject, name, bytes) }

    /** The plain-language summary to show the principal in large text before they confirm (the core's words). */
    suspend fun summary(subject: String, form: DraftForm): Text = form.withDraft { agent.summary(subject, it) }

    /** The principal confirmed: a signature image (attachment id) or their phone's signature ([PrincipalMode.confirmSummary]). */
    suspend fun confirm(subject: String, form: DraftForm, signatureImage: String?, phoneSignature: String?): String =
        form.withDraft { agent.confirm(subject, it, signatureImage, phoneSignature) }

    /** Submits the principal's draft (queued offline; the platform checks the mandate again). */
    suspend fun submit(subject: String, form: DraftForm): CaseSummary {
        val case = form.withDraft { agent.submit(subject, it) }
        form.reload()
        refresh()
        return case
    }

    /**
     * Sends the principal's case the platform refused again, changed ([values] a merge patch of Kotlin values,
     * or the new values with [replace]; null keeps them), under the delegation (checked by the core).
     */
    suspend fun resubmit(
        subject: String,
        caseId: String,
        values: Any? = null,
        replace: Boolean = false,
        itemCodes: List<String>? = null,
        attachmentIds: List<String>? = null,
    ): CaseSummary = withContext(io) {
        agent.resubmit(subject, caseId, values?.let { Json.encode(it) }, replace, itemCodes, attachmentIds)
    }.also { refresh() }

    override fun close() {
        agent.close()
    }
}

/**
 * The principal's (or a family member's) phone: delegate to an agent, revoke, see what was done.
 */
class PrincipalMode(store: ZhangbanStore, private val io: CoroutineDispatcher = Dispatchers.IO) : AutoCloseable {
    val principal = ZhangbanPrincipal(store)

    suspend fun readAgentCertificate(qrText: String): AgentCertificate =
        withContext(io) { principal.readAgentCertificate(qrText) }

    /** Signs a delegation; show `text` as a QR code to the agent. */
    suspend fun delegate(
        agentQr: String,
        name: String,
        idNumber: String,
        scope: Scope,
        validDays: UInt? = null,
        singleUse: Boolean = false,
        shares: List<LicenceShare> = emptyList(),
    ): GivenDelegation = sign(DelegationRequest(agentQr, name, idNumber, scope, validDays, singleUse, shares, null))

    /** 亲友代办: this (a family member's) phone delegates for a relative without one (lower assurance). */
    suspend fun delegateForRelative(
        agentQr: String,
        relativeName: String,
        relation: String,
        name: String,
        idNumber: String,
        scope: Scope,
        validDays: UInt? = null,
        singleUse: Boolean = false,
    ): GivenDelegation =
        sign(DelegationRequest(agentQr, name, idNumber, scope, validDays, singleUse, emptyList(), Relative(relativeName, relation)))

    /** Signs [request] (the core's one path for every delegation). */
    suspend fun sign(request: DelegationRequest): GivenDelegation = withContext(io) { principal.delegate(request) }

    /** After scanning the agent's `ZBA1:` code: who the agent is (checked offline) and what may be chosen, worded by the core. */
    suspend fun choices(agentQr: String): DelegationChoices = withContext(io) { principal.delegationChoices(agentQr) }

    /** The sentence the principal reads before signing [request]. */
    suspend fun preview(request: DelegationRequest): DelegationPreview = withContext(io) { principal.delegationPreview(request) }

    /** The principal's page: delegations given (what each covers, its state) and what agents did. */
    suspend fun home(): PrincipalHome = withContext(io) { principal.home() }

    suspend fun delegations(): List<GivenDelegation> = withContext(io) { principal.delegations() }

    /** Revokes at once; the agent's phone stops at its next sync. */
    suspend fun revoke(delegationId: String): GivenDelegation = withContext(io) { principal.revoke(delegationId) }

    /** What agents did for her, newest first, as the platform relayed it (root-signed, about this phone): case events,
     *  and each access an agent made (`access:<action>`, `access:denied:<action>` with [ActivityEntry.missing]). */
    suspend fun activity(): List<ActivityEntry> = withContext(io) { principal.activity() }

    /** Confirms on this phone the summary the agent shows (its Chinese text); hand the signature to the agent. */
    suspend fun confirmSummary(summaryZh: String): String = withContext(io) { principal.confirmSummary(summaryZh) }

    override fun close() {
        principal.close()
    }
}
