//! Working-day calendar: official holidays and adjusted workdays (调休).
//!
//! * The bundled data (`cn-holidays.txt`) covers 2004–2026, one block per year citing the State Council
//!   notice it was transcribed from. Newer years (or corrections) arrive as [signed updates](update) from
//!   the platform, verified with the pinned platform key before they are used or stored.
//! * A day is a working day when it is Monday–Friday and not a day off, or a Saturday/Sunday listed as a
//!   调休 workday. A computation that touches a year with no data assumes Monday–Friday and says so:
//!   every result is a [`Reckoned`] carrying `provisional` and the uncovered years — never silent.
//! * Counting follows the usual rule for administrative time limits: the day the clock starts is not
//!   counted (期间开始之日不计算在内); paused days (a suspension) are not counted either.
//! * Rules that depend on the calendar are data with defaults ([`Rules`]).

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

use zhangban_base::{store, Error, Result};
mod parse;
pub mod update;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

pub use parse::{parse as parse_calendar_text, MAX_CALENDAR_TEXT};

/// The bundled official data, 2004–2026.
pub const BUNDLED_TEXT: &str = include_str!("cn-holidays.txt");

/// Longest span one computation may walk (about 30 years), so a bad input cannot spin.
pub const MAX_SPAN_DAYS: i64 = 11_000;

/// Earliest date the calendar takes or gives (no official working-day data exists before 1949 anyway;
/// years without data are reckoned Monday–Friday and flagged provisional).
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("1900-01-01"),
};
/// Latest date the calendar takes or gives: every date it returns has a 4-digit year, so it reads back
/// through [`parse_date`] (a date after 9999-12-31 would print as `+10000-…`).
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => panic!("9999-12-31"),
};

/// Parses a `YYYY-MM-DD` date (exactly 10 characters) within [`FIRST_DATE`]..=[`LAST_DATE`]; a
/// failure is a validation error naming `field` (the caller's parameter name).
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate> {
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    let d = if well_formed { NaiveDate::parse_from_str(text, "%Y-%m-%d").ok() } else { None };
    let d = d.ok_or_else(|| {
        Error::validation(
            field,
            format!("日期“{}”格式不正确：须为 YYYY-MM-DD。", text.chars().take(40).collect::<String>()),
            format!("date '{}' is not a date: use YYYY-MM-DD.", text.chars().take(40).collect::<String>()),
        )
    })?;
    check_bounds(field, d)
}

fn check_bounds(field: &str, d: NaiveDate) -> Result<NaiveDate> {
    if d < FIRST_DATE || d > LAST_DATE {
        return Err(Error::validation(
            field,
            format!("日期超出可计算范围（{FIRST_DATE} 至 {LAST_DATE}）。"),
            format!("date outside the range the calendar reckons ({FIRST_DATE} to {LAST_DATE})."),
        ));
    }
    Ok(d)
}

/// One named break: every day `from..=to` is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// A Saturday or Sunday worked in exchange for a longer break (调休上班).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workday {
    pub date: NaiveDate,
    pub name: String,
}

/// The arrangement of one year, with the notice(s) it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearData {
    pub year: i32,
    /// The notice cited first, then any later notice that changed the year.
    pub notices: Vec<String>,
    /// Remarks on how sure the transcription is.
    pub notes: Vec<String>,
    pub holidays: Vec<Holiday>,
    pub workdays: Vec<Workday>,
}

/// Where a year's data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    Bundled,
    /// A verified signed update from the platform, with its version.
    Update {
        version: u64,
    },
}

/// An inclusive range of days during which the clock is stopped (a suspension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }
}

/// A date counted in working days, as a screen shows it: `provisional` when a year without official data
/// was assumed Monday–Friday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WorkingDate {
    pub date: NaiveDate,
    pub provisional: bool,
}

impl From<Reckoned<NaiveDate>> for WorkingDate {
    fn from(r: Reckoned<NaiveDate>) -> Self {
        WorkingDate { date: r.value, provisional: r.provisional }
    }
}

/// Whether a date is a working day, as a screen shows it ([`Calendar::workday_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WorkdayInfo {
    pub working: bool,
    pub provisional: bool,
    /// The official holiday the date falls in, if any.
    pub holiday_zh: Option<String>,
}

/// A count of working days, as a screen shows it ([`Calendar::working_days_between_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct WorkingDays {
    pub days: i64,
    pub provisional: bool,
}

/// A computed value and whether any part of it rests on assumed (Monday–Friday) data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reckoned<T> {
    pub value: T,
    /// True when a year without official data was touched: the value assumes Monday–Friday there.
    pub provisional: bool,
    /// The years without data that were touched, ascending.
    pub uncovered_years: Vec<i32>,
}

