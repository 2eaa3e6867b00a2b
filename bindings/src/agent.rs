//! FFI exports: agent mode (帮办代办). Thin: every rule and text lives in `zhangban_core::agent` (the scope
//! check, the audit, the home's "needs now", the summary), whose types cross as they are.
//!
//! [`ZhangbanAgent`] is the agent's phone: certificate, principals (home, switch), scanning a delegation QR,
//! door intake and consent, a principal's draft (a [`ZhangbanDraft`] whose every edit is checked and
//! audited by the core), submission, retention. [`ZhangbanPrincipal`] is the principal's (or a family
//! member's) phone: read the agent's certificate, delegate, revoke, confirm a summary, see what was done.

use std::sync::Arc;

use zhangban_core::agent::{
    ActivityEntry, Agent, AgentCertificate, DelegationChoices, DelegationPreview, DelegationRequest, DoorConsentInput,
    DoorIntake, GivenDelegation, PrincipalHome, PrincipalLine, PrincipalSide, PrincipalView, ScopeItem,
};
use zhangban_core::cases::CaseSummary;
use zhangban_core::catalog::Catalog;
use zhangban_core::store::Store;
use zhangban_core::sync::{self, PlatformClient};
use zhangban_core::wallet::{Verified, Wallet};
use zhangban_core::Text;

use crate::error::{guard, ZhangbanError};
use crate::forms::ZhangbanDraft;
use crate::store::ZhangbanStore;

/// The agent's phone (agent mode).
#[derive(uniffi::Object)]
pub struct ZhangbanAgent {
    store: Arc<Store>,
    agent: Agent,
}

