//! The licence an approved case yields, and how far its delivery into the wallet got.
//!
//! The platform's `approved` event carries the licence offer (`Case::licence`). Applying that event sets
//! [`LicenceDelivery::Pending`]; the sync loop (`crate::sync::issuance`) then requests the device-bound
//! licence and imports it into the wallet, once per case, and records the outcome here: `Imported` (with
//! the wallet's licence id) or `Refused` (the platform's reason, shown in `progress().needed_now`).

use serde::{Deserialize, Serialize};

/// Where the delivery of a case's licence into the wallet stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "delivery", rename_all = "snake_case")]
pub enum LicenceDelivery {
    /// To be fetched by the sync loop. `started_at`: when the last attempt began; should the app have
    /// stopped half-way, the next attempt first looks in the wallet for a licence imported since.
    Pending { attempts: u32, last_error: Option<String>, started_at: Option<i64> },
    /// In the wallet.
    Imported { licence_id: String, at: i64 },
    /// The platform refused to issue it, or what it sent could not be imported. `status` 0: refused on
    /// the phone.
    Refused { status: u16, message: String, at: i64 },
}

impl LicenceDelivery {
    pub fn pending() -> Self {
        LicenceDelivery::Pending { attempts: 0, last_error: None, started_at: None }
    }
    /// `pending`, `imported`, `refused`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LicenceDelivery::Pending { .. } => "pending",
            LicenceDelivery::Imported { .. } => "imported",
            LicenceDelivery::Refused { .. } => "refused",
        }
    }
}
