import Foundation

/// Agent mode (帮办代办) for SwiftUI: the agent's home (principals with what each needs now), switching
/// principal, scanning a delegation QR, door intake and consent, a principal's draft. Glue only: the scope
/// check, the audit and every text come from the core; a refused action throws
/// `ZhangbanError.PermissionDenied`, whose `textZh()` / `textEn()` say what is missing.
@MainActor
public final class AgentModel: ObservableObject {
    public let agent: ZhangbanAgent
    public let platformURL: String
    /// The home, those needing something first.
    @Published public private(set) var principals: [PrincipalLine] = []

    public init(store: ZhangbanStore, platformURL: String) throws {
        self.agent = try ZhangbanAgent(store: store)
        self.platformURL = platformURL
    }

    public func register(name: String, orgCode: String) async throws -> AgentCertificate {
        try await agent.register(baseUrl: platformURL, name: name, orgCode: orgCode)
    }

    public func certificateQR() throws -> String {
        try agent.certificateText()
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

    public func startDraft(subject: String, target: String) async throws -> ZhangbanDraft {
        let agent = self.agent
        return try await Task.detached { try agent.startDraft(principal: subject, target: target) }.value
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
                         singleUse: Bool = false) throws -> GivenDelegation {
        try principal.delegate(agentCertificate: agentQR, principalName: name, principalIdNumber: idNumber,
                               scope: scope, validDays: validDays, singleUse: singleUse)
    }

    /// Revokes at once; the agent's phone stops at its next sync.
    public func revoke(_ delegationId: String) throws -> GivenDelegation {
        try principal.revoke(delegationId: delegationId)
    }

    public func activity() throws -> [ActivityEntry] {
        try principal.activity()
    }
}