#[uniffi::export(async_runtime = "tokio")]
impl ZhangbanAgent {
    #[uniffi::constructor]
    pub fn new(store: Arc<ZhangbanStore>) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| {
            let s = store.core().clone();
            let agent = Agent::new(&Wallet::open(s.clone())?);
            Ok(Arc::new(ZhangbanAgent { store: s, agent }))
        })
    }

    /// Registers this (registered) device as an agent of `org_code` and installs the certificate.
    pub async fn register(
        &self,
        base_url: String,
        name: String,
        org_code: String,
    ) -> Result<AgentCertificate, ZhangbanError> {
        crate::runtime::exit_safe(async move {
            let client = PlatformClient::new(&base_url)?;
            Ok(sync::agent_api::register_agent(&client, &self.agent, &name, &org_code).await?)
        })
        .await
    }

    /// This phone's certificate in words (its card: the certificate, and until when it is valid), if it has one.
    pub fn card(&self) -> Result<Option<zhangban_core::agent::AgentCard>, ZhangbanError> {
        guard(|| self.agent.card())
    }

    /// The `ZBA1:` QR text to show a principal before they delegate.
    pub fn certificate_text(&self) -> Result<String, ZhangbanError> {
        guard(|| self.agent.certificate_text())
    }

    /// The home: every principal with what each needs now.
    pub fn principals(&self) -> Result<Vec<PrincipalLine>, ZhangbanError> {
        guard(|| self.agent.principals())
    }

    /// Switches to a principal: their line, cases and drafts (audited).
    pub fn switch_principal(&self, principal: String) -> Result<PrincipalView, ZhangbanError> {
        guard(|| self.agent.view(&principal))
    }

    /// Scans a principal's `ZBD1:` delegation QR and verifies it offline.
    pub fn scan_delegation(&self, qr_text: String) -> Result<PrincipalLine, ZhangbanError> {
        guard(|| self.agent.accept_delegation(&qr_text))
    }

    /// Door intake, step 1: who is at the door (a principal without a phone).
    pub fn open_door_intake(&self, intake: DoorIntake) -> Result<PrincipalLine, ZhangbanError> {
        guard(|| self.agent.open_door_intake(&intake))
    }

    /// The items a door consent may cover (those offered at home).
    pub fn door_items(&self) -> Result<Vec<ScopeItem>, ZhangbanError> {
        guard(|| Ok(self.agent.door_items(&*Catalog::current(&self.store)?)))
    }

    /// The summary to read out at the door before the principal signs (its `zh` goes into the consent).
    pub fn door_summary(
        &self,
        principal: String,
        items: Vec<String>,
        valid_days: Option<u32>,
    ) -> Result<Text, ZhangbanError> {
        guard(|| self.agent.door_summary(&principal, &*Catalog::current(&self.store)?, &items, valid_days))
    }

    /// Door intake: a photo or the signature image, encrypted under the principal's key; returns its id.
    pub fn capture(&self, principal: String, name: String, bytes: Vec<u8>) -> Result<String, ZhangbanError> {
        guard(|| Ok(self.agent.attach_intake(&principal, &name, &mut bytes.as_slice())?.id))
    }

    /// Door intake, step 2: the consent (the three pictures, the summary read out), signed by this phone.
    pub fn door_consent(&self, principal: String, input: DoorConsentInput) -> Result<PrincipalLine, ZhangbanError> {
        guard(|| self.agent.record_door_consent(&principal, &input))
    }

    /// A photo of material for the principal (scope `fill`); returns the attachment id.
    pub fn attach(&self, principal: String, name: String, bytes: Vec<u8>) -> Result<String, ZhangbanError> {
        guard(|| Ok(self.agent.attach(&principal, &name, &mut bytes.as_slice())?.id))
    }

    /// At the door: checks the principal's e-licence QR (亮证) offline (the delegation must name its type);
    /// its disclosed fields fill only that principal's drafts, never the agent's own licences.
    pub fn check_principal_licence(&self, principal: String, qr_text: String) -> Result<Verified, ZhangbanError> {
        guard(|| self.agent.check_principal_licence(&principal, &qr_text))
    }

    /// Starts a principal's draft: every edit through the returned draft is checked and audited.
    pub fn start_draft(&self, principal: String, target: String) -> Result<Arc<ZhangbanDraft>, ZhangbanError> {
        guard(|| {
            let c = Catalog::current(&self.store)?;
            Ok(ZhangbanDraft::open(&self.store, self.agent.start_draft(&principal, &c, &target)?))
        })
    }

    /// Reopens a principal's draft.
    pub fn resume_draft(&self, principal: String, draft_id: String) -> Result<Arc<ZhangbanDraft>, ZhangbanError> {
        guard(|| {
            let c = Catalog::current(&self.store)?;
            Ok(ZhangbanDraft::open(&self.store, self.agent.resume_draft(&principal, &c, &draft_id)?))
        })
    }

    /// The plain-language summary to show the principal in large text before they confirm.
    pub fn summary(&self, principal: String, draft: Arc<ZhangbanDraft>) -> Result<Text, ZhangbanError> {
        draft.with(|s| self.agent.confirmation_summary(&principal, &*Catalog::current(&self.store)?, s))
    }

    /// The principal confirmed: a signature image (attachment id) or their phone's signature (hex).
    pub fn confirm(
        &self,
        principal: String,
        draft: Arc<ZhangbanDraft>,
        signature_image: Option<String>,
        phone_signature: Option<String>,
    ) -> Result<String, ZhangbanError> {
        draft.with(|s| {
            let c = Catalog::current(&self.store)?;
            self.agent.record_confirmation(&principal, &c, s, signature_image.as_deref(), phone_signature.as_deref())
        })
    }

    /// Submits the principal's draft (queued offline; the platform checks the mandate again).
    pub fn submit(&self, principal: String, draft: Arc<ZhangbanDraft>) -> Result<CaseSummary, ZhangbanError> {
        draft.with(|s| Ok(CaseSummary::from(&self.agent.submit(&principal, &*Catalog::current(&self.store)?, s)?)))
    }

    /// Sends the principal's case the platform refused again, changed (as `ZhangbanCases.resubmit`), under
    /// the mandate (scope `submit` on its items and on any item it moves to).
    pub fn resubmit(
        &self,
        principal: String,
        case_id: String,
        values: Option<serde_json::Value>,
        replace_values: bool,
        item_codes: Option<Vec<String>>,
        attachment_ids: Option<Vec<String>>,
    ) -> Result<CaseSummary, ZhangbanError> {
        guard(|| {
            let fix = zhangban_core::cases::Fix::new(values, replace_values, item_codes, attachment_ids);
            Ok(CaseSummary::from(&self.agent.resubmit(&principal, &case_id, &fix)?))
        })
    }

    /// Days kept after a mandate ends before the principal's data is erased (default 7).
    pub fn set_retention_days(&self, days: u32) -> Result<(), ZhangbanError> {
        guard(|| self.agent.set_retention_days(days))
    }

    /// Erases the principals whose retention is over (the sync runner also does this); their subjects.
    pub fn sweep(&self) -> Result<Vec<String>, ZhangbanError> {
        guard(|| self.agent.sweep())
    }
}

