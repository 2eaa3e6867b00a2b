//! From a completed form draft to an application: [`submission_from_draft`] converts, [`submit_draft`]
//! submits — the case, its outbox operation, the draft marked submitted and the profile's typed values
//! all in ONE store transaction, so a crash leaves either a draft still open or a submitted case, never
//! a case whose draft can be submitted a second time.

use serde::{Deserialize, Serialize};

use super::{get, prepare, submit_in, Case, Proxy, Submission};
use crate::catalog::Catalog;
use crate::forms::draft::{Draft, MaterialStatus, Severity};
use crate::forms::profile::{self, Profile};
use crate::forms::session::Session;
use crate::store::PutOptions;
use crate::{Error, Result};

/// How one material of the application was dealt with, as sent to the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MaterialLine {
    pub code: String,
    /// The material's name (Chinese, as the platform's clerk reads it).
    pub name: String,
    #[serde(flatten)]
    pub outcome: MaterialOutcome,
}

/// What stands in for a material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MaterialOutcome {
    /// 免提交: an e-licence the person holds; the platform looks it up by id (数据共享).
    Exempt { licence_type: String, licence_id: String },
    /// Issued by an earlier item of the same bundle.
    ProducedInBundle { item: String },
    /// Uploaded with the application.
    Attached { attachment_id: String },
    /// 告知承诺: a signed commitment instead of the material.
    Committed,
    /// 容缺: supplied after acceptance, within this many working days (the platform sets the due date).
    Deferred { within_working_days: u32 },
    /// Optional and not supplied.
    NotSupplied,
}

/// Converts a draft with no blocking problem into a [`Submission`]. A draft that still has problems
/// gives [`Error::Validation`] naming the first problem's path and how many there are.
pub fn submission_from_draft(draft: &Draft, catalog: &Catalog) -> Result<Submission> {
    let blocking: Vec<_> = draft.validate().into_iter().filter(|i| i.severity == Severity::Error).collect();
    if let Some(first) = blocking.first() {
        return Err(Error::validation(
            first.path.clone(),
            format!("还有 {} 处需要处理，第一处：{}", blocking.len(), first.message.zh),
            format!("{} problem(s) left; the first: {}", blocking.len(), first.message.en),
        ));
    }
    let target = catalog.target(&draft.target)?;
    let item_codes: Vec<String> = catalog.items_of(&draft.target)?.iter().map(|i| i.code.clone()).collect();
    let mut attachments: Vec<String> = Vec::new();
    let mut deferred = Vec::new();
    let mut materials = Vec::new();
    for m in draft.material_report() {
        let outcome = match m.status {
            MaterialStatus::Exempt { licence_type, licence_id } => MaterialOutcome::Exempt { licence_type, licence_id },
            MaterialStatus::ProducedInBundle { item } => MaterialOutcome::ProducedInBundle { item },
            MaterialStatus::Attached { attachment_id } => {
                if !attachments.contains(&attachment_id) {
                    attachments.push(attachment_id.clone());
                }
                MaterialOutcome::Attached { attachment_id }
            }
            MaterialStatus::Committed => MaterialOutcome::Committed,
            // Not chosen but allowed to follow (容缺): submitting without it defers it.
            MaterialStatus::Deferred { within_working_days } | MaterialStatus::Deferrable { within_working_days } => {
                deferred.push(m.name.zh.clone());
                MaterialOutcome::Deferred { within_working_days }
            }
            MaterialStatus::Optional => MaterialOutcome::NotSupplied,
            // validate() reported these as blocking; reaching here means the two disagree.
            MaterialStatus::Missing | MaterialStatus::Commitment => {
                return Err(Error::validation(
                    format!("material:{}", m.code),
                    format!("请处理材料“{}”：上传或签署告知承诺书。", m.name.zh),
                    format!("deal with \"{}\": attach it or sign a commitment.", m.name.en),
                ))
            }
        };
        materials.push(MaterialLine { code: m.code, name: m.name.zh, outcome });
    }
    Ok(Submission {
        item_codes,
        title: target.name().zh.clone(),
        values: draft.answers(),
        attachments,
        deferred_materials: deferred,
        materials,
        title_en: target.name().en.clone(),
    })
}

/// Submits the session's draft: converts it ([`submission_from_draft`]), then in ONE transaction
/// creates the case (`queued`) and its outbox operation, marks the draft submitted (no longer editable,
/// never purged) and saves the values the person typed into profile-bound fields to the profile
/// (verified values there are never overwritten). Submitting a draft a second time returns the case
/// made the first time.
pub fn submit_draft(session: &mut Session, catalog: &Catalog) -> Result<Case> {
    submit_draft_as(session, catalog, None)
}

/// [`submit_draft`] by an agent for a principal ([`Proxy`]; `zhangban-agent` checks the delegation).
pub fn submit_draft_as(session: &mut Session, catalog: &Catalog, proxy: Option<&Proxy>) -> Result<Case> {
    if let Some(case_id) = session.submitted_case() {
        return get(session.store(), case_id);
    }
    let sub = submission_from_draft(&session.draft, catalog)?;
    let subject = session.draft.subject.clone();
    let store = session.store().clone();
    let prepared = prepare(&store, &subject, &sub, Some(session.id()), proxy)?;
    let case_id = prepared.case.id.clone();
    let mut profile = Profile::load(&store, &subject)?;
    let learned = profile.learn(session.draft.typed_profile_values());
    let case = store.transaction(|t| {
        let case = submit_in(t, prepared)?;
        session.write_snapshot_in(t, Some(&case_id))?;
        if learned > 0 {
            t.put_json(profile::COLLECTION, &subject, &subject, &profile, PutOptions::default())?;
        }
        Ok(case)
    })?;
    session.note_submitted(&case_id);
    Ok(case)
}
