//! What a reminder's action does: open the renewal draft of an expiring licence, urge an overdue case.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zhangban_base::store::{Store, SELF_SUBJECT};
use zhangban_base::{Error, Result};
use zhangban_catalog::Catalog;
use zhangban_forms::{AutofillOptions, Editor, Session};
use zhangban_wallet::Wallet;

/// Which renewal draft was opened for which licence (so the link opens the same draft again).
const RENEWAL_COLLECTION: &str = "remind_renewal";

#[derive(Debug, Serialize, Deserialize)]
struct Opened {
    draft_id: String,
    item: String,
}

/// Opens the draft that renews a licence (the link of a licence-expiry reminder): the catalog's renewal
/// item for the licence's type, autofilled from the profile and the wallet and prefilled with the values
/// the catalog names (e.g. 换领原因 = 有效期满). The same draft is returned while it is not submitted.
pub fn open_renewal(store: &Arc<Store>, licence_id: &str) -> Result<String> {
    let wallet = Wallet::open(store.clone())?;
    let detail = wallet.licence(licence_id, store.now())?;
    let catalog = Catalog::current(store)?;
    let item = catalog.renewal_item(detail.summary.licence_type.key()).ok_or_else(|| {
        Error::validation(
            "licence_id",
            "服务目录中没有该证照的换领事项，请向发证机关咨询。",
            "the catalog has no renewal item for this licence; ask the issuing authority.",
        )
    })?;
    // Kept under a keyed id of the licence id (finding 11).
    let record_id = store.keyed_id(RENEWAL_COLLECTION, licence_id)?;
    if let Some(r) = store.get_opt(RENEWAL_COLLECTION, &record_id)? {
        let o: Opened = r.json()?;
        let open = zhangban_forms::session::list(store, SELF_SUBJECT)?
            .into_iter()
            .any(|d| d.id == o.draft_id && !d.submitted && d.target == item.code);
        if open {
            return Ok(o.draft_id);
        }
    }
    let opts = AutofillOptions::at(store.clock().as_ref());
    let mut session = Session::start(store.clone(), &catalog, SELF_SUBJECT, &item.code, &wallet, &opts)?;
    if let Some(values) = item.renews.as_ref().and_then(|r| r.prefill.as_object()) {
        for (path, value) in values {
            session.set(path, value.clone(), Editor::Person)?;
        }
    }
    let id = session.id().to_string();
    store.put_json(
        RENEWAL_COLLECTION,
        &record_id,
        SELF_SUBJECT,
        &Opened { draft_id: id.clone(), item: item.code.clone() },
    )?;
    Ok(id)
}

/// 催办 (the action of an overdue-case reminder): queues the urge in the outbox (see
/// [`zhangban_cases::urge`]); the next [`crate::plan`] drops the action from the reminder.
pub fn urge(store: &Store, case_id: &str) -> Result<()> {
    let cal = zhangban_calendar::update::load(store)?;
    zhangban_cases::urge(store, &cal, case_id)
}

#[cfg(test)]
#[test]
fn the_renewal_collection_is_keyed_by_licence_id() {
    // Its record ids are keyed ids of licence ids (finding 11): a store of before gets them renamed.
    assert!(zhangban_base::store::KEYED_IDS.contains(&RENEWAL_COLLECTION));
}
