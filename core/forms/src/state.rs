//! What a form screen draws, in one value: [`DraftState`]. Every edit of a [`Session`] through the FFI
//! returns it, so a shell makes one call per keystroke and renders; the rules a screen needs (which field
//! can be edited and why not, which material actions are allowed, what a value reads as) are here, once,
//! for both shells.

use crate::draft::{FieldView, Issue, MaterialChoice, MaterialReport, MaterialStatus};
use crate::schema::FieldType;
use crate::session::Session;
use crate::{FillReport, Provenance, Result, Text};
use serde_json::Value as Json;

/// Where a value came from, for a badge next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ValueSource {
    /// Verified from an e-licence.
    Licence,
    /// From the person's profile.
    Profile,
    /// Typed into this form.
    Form,
    /// Entered by an agent (帮办代办) on the person's behalf.
    Agent,
    /// Computed by the form.
    Computed,
}

/// A choice of a choice field.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldOption {
    pub value: String,
    pub label: Text,
}

/// One visible field as a screen shows it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FieldState {
    /// `applicant.phone`, `household.members[2].id_number`.
    pub path: String,
    pub kind: FieldType,
    pub label: Text,
    pub help: Option<Text>,
    pub options: Vec<FieldOption>,
    /// The value (`null` when empty).
    pub value: Json,
    /// The value as a person reads it (choice labels, 是/否, empty text when empty).
    pub display: Text,
    pub source: Option<ValueSource>,
    /// Where the value came from in words ("来自电子证照 / from an e-licence"), when it has a value.
    pub source_text: Option<Text>,
    /// Which licence as of when, who entered it when.
    pub provenance: Option<Provenance>,
    pub computed: bool,
    /// The person can change it now.
    pub editable: bool,
    /// Why not, when not editable.
    pub lock_reason: Option<Text>,
    /// Prefilled from an old value or an expired licence: the person should confirm it.
    pub confirm: bool,
    /// Problems of this field (blocking or not).
    pub issues: Vec<Issue>,
}

/// What the person may do with a material now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MaterialAction {
    /// Upload a file (replaces an earlier one).
    Attach,
    /// Sign a commitment instead (告知承诺).
    Commit,
    /// Supply it after acceptance (容缺).
    Defer,
    /// Undo the choice made.
    Clear,
}

/// One material as a screen shows it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MaterialState {
    pub code: String,
    pub name: Text,
    pub required: bool,
    pub status: MaterialStatus,
    /// The status in words.
    pub status_text: Text,
    /// Blocks submission until dealt with.
    pub blocks: bool,
    /// The actions allowed now (none once submitted or when nothing is to supply).
    pub actions: Vec<MaterialAction>,
}

/// Everything a form screen draws, after any edit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DraftState {
    pub id: String,
    pub subject: String,
    /// Item or bundle code.
    pub target: String,
    /// Visible fields, in form order (repeat children per instance, after their group).
    pub fields: Vec<FieldState>,
    pub summary: FillReport,
    /// Every problem at once, each naming its field path or `material:CODE`.
    pub issues: Vec<Issue>,
    pub materials: Vec<MaterialState>,
    /// Nothing blocks submission.
    pub complete: bool,
    /// The case it was submitted as; the draft is then read-only.
    pub submitted_case: Option<String>,
}

fn t(zh: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(zh, en)
}

/// Why a field cannot be changed, or None when it can.
fn lock_reason(v: &FieldView, submitted: bool) -> Option<Text> {
    if submitted {
        Some(t("申请已提交，不能再修改", "submitted: it cannot be changed"))
    } else if v.computed {
        Some(t("根据其他填写内容自动计算", "computed from other answers"))
    } else if v.kind == FieldType::Repeat {
        Some(t("请在下方逐项填写", "fill in the entries below"))
    } else if v.locked {
        Some(t("来自电子证照，不能修改", "from an e-licence: it cannot be changed"))
    } else {
        None
    }
}

fn source_of(p: &Provenance) -> (ValueSource, Text) {
    match p {
        Provenance::Licence { .. } => (ValueSource::Licence, t("来自电子证照", "from an e-licence")),
        Provenance::Profile { .. } => (ValueSource::Profile, t("来自个人资料", "from your profile")),
        Provenance::Form { .. } => (ValueSource::Form, t("本表填写", "entered in this form")),
        Provenance::Agent { agent, .. } => {
            (ValueSource::Agent, t(format!("由{agent}代填"), format!("entered by {agent} on your behalf")))
        }
        Provenance::Computed => (ValueSource::Computed, t("自动计算", "computed")),
    }
}

