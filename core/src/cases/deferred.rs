//! 容缺受理 (acceptance with deferred materials): when the promised material is due.
//!
//! The rule is data ([`Rules`]: `deferred_margin_days`, `deferred_max_days`): the material is due at
//! most `promised limit − margin` working days and at most `max` working days after acceptance, counted
//! on the official working-day calendar (the day of acceptance not counted). The due date is fixed at
//! acceptance: a later suspension of the case does not move it. The platform (the sandbox) computes it
//! with this same function when a clerk accepts the case and sends it in the `accepted` event; the
//! sandbox's automatic termination uses the same date. The phone shows the platform's date, and computes
//! it with this function when the platform sent none.

use chrono::NaiveDate;

use super::{Case, DeferredMaterial};
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
    rules.deferred_due(cal, accepted_on, promised_days, &[])
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
            (Some(acc), Some(days)) => deferred_due(cal, rules, acc, days).map(Some),
            _ => Ok(None),
        }
    }
}
