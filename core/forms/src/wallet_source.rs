//! The wallet as a [`LicenceSource`]: the licences it holds, with their fields, for autofill and
//! exempt materials. Revoked and not-yet-valid licences are left out; expired ones are passed on with
//! their expiry date (forms then neither lock their values nor count them as exempting a material).

use super::profile::{HeldLicence, LicenceSource};
use crate::wallet::{LicenceStatus, Wallet};
use crate::Result;
use serde_json::{json, Value as Json};

fn date_of(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map(|d| d.date_naive().format("%Y-%m-%d").to_string()).unwrap_or_default()
}

impl LicenceSource for Wallet {
    /// Only the licences stored for `subject`: a principal's draft on an agent's phone is never filled
    /// from the agent's own licences (issue 11).
    fn held(&self, subject: &str) -> Result<Vec<HeldLicence>> {
        let now = self.store().now();
        let mut out = Vec::new();
        for s in self.licences_of(subject, now)? {
            if matches!(s.status, LicenceStatus::Revoked | LicenceStatus::NotYetValid) {
                continue;
            }
            let d = self.licence(&s.licence_id, now)?;
            let fields = d
                .elements
                .into_iter()
                .map(|e| {
                    let v: Json = match e.value {
                        crate::wallet::types::ElementValue::Bool(b) => json!(b),
                        crate::wallet::types::ElementValue::Int(i) => json!(i),
                        crate::wallet::types::ElementValue::Text(t) => json!(t),
                        crate::wallet::types::ElementValue::Members(m) => serde_json::to_value(m).unwrap_or_default(),
                    };
                    (e.key, v)
                })
                .collect();
            out.push(HeldLicence {
                licence_type: s.licence_type.key().to_string(),
                licence_id: s.licence_id.clone(),
                as_of: date_of(s.valid_from.max(0)),
                valid_until: Some(date_of(s.valid_until)),
                fields,
            });
        }
        Ok(out)
    }
}

/// Imports a licence into the wallet and lets the profile learn its verified values, in the core so that
/// both shells (and the sync loop's issuance) get the same rule. Every import of a licence that belongs
/// to the person goes through here; `Wallet::import` alone only checks and stores the licence.
pub fn import_licence(wallet: &Wallet, licence: &[u8], now: i64) -> Result<crate::wallet::LicenceSummary> {
    let summary = wallet.import(licence, now)?;
    if let Some(l) =
        wallet.held(zhangban_base::store::SELF_SUBJECT)?.into_iter().find(|l| l.licence_id == summary.licence_id)
    {
        super::profile::apply_verified(
            wallet.store(),
            zhangban_base::store::SELF_SUBJECT,
            &l.licence_type,
            &l.fields,
            &l.licence_id,
            &l.as_of,
        )?;
    }
    Ok(summary)
}

/// The licences the wallet in `store` holds for `subject`, for autofill and exempt materials: none when the
/// store holds no licence (the wallet need not be set up); a wallet that holds licences but cannot be
/// opened or read is an error of the call, never an empty list.
pub fn held_licences(store: &std::sync::Arc<zhangban_base::store::Store>, subject: &str) -> Result<Vec<HeldLicence>> {
    if store.list(crate::wallet::LICENCE_COLLECTION, None)?.is_empty() {
        return Ok(Vec::new());
    }
    Wallet::open(store.clone())?.held(subject)
}
