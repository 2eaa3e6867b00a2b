//! Agent mode of the Zhangban (掌办) core: 帮办代办 / 上门服务.
//!
//! An agent (帮办员) of a service centre or a village 便民服务站 serves many principals (委托人) from one
//! phone, often offline. This crate holds every rule of it, so both shells get the same ones:
//!
//! - [`cert`]: the agent certificate, signed by the platform root, checked offline.
//! - [`mandate`]: the delegation a principal's phone signs (QR `ZBD1:`), the door consent an agent records
//!   for a principal without a phone (lower assurance), and the principal's signed revocation.
//! - [`access`]: the scope check every action for a principal goes through — out of scope, expired,
//!   revoked, used up or another principal's → [`Error::PermissionDenied`] naming what is missing — and
//!   the `agent.access` audit entry of every allowed and denied attempt.
//! - [`agent`]: the agent's side over the encrypted store: principals as subjects with their own keys
//!   (lists, drafts, cases, attachments never mix), the home list, door intake, submissions carrying
//!   the mandate, revocations from the platform, retention and automatic crypto-shredding.
//! - [`principal`]: the principal's side: read an agent's certificate, delegate, revoke, see what the
//!   agent did (entries the platform relays).
//! - [`report`]: the agent's phone reports its `agent.access` entries to the platform at sync (signed by its
//!   device key, in order, each once), which relays them to the principal's phone.
//! - [`giving`]: what the principal's own screens show, worded once for both shells (the agent's card, the
//!   choices of a delegation, the sentence read before signing, the delegations given, what agents did).
//!
//! Layer: a feature crate above forms and cases (it drives their drafts and submissions), below sync
//! (which carries its revocations and events). See docs/ARCHITECTURE.md.
// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

pub mod access;
pub mod agent;
pub mod cert;
pub mod giving;
pub mod mandate;
pub mod principal;
pub mod report;

pub use access::{AccessEntry, RETENTION_SETTING};
pub use agent::{Agent, DoorConsentInput, DoorIntake, PrincipalLine, PrincipalStatus, PrincipalView, ScopeItem};
pub use cert::{AgentCard, AgentCertificate};
pub use giving::{
    ActionChoice, ActivityLine, DelegationChoices, DelegationLine, DelegationPreview, ElementChoice, LicenceChoice,
    PrincipalHome,
};
pub use mandate::{Action, Assurance, Delegation, DoorConsent, LicenceElements, Relative, Revocation, Scope};
pub use principal::{
    activity_from_relayed, ActivityEntry, DelegationRequest, GivenDelegation, LicenceShare, PrincipalSide,
    RelayedActivity,
};
pub use zhangban_base::{Error, Result};

/// A validation error naming the field.
pub(crate) fn bad(field: impl Into<String>, zh: &str, en: &str) -> Error {
    Error::validation(field, zh, en)
}

/// What both sides of a delegation take from the phone's wallet: its store, its device key (the key an
/// agent's certificate names, or the one a principal signs with), the pinned platform root, and a wallet of
/// their own over the same store and key (its trust and status lists verify licences offline).
pub(crate) struct Phone {
    pub store: std::sync::Arc<zhangban_base::store::Store>,
    pub signer: std::sync::Arc<dyn zhangban_wallet::DeviceSigner>,
    pub root_key: Vec<u8>,
    pub wallet: zhangban_wallet::Wallet,
}

impl Phone {
    pub fn of(wallet: &zhangban_wallet::Wallet) -> Phone {
        Phone {
            store: wallet.store().clone(),
            signer: wallet.signer(),
            root_key: wallet.root_key().to_vec(),
            wallet: zhangban_wallet::Wallet::with_signer(wallet.store().clone(), wallet.signer())
                .with_root_key(wallet.root_key().to_vec()),
        }
    }
}

/// A permission refusal naming what is missing.
pub(crate) fn denied(missing: &str, zh: &str, en: &str) -> Error {
    Error::permission_denied(missing, zh, en)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_report;
#[cfg(test)]
mod tests_share;
#[cfg(test)]
mod vectors;
