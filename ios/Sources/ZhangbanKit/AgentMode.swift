import Foundation

/// Agent mode (帮办代办) for SwiftUI: the agent's home (principals with what each needs now), switching
/// principal, scanning a delegation QR, door intake and consent, a principal's draft. Glue only: the scope
/// check, the audit and every text come from the core; a refused action throws
/// `ZhangbanError.PermissionDenied`, whose `textZh()` / `textEn()` say what is missing.
@MainActor
public final class AgentModel: ObservableObject {
    public let agent: ZhangbanAgent
    public let platformURL: String
    private let store: ZhangbanStore
    /// The home, those needing something first.
    @Published public private(set) var principals: [PrincipalLine] = []

    public init(store: ZhangbanStore, platformURL: String) throws {
        self.agent = try ZhangbanAgent(store: store)
        self.platformURL = platformURL
        self.store = store
    }

    public func register(name: String, orgCode: String) async throws -> AgentCertificate {
        try await agent.register(baseUrl: platformURL, name: name, orgCode: orgCode)
    }

    public func certificateQR() throws -> String {
        try agent.certificateText()
    }

    /// This phone's agent certificate in words, as its card shows it (nil before `register`).
    public func card() throws -> AgentCard? {
        try agent.card()
    }

    public func refresh() async throws {
        let agent = self.agent
        principals = try await Task.detached { try agent.principals() }.value
    }

    /// Switches to a principal: their line, cases and drafts (audited in the core).
    public func switchPrincipal(_ subject: String) async throws -> PrincipalView {
        let agent = self.agent
        return try await Task.detached { try agent.switchPrincipal(principal: subject) }.value
    }

    /// Scans a principal's `ZBD1:` delegation QR; verified offline.
    public func scanDelegation(_ qrText: String) async throws -> PrincipalLine {
        let agent = self.agent
        let line = try await Task.detached { try agent.scanDelegation(qrText: qrText) }.value
        try await refresh()
        return line
    }

    /// Door intake for a principal without a phone: who, then the three pictures, then the consent.
    public func openDoorIntake(name: String, idNumber: String) async throws -> PrincipalLine {
        let agent = self.agent
        let line = try await Task.detached {
            try agent.openDoorIntake(intake: DoorIntake(principalName: name, principalIdNumber: idNumber))
        }.value
        try await refresh()
        return line
    }

    public func capture(subject: String, name: String, data: Data) async throws -> String {
        let agent = self.agent
        return try await Task.detached { try agent.capture(principal: subject, name: name, bytes: data) }.value
    }

    public func doorConsent(subject: String, input: DoorConsentInput) async throws -> PrincipalLine {
        let agent = self.agent
        let line = try await Task.detached { try agent.doorConsent(principal: subject, input: input) }.value
        try await refresh()
        return line
    }

    /// The items a door consent may cover (those offered at home), named.
    public func doorItems() throws -> [ScopeItem] {
        try agent.doorItems()
    }

    /// The summary to read out before the principal signs (the core's words); its `zh` goes into the consent.
    public func doorSummary(subject: String, items: [String], validDays: UInt32? = nil) throws -> ZhangbanKit.Text {
        try agent.doorSummary(principal: subject, items: items, validDays: validDays)
    }

    /// At the door: the principal's e-licence QR (亮证), checked offline; its fields fill only their drafts.
    public func checkPrincipalLicence(subject: String, qrText: String) async throws -> Verified {
        let agent = self.agent
        return try await Task.detached { try agent.checkPrincipalLicence(principal: subject, qrText: qrText) }.value
    }

    /// A principal's draft: every edit is checked against the delegation and audited by the core.
    public func startDraft(subject: String, target: String) async throws -> DraftFormModel {
        let agent = self.agent
        let d = try await Task.detached { try agent.startDraft(principal: subject, target: target) }.value
        return DraftFormModel(store: store, draft: d)
    }

    public func resumeDraft(subject: String, draftId: String) async throws -> DraftFormModel {
        let agent = self.agent
        let d = try await Task.detached { try agent.resumeDraft(principal: subject, draftId: draftId) }.value
        return DraftFormModel(store: store, draft: d)
    }

    /// A photo of material `code` for the principal (under their key, scope `fill`), attached to `form`.
    public func attach(form: DraftFormModel, subject: String, code: String, name: String, data: Data) throws {
        form.attachMaterial(code, attachmentId: try agent.attach(principal: subject, name: name, bytes: data))
    }

    /// A picture for the principal (their signature image), under their key; its id.
    public func photo(subject: String, name: String, data: Data) throws -> String {
        try agent.attach(principal: subject, name: name, bytes: data)
    }