/// The official working-day calendar.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    off: BTreeMap<NaiveDate, String>,
    work: BTreeMap<NaiveDate, String>,
    years: BTreeMap<i32, (YearData, Origin)>,
}

static BUNDLED: OnceLock<Arc<Calendar>> = OnceLock::new();

impl Calendar {
    /// The bundled official calendar (2004–2026). Parsed once. Should the bundled text ever fail to parse
    /// (a build mistake the tests catch), the calendar is empty and every result is flagged provisional.
    pub fn bundled() -> Arc<Calendar> {
        BUNDLED
            .get_or_init(|| {
                let cal = parse::parse(BUNDLED_TEXT)
                    .map(|years| {
                        let mut c = Calendar::default();
                        for y in years {
                            c.insert_year(y, Origin::Bundled);
                        }
                        c
                    })
                    .unwrap_or_default();
                Arc::new(cal)
            })
            .clone()
    }

    /// A calendar from explicit year blocks (tests, updates).
    pub fn from_years(years: Vec<(YearData, Origin)>) -> Calendar {
        let mut c = Calendar::default();
        for (y, o) in years {
            c.insert_year(y, o);
        }
        c
    }

    /// Adds or replaces one year's arrangement. Replacing removes the days the old block set, so a
    /// corrected notice (2019 劳动节, 2020 春节) leaves nothing stale behind.
    pub fn insert_year(&mut self, data: YearData, origin: Origin) {
        if let Some((old, _)) = self.years.remove(&data.year) {
            for h in &old.holidays {
                for d in days(h.from, h.to) {
                    self.off.remove(&d);
                }
            }
            for w in &old.workdays {
                self.work.remove(&w.date);
            }
        }
        for h in &data.holidays {
            for d in days(h.from, h.to) {
                self.off.insert(d, h.name.clone());
            }
        }
        for w in &data.workdays {
            self.work.insert(w.date, w.name.clone());
        }
        self.years.insert(data.year, (data, origin));
    }

    /// Years with official data, ascending.
    pub fn covered_years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    pub fn year(&self, year: i32) -> Option<(&YearData, &Origin)> {
        self.years.get(&year).map(|(d, o)| (d, o))
    }

    pub fn is_covered(&self, d: NaiveDate) -> bool {
        self.years.contains_key(&d.year())
    }

    /// The holiday a date belongs to, if it is an official day off.
    pub fn holiday_name(&self, d: NaiveDate) -> Option<&str> {
        self.off.get(&d).map(String::as_str)
    }

