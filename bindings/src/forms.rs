//! FFI exports: catalog (search, one-time checklist), profiles, and form drafts.
//!
//! Thin: every rule and text lives in `zhangban_core::catalog` and `zhangban_core::forms`, whose types cross
//! as they are. A value a person types crosses as JSON text (`"\"王晓明\""`, `"12.5"`, `"null"` clears), read
//! by `forms::parse_value` (a bad value is a `Validation` error naming the field). Every edit of a draft
//! returns its [`DraftState`]: one call per keystroke, then render.

use std::sync::{Arc, Mutex};

use zhangban_core::catalog::search::Hit;
use zhangban_core::catalog::{Browse, Catalog};
use zhangban_core::forms::checklist::{self, Checklist};
use zhangban_core::forms::session::{self, DraftInfo};
use zhangban_core::forms::{parse_value, DraftState, Editor, Profile, Session};
use zhangban_core::store::{Store, SELF_SUBJECT};
use zhangban_core::Error as CoreError;

use crate::error::{guard, ZhangbanError};
use crate::store::ZhangbanStore;

/// Searches the service catalog offline (Chinese substrings, keywords, English names).
#[uniffi::export]
pub fn catalog_search(store: Arc<ZhangbanStore>, query: String, limit: u32) -> Result<Vec<Hit>, ZhangbanError> {
    guard(|| Ok(Catalog::current(store.core())?.search(&query, limit as usize)))
}

/// The catalog for browsing: the bundles (一件事), then the items by department.
#[uniffi::export]
pub fn catalog_browse(store: Arc<ZhangbanStore>) -> Result<Browse, ZhangbanError> {
    guard(|| Ok(Catalog::current(store.core())?.browse()))
}

/// A service item or bundle as JSON (the catalog's own format, see docs/forms.md).
#[uniffi::export]
pub fn catalog_entry_json(store: Arc<ZhangbanStore>, code: String) -> Result<String, ZhangbanError> {
    guard(|| Catalog::current(store.core())?.entry_json(&code))
}

/// 一次性告知 for an item or bundle and this person (their profile and licences), before any draft.
#[uniffi::export]
pub fn catalog_checklist(store: Arc<ZhangbanStore>, subject: String, code: String) -> Result<Checklist, ZhangbanError> {
    guard(|| checklist::for_subject(store.core(), &code, &subject))
}

/// Saves a value the person typed into their profile (`person.phone`, `family.spouse.name`, …).
#[uniffi::export]
pub fn profile_set(
    store: Arc<ZhangbanStore>,
    subject: String,
    path: String,
    value: String,
) -> Result<(), ZhangbanError> {
    guard(|| Profile::save_typed(store.core(), &subject, &path, &value))
}

/// The profile with every value's provenance, as JSON.
#[uniffi::export]
pub fn profile_json(store: Arc<ZhangbanStore>, subject: String) -> Result<String, ZhangbanError> {
    guard(|| Ok(serde_json::to_string(&Profile::load_plain(store.core(), &subject)?)?))
}

/// Drafts of one subject (`None`: the owner's), newest first; principals' drafts never mix.
#[uniffi::export]
pub fn drafts_list(store: Arc<ZhangbanStore>, subject: Option<String>) -> Result<Vec<DraftInfo>, ZhangbanError> {
    guard(|| session::list_plain(store.core(), subject.as_deref().unwrap_or(SELF_SUBJECT)))
}

/// Deletes unsubmitted drafts untouched for more than `days` days; returns how many.
#[uniffi::export]
pub fn drafts_purge(store: Arc<ZhangbanStore>, days: u32) -> Result<u32, ZhangbanError> {
    guard(|| Ok(session::purge_unsubmitted(store.core(), days, store.core().now())? as u32))
}

/// An open draft application: every edit is saved (encrypted) before the call returns, and returns what
/// the screen draws now.
#[derive(uniffi::Object)]
pub struct ZhangbanDraft {
    store: Arc<Store>,
    session: Mutex<Session>,
}

impl ZhangbanDraft {
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Session) -> Result<T, CoreError>) -> Result<T, ZhangbanError> {
        guard(|| {
            let mut s = self.session.lock().map_err(|_| CoreError::Internal("draft lock poisoned".into()))?;
            f(s.unlocked()?)
        })
    }

    fn edit(&self, f: impl FnOnce(&mut Session) -> Result<(), CoreError>) -> Result<DraftState, ZhangbanError> {
        self.with(|s| f(s).map(|_| s.state()))
    }

    pub(crate) fn open(store: &Arc<Store>, session: Session) -> Arc<Self> {
        Arc::new(ZhangbanDraft { store: store.clone(), session: Mutex::new(session) })
    }
}

#[uniffi::export]
impl ZhangbanDraft {
    /// Starts a draft for an item or bundle (`BD-BIRTH`, `GA-001`), autofilled from the subject's
    /// profile and the wallet's licences.
    #[uniffi::constructor]
    pub fn start(store: Arc<ZhangbanStore>, subject: String, target: String) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Ok(Self::open(store.core(), Session::start_in(store.core(), &subject, &target)?)))
    }

    /// Reopens a saved draft (after the app was closed or killed) with every saved edit.
    #[uniffi::constructor]
    pub fn resume(store: Arc<ZhangbanStore>, draft_id: String) -> Result<Arc<Self>, ZhangbanError> {
        guard(|| Ok(Self::open(store.core(), Session::resume_in(store.core(), &draft_id)?)))
    }

    /// Everything a form screen draws, now.
    pub fn state(&self) -> Result<DraftState, ZhangbanError> {
        self.with(|s| Ok(s.state()))
    }

    /// Sets a field (`value` is JSON text; `null` clears). Locked and computed fields refuse.
    pub fn set(&self, path: String, value: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.set(&path, parse_value(&path, &value)?, Editor::Person))
    }

    /// Confirms a prefilled value marked as possibly out of date.
    pub fn confirm(&self, path: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.confirm(&path))
    }

    /// Adds an entry to a repeat group (its fields are `group[N].…`, N the new last index).
    pub fn add_instance(&self, group: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.add_instance(&group).map(|_| ()))
    }

    pub fn remove_instance(&self, group: String, index: u32) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.remove_instance(&group, index as usize))
    }

    /// Attaches a store attachment (see `ZhangbanStore::write_attachment`) as a material.
    pub fn attach_material(&self, code: String, attachment_id: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.attach_material(&code, &attachment_id))
    }

    /// Signs a commitment (告知承诺) instead of a material, where the item allows it.
    pub fn commit_material(&self, code: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.commit_material(&code))
    }

    /// Chooses to supply a material later (容缺), where the item allows it.
    pub fn defer_material(&self, code: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.defer_material(&code))
    }

    pub fn clear_material(&self, code: String) -> Result<DraftState, ZhangbanError> {
        self.edit(|s| s.set_material(&code, None))
    }

    /// The answers as JSON, for submission.
    pub fn answers_json(&self) -> Result<String, ZhangbanError> {
        self.with(|s| Ok(s.draft.answers().to_string()))
    }

    /// 一次性告知 for this draft: what is still needed, and why.
    pub fn checklist(&self) -> Result<Checklist, ZhangbanError> {
        self.with(|s| checklist::for_draft(&*Catalog::current(&self.store)?, &s.draft))
    }

    /// Deletes the draft and its saved edits.
    pub fn discard(&self) -> Result<(), ZhangbanError> {
        self.with(|s| session::discard(&self.store, s.id()))
    }
}