    /// The plain-language summary the principal reads in large text before confirming (the core's words).
    public func summary(subject: String, form: DraftFormModel) throws -> ZhangbanKit.Text {
        try agent.summary(principal: subject, draft: form.draft)
    }

    /// The principal confirmed: a signature image (attachment id) or their phone's signature.
    public func confirm(subject: String, form: DraftFormModel, signatureImage: String?, phoneSignature: String?) throws -> String {
        try agent.confirm(principal: subject, draft: form.draft, signatureImage: signatureImage, phoneSignature: phoneSignature)
    }

    /// Submits the principal's draft (queued offline; the platform checks the mandate again).
    public func submit(subject: String, form: DraftFormModel) async throws -> CaseSummary {
        let c = try agent.submit(principal: subject, draft: form.draft)
        form.reload()
        try await refresh()
        return c
    }

    /// Sends the principal's case the platform refused again, changed (`valuesJSON` a JSON merge patch, or
    /// the new values with `replace`; nil keeps them), under the delegation (checked by the core).
    public func resubmit(subject: String, caseId: String, valuesJSON: String? = nil, replace: Bool = false,
                         itemCodes: [String]? = nil, attachmentIds: [String]? = nil) async throws -> CaseSummary {
        let agent = self.agent
        let c = try await Task.detached {
            try agent.resubmit(principal: subject, caseId: caseId, values: valuesJSON, replaceValues: replace,
                               itemCodes: itemCodes, attachmentIds: attachmentIds)
        }.value
        try await refresh()
        return c
    }
}

/// The principal's (or a family member's) phone: delegate to an agent, revoke, see what was done.
public final class PrincipalModel {
    public let principal: ZhangbanPrincipal

    public init(store: ZhangbanStore) throws {
        self.principal = try ZhangbanPrincipal(store: store)
    }

    public func readAgentCertificate(_ qrText: String) throws -> AgentCertificate {
        try principal.readAgentCertificate(text: qrText)
    }

    /// Signs a delegation; show `text` as a QR code to the agent.
    public func delegate(agentQR: String, name: String, idNumber: String, scope: Scope, validDays: UInt32? = nil,
                         singleUse: Bool = false, shares: [LicenceShare] = []) throws -> GivenDelegation {
        try sign(DelegationRequest(agentCertificate: agentQR, principalName: name, principalIdNumber: idNumber,
                                   scope: scope, validDays: validDays, singleUse: singleUse, shares: shares,
                                   relative: nil))
    }

    /// 亲友代办: this (a family member's) phone delegates for a relative without one (lower assurance).
    public func delegateForRelative(agentQR: String, relativeName: String, relation: String, name: String,
                                    idNumber: String, scope: Scope, validDays: UInt32? = nil,
                                    singleUse: Bool = false) throws -> GivenDelegation {
        try sign(DelegationRequest(agentCertificate: agentQR, principalName: name, principalIdNumber: idNumber,
                                   scope: scope, validDays: validDays, singleUse: singleUse, shares: [],
                                   relative: Relative(name: relativeName, relation: relation)))
    }

    /// Signs `request` (the core's one path for every delegation).
    public func sign(_ request: DelegationRequest) throws -> GivenDelegation {
        try principal.delegate(request: request)
    }

    /// After scanning the agent's `ZBA1:` code: who the agent is (checked offline) and what may be chosen.
    public func choices(agentQR: String) throws -> DelegationChoices {
        try principal.delegationChoices(agentCertificate: agentQR)
    }

    /// The sentence the principal reads before signing `request`.
    public func preview(_ request: DelegationRequest) throws -> DelegationPreview {
        try principal.delegationPreview(request: request)
    }

    /// The principal's page: delegations given (what each covers, its state) and what agents did.
    public func home() throws -> PrincipalHome {
        try principal.home()
    }

    public func delegations() throws -> [GivenDelegation] {
        try principal.delegations()
    }

    /// Revokes at once; the agent's phone stops at its next sync.
    public func revoke(_ delegationId: String) throws -> GivenDelegation {
        try principal.revoke(delegationId: delegationId)
    }

    /// What agents did for her, newest first, as the platform relayed it (root-signed, about this phone): case
    /// events, and each access an agent made (`access:<action>`, `access:denied:<action>` with `missing`).
    public func activity() throws -> [ActivityEntry] {
        try principal.activity()
    }

    /// Confirms on this phone the summary the agent shows (its Chinese text); hand the signature to the agent.
    public func confirmSummary(_ summaryZh: String) throws -> String {
        try principal.confirmSummary(summaryZh: summaryZh)
    }
}