    fn working(&self, d: NaiveDate) -> bool {
        if self.work.contains_key(&d) {
            return true;
        }
        if self.off.contains_key(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> Reckoned<bool> {
        let mut t = Tracker::default();
        t.touch(self, d);
        t.finish(self.working(d))
    }

    /// Whether `date` (YYYY-MM-DD text, a `Validation` error on field `date` otherwise) is a working day (调休
    /// workdays included), and the official holiday it falls in.
    pub fn workday_info(&self, date: &str) -> Result<WorkdayInfo> {
        let d = parse_date("date", date)?;
        let r = self.is_working_day(d);
        Ok(WorkdayInfo {
            working: r.value,
            provisional: r.provisional,
            holiday_zh: self.holiday_name(d).map(String::from),
        })
    }

    /// [`Self::add_working_days`] from `start` as YYYY-MM-DD text (a `Validation` error on field `start`), no
    /// paused days.
    pub fn add_working_days_text(&self, start: &str, n: u32) -> Result<WorkingDate> {
        Ok(self.add_working_days(parse_date("start", start)?, n, &[])?.into())
    }

    /// [`Self::working_days_between`] of two YYYY-MM-DD texts (errors name `from` or `to`), no paused days.
    pub fn working_days_between_text(&self, from: &str, to: &str) -> Result<WorkingDays> {
        let r = self.working_days_between(parse_date("from", from)?, parse_date("to", to)?, &[])?;
        Ok(WorkingDays { days: r.value, provisional: r.provisional })
    }

    /// The date `n` working days after `start` (the start day itself not counted), skipping days in
    /// `paused`. `n == 0` returns `start`.
    pub fn add_working_days(&self, start: NaiveDate, n: u32, paused: &[DateRange]) -> Result<Reckoned<NaiveDate>> {
        let mut t = Tracker::default();
        t.touch(self, start);
        let mut d = start;
        let mut left = n;
        let mut walked = 0i64;
        check_bounds("start", start)?;
        while left > 0 {
            d = d.succ_opt().filter(|d| *d <= LAST_DATE).ok_or_else(|| {
                Error::validation(
                    "n",
                    format!("结果日期将晚于 {LAST_DATE}，无法计算。"),
                    format!("the result would fall after {LAST_DATE}."),
                )
            })?;
            walked += 1;
            if walked > MAX_SPAN_DAYS {
                return Err(span_error("n"));
            }
            t.touch(self, d);
            if self.working(d) && !paused.iter().any(|p| p.contains(d)) {
                left -= 1;
            }
        }
        Ok(t.finish(d))
    }

    /// Working days in `(from, to]`, paused days excluded; negative when `to` is before `from`
    /// (a deadline already passed by that many working days).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate, paused: &[DateRange]) -> Result<Reckoned<i64>> {
        check_bounds("from", from)?;
        check_bounds("to", to)?;
        let (a, b, sign) = if to >= from { (from, to, 1) } else { (to, from, -1) };
        if (b - a).num_days() > MAX_SPAN_DAYS {
            return Err(span_error("to"));
        }
        let mut t = Tracker::default();
        let mut n = 0i64;
        let mut d = a;
        while d < b {
            d += Duration::days(1);
            t.touch(self, d);
            if self.working(d) && !paused.iter().any(|p| p.contains(d)) {
                n += 1;
            }
        }
        Ok(t.finish(sign * n))
    }
}

fn span_error(field: &str) -> Error {
    Error::validation(field, "日期跨度过大（超过约 30 年）。", "date span too large (over about 30 years).")
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

#[derive(Default)]
struct Tracker {
    uncovered: BTreeSet<i32>,
}

impl Tracker {
    fn touch(&mut self, cal: &Calendar, d: NaiveDate) {
        if !cal.years.contains_key(&d.year()) {
            self.uncovered.insert(d.year());
        }
    }
    fn finish<T>(self, value: T) -> Reckoned<T> {
        Reckoned {
            value,
            provisional: !self.uncovered.is_empty(),
            uncovered_years: self.uncovered.into_iter().collect(),
        }
    }
}

/// The 容缺 (deferred material) limit, in working days, for an item promised in `promised_limit` working
/// days, by the default rules (exported to the shells from here).
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn deferred_limit_days(promised_limit: u32) -> u32 {
    Rules::default().deferred_limit(promised_limit)
}

/// Deadline rules, as data with defaults (a province may tighten them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// A 容缺 (deferred material) supply deadline ends at least this many working days before the
    /// promised completion limit.
    pub deferred_margin_days: u32,
    /// …and is never more than this many working days.
    pub deferred_max_days: u32,
    /// Days after completion during which a rating may be given.
    pub rating_window_days: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { deferred_margin_days: 2, deferred_max_days: 20, rating_window_days: 15 }
    }
}

impl Rules {
    /// Parses rules from JSON (missing fields take defaults), bounded in size.
    pub fn from_json(text: &str) -> Result<Rules> {
        if text.len() > 16 * 1024 {
            return Err(Error::validation("rules", "规则数据过大。", "rules too large."));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::validation("rules", format!("规则格式错误：{e}"), format!("bad rules: {e}")))
    }

    /// The longest 容缺 supply period, in working days, for an item promised in `promised_limit` working
    /// days: `min(promised_limit − margin, max)`, never below 0.
    pub fn deferred_limit(&self, promised_limit: u32) -> u32 {
        promised_limit.saturating_sub(self.deferred_margin_days).min(self.deferred_max_days)
    }

    /// The latest due date for deferred material on a case accepted on `accepted_on`.
    pub fn deferred_due(
        &self,
        cal: &Calendar,
        accepted_on: NaiveDate,
        promised_limit: u32,
        paused: &[DateRange],
    ) -> Result<Reckoned<NaiveDate>> {
        cal.add_working_days(accepted_on, self.deferred_limit(promised_limit), paused)
    }

    /// Checks a requested 容缺 period (working days) against the rules; the error names the field.
    pub fn check_deferred_days(&self, promised_limit: u32, requested: u32) -> Result<()> {
        let limit = self.deferred_limit(promised_limit);
        if requested > limit {
            return Err(Error::validation(
                "deferred_days",
                format!(
                    "容缺补交期限为 {requested} 个工作日，超过上限 {limit} 个工作日（承诺时限 {promised_limit} 减 {}，且不超过 {}）。",
                    self.deferred_margin_days, self.deferred_max_days
                ),
                format!(
                    "deferred supply period of {requested} working days exceeds the limit of {limit} (promised limit {promised_limit} minus {}, at most {}).",
                    self.deferred_margin_days, self.deferred_max_days
                ),
            ));
        }
        Ok(())
    }
}