/// The principal's (or a family member's) phone.
#[derive(uniffi::Object)]
pub struct ZhangbanPrincipal {
    side: PrincipalSide,
}

#[uniffi::export]
impl ZhangbanPrincipal {
    #[uniffi::constructor]
    pub fn new(store: Arc<ZhangbanStore>) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Ok(Arc::new(ZhangbanPrincipal { side: PrincipalSide::new(&Wallet::open(store.core().clone())?) })))
    }

    /// Checks an agent's `ZBA1:` certificate QR offline.
    pub fn read_agent_certificate(&self, text: String) -> Result<AgentCertificate, ZhangbanError> {
        guard(|| self.side.read_certificate(&text))
    }

    /// Signs a delegation (its `text` is the QR to show): the principal's own, one sharing licences of
    /// this phone's wallet, or 亲友代办 (`relative`: a family member's phone, lower assurance).
    pub fn delegate(&self, request: DelegationRequest) -> Result<GivenDelegation, ZhangbanError> {
        guard(|| self.side.delegate_with(&request))
    }

    /// Reads an agent's `ZBA1:` certificate and returns what the delegation screen offers (in words).
    pub fn delegation_choices(&self, agent_certificate: String) -> Result<DelegationChoices, ZhangbanError> {
        guard(|| self.side.delegation_choices(&agent_certificate, &*Catalog::current(self.side.store())?))
    }

    /// The sentence the principal reads before signing `request`.
    pub fn delegation_preview(&self, request: DelegationRequest) -> Result<DelegationPreview, ZhangbanError> {
        guard(|| self.side.delegation_preview(&request, &*Catalog::current(self.side.store())?))
    }

    /// The principal's page: delegations given (what each covers, its state) and what agents did.
    pub fn home(&self) -> Result<PrincipalHome, ZhangbanError> {
        guard(|| self.side.home(Some(&*Catalog::current(self.side.store())?)))
    }

    pub fn delegations(&self) -> Result<Vec<GivenDelegation>, ZhangbanError> {
        guard(|| self.side.given())
    }

    /// Revokes at once; the platform hears of it at the next sync, the agent's phone at its next.
    pub fn revoke(&self, delegation_id: String) -> Result<GivenDelegation, ZhangbanError> {
        guard(|| self.side.revoke(&delegation_id))
    }

    /// Confirms, on this phone, the summary the agent shows (its Chinese text); returns the signature.
    pub fn confirm_summary(&self, summary_zh: String) -> Result<String, ZhangbanError> {
        guard(|| self.side.confirm_summary(&summary_zh))
    }

    /// What agents did for this phone's owner, as the platform relayed it.
    pub fn activity(&self) -> Result<Vec<ActivityEntry>, ZhangbanError> {
        guard(|| self.side.activity())
    }
}