/// The value as a person reads it.
fn display(v: &FieldView) -> Text {
    let option = |s: &str| v.options.iter().find(|o| o.0 == s).map(|o| o.1.clone());
    match &v.value {
        Json::Null => Text::default(),
        Json::Bool(b) => {
            if *b {
                t("是", "yes")
            } else {
                t("否", "no")
            }
        }
        Json::String(s) => match v.kind {
            FieldType::Choice => option(s).unwrap_or_else(|| t(s.clone(), s.clone())),
            _ => t(s.clone(), s.clone()),
        },
        Json::Array(a) if v.kind == FieldType::MultiChoice => {
            let labels: Vec<Text> = a
                .iter()
                .map(|x| {
                    let s = x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string());
                    option(&s).unwrap_or_else(|| t(s.clone(), s))
                })
                .collect();
            t(
                labels.iter().map(|l| l.zh.as_str()).collect::<Vec<_>>().join("、"),
                labels.iter().map(|l| l.en.as_str()).collect::<Vec<_>>().join(", "),
            )
        }
        other => t(other.to_string(), other.to_string()),
    }
}

fn field_state(v: FieldView, issues: &[Issue], submitted: bool) -> FieldState {
    let lock = lock_reason(&v, submitted);
    let has_value = !v.value.is_null();
    let (source, source_text) = match v.provenance.as_ref().filter(|_| has_value).map(source_of) {
        Some((s, text)) => (Some(s), Some(text)),
        None => (None, None),
    };
    FieldState {
        display: display(&v),
        issues: issues.iter().filter(|i| i.path == v.path).cloned().collect(),
        editable: lock.is_none(),
        lock_reason: lock,
        source,
        source_text,
        path: v.path,
        kind: v.kind,
        label: v.label,
        help: v.help,
        options: v.options.into_iter().map(|(value, label)| FieldOption { value, label }).collect(),
        value: v.value,
        provenance: v.provenance,
        computed: v.computed,
        confirm: v.confirm,
    }
}

/// The actions allowed on a material: nothing once submitted or when nothing is to supply; otherwise
/// attach, commit / defer where the item allows it and it is not already the choice, clear a choice.
fn actions(
    m: &MaterialReport,
    commitment: bool,
    deferrable: bool,
    choice: Option<&MaterialChoice>,
    submitted: bool,
) -> Vec<MaterialAction> {
    if submitted || m.status.is_exempt() {
        return Vec::new();
    }
    let mut out = vec![MaterialAction::Attach];
    if commitment && !matches!(choice, Some(MaterialChoice::Committed { .. })) {
        out.push(MaterialAction::Commit);
    }
    if deferrable && !matches!(choice, Some(MaterialChoice::Deferred { .. })) {
        out.push(MaterialAction::Defer);
    }
    if choice.is_some() {
        out.push(MaterialAction::Clear);
    }
    out
}

impl Session {
    /// Everything a form screen draws, now.
    pub fn state(&self) -> DraftState {
        let d = &self.draft;
        let submitted = self.submitted_case().is_some();
        let issues = d.validate();
        let fields = d.view().into_iter().filter(|v| v.visible).map(|v| field_state(v, &issues, submitted)).collect();
        let materials = d
            .material_report()
            .into_iter()
            .map(|m| {
                let need = d.materials.iter().find(|n| n.material.code == m.code).map(|n| &n.material);
                let commitment = need.is_some_and(|n| n.commitment);
                let deferrable = need.is_some_and(|n| n.deferrable_days.is_some());
                let actions = actions(&m, commitment, deferrable, d.choices.get(&m.code), submitted);
                MaterialState {
                    status_text: m.status.label(),
                    blocks: m.status.blocks(),
                    actions,
                    code: m.code,
                    name: m.name,
                    required: m.required,
                    status: m.status,
                }
            })
            .collect();
        DraftState {
            id: d.id.clone(),
            subject: d.subject.clone(),
            target: d.target.clone(),
            fields,
            summary: d.report(),
            complete: !issues.iter().any(|i| i.severity == crate::Severity::Error),
            issues,
            materials,
            submitted_case: self.submitted_case().map(str::to_string),
        }
    }

    /// Attaches a store attachment (it must exist, and be this draft's subject's) as material `code`.
    pub fn attach_material(&mut self, code: &str, attachment_id: &str) -> Result<()> {
        if self.store().attachment_info(attachment_id)?.subject != self.draft.subject {
            return Err(zhangban_base::outbox::another_subjects("attachment_id".into()));
        }
        self.set_material(code, Some(MaterialChoice::Attached { attachment_id: attachment_id.to_string() }))
    }

    /// Signs a commitment (告知承诺) instead of material `code`, where the item allows it.
    pub fn commit_material(&mut self, code: &str) -> Result<()> {
        let at = self.store().now();
        self.set_material(code, Some(MaterialChoice::Committed { at }))
    }

    /// Chooses to supply material `code` after acceptance (容缺), where the item allows it.
    pub fn defer_material(&mut self, code: &str) -> Result<()> {
        let at = self.store().now();
        self.set_material(code, Some(MaterialChoice::Deferred { at }))
    }
}
