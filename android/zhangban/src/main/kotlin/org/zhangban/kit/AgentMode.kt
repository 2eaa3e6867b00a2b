package org.zhangban.kit

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.withContext
import uniffi.zhangban_agent.ActivityEntry
import uniffi.zhangban_agent.AgentCertificate
import uniffi.zhangban_agent.DoorConsentInput
import uniffi.zhangban_agent.DoorIntake
import uniffi.zhangban_agent.GivenDelegation
import uniffi.zhangban_agent.PrincipalLine
import uniffi.zhangban_agent.PrincipalView
import uniffi.zhangban_agent.Scope
import uniffi.zhangban_ffi.ZhangbanAgent
import uniffi.zhangban_ffi.ZhangbanDraft
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
    store: ZhangbanStore,
    private val platformUrl: String,
    private val io: CoroutineDispatcher = Dispatchers.IO,
) : AutoCloseable {
    val agent = ZhangbanAgent(store)
    private val _principals = MutableStateFlow<List<PrincipalLine>>(emptyList())

    /** The home: every principal, those needing something first. */
    val principals: StateFlow<List<PrincipalLine>> = _principals.asStateFlow()

    suspend fun register(name: String, orgCode: String): AgentCertificate =
        withContext(io) { agent.register(platformUrl, name, orgCode) }

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

    suspend fun capture(subject: String, name: String, bytes: ByteArray): String =
        withContext(io) { agent.capture(subject, name, bytes) }

    suspend fun doorConsent(subject: String, input: DoorConsentInput): PrincipalLine =
        withContext(io) { agent.doorConsent(subject, input) }.also { refresh() }

    suspend fun startDraft(subject: String, target: String): ZhangbanDraft =
        withContext(io) { agent.startDraft(subject, target) }

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
    ): GivenDelegation = withContext(io) { principal.delegate(agentQr, name, idNumber, scope, validDays, singleUse) }

    suspend fun delegations(): List<GivenDelegation> = withContext(io) { principal.delegations() }

    /** Revokes at once; the agent's phone stops at its next sync. */
    suspend fun revoke(delegationId: String): GivenDelegation = withContext(io) { principal.revoke(delegationId) }

    suspend fun activity(): List<ActivityEntry> = withContext(io) { principal.activity() }

    override fun close() {
        principal.close()
    }
}
