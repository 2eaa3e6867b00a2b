//! 容缺受理 (acceptance with deferred materials): when the promised material is due.
//!
//! The rule is data ([`Rules`]: `deferred_margin_days`, `deferred_max_days`): the material is due at
//! most `promised limit − margin` working days and at most `max` working days after acceptance, counted
//! on the official working-day calendar (the day of acceptance not counted). The due date is fixed at
//! acceptance: a later suspension of the case does not move it. A material whose catalog entry allows
//! fewer working days (`deferrable_days`, e.g. 5 for a hospital delivery record) is due by the earlier
//! date ([`deferred_due_within`]). The platform (the sandbox) computes it
//! with this same function when a clerk accepts the case and sends it in the `accepted` event; the
//! sandbox's automatic termination uses the same date. The phone shows the platform's date, and computes
//! it with this function when the platform sent none.

use chrono::NaiveDate;

use super::{Case, DeferredMaterial, MaterialLine, MaterialOutcome};
use crate::calendar::{Calendar, Reckoned, Rules};
use crate::Result;

/// The latest due date of deferred material on a case accepted on `accepted_on` with a promised limit
/// of `promised_days` working days.
pub fn deferred_due(
    cal: &Calendar,
    rules: &Rules,
    accepted_on: NaiveDate,
    promised_days: u32,
) -> Result<Reckoned<NaiveDate>> {
    deferred_due_within(cal, rules, accepted_on, promised_days, None)
}

/// [`deferred_due`] for one material whose catalog entry allows at most `material_days` working days
/// (`deferrable_days`, sent as `within_working_days` in the submission's material lines): the earlier of
/// the two dates.
pub fn deferred_due_within(
    cal: &Calendar,
    rules: &Rules,
    accepted_on: NaiveDate,
    promised_days: u32,
    material_days: Option<u32>,
) -> Result<Reckoned<NaiveDate>> {
    let days = rules.deferred_limit(promised_days).min(material_days.unwrap_or(u32::MAX));
    cal.add_working_days(accepted_on, days, &[])
}

/// The `within_working_days` of the deferred material named `name` in a submission's material lines.
pub fn material_days(lines: &[MaterialLine], name: &str) -> Option<u32> {
    lines.iter().find_map(|l| match l.outcome {
        MaterialOutcome::Deferred { within_working_days } if l.name == name => Some(within_working_days),
        _ => None,
    })
}

impl Case {
    /// When `material` is due: the platform's date, else the rule's (`None` before acceptance).
    pub fn deferred_due_of(
        &self,
        material: &DeferredMaterial,
        cal: &Calendar,
        rules: &Rules,
    ) -> Result<Option<Reckoned<NaiveDate>>> {
        if let Some(due) = material.due {
            return Ok(Some(Reckoned { value: due, provisional: false, uncovered_years: vec![] }));
        }
        match (self.accepted_on, self.promised_days) {
            (Some(acc), Some(days)) => {
                let within = material_days(&self.materials, &material.material);
                deferred_due_within(cal, rules, acc, days, within).map(Some)
            }
            _ => Ok(None),
        }
    }
}
