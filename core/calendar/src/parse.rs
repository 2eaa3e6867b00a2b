//! Parser of the calendar text format (see the header of `cn-holidays.txt`). Bounded: at most
//! [`MAX_CALENDAR_TEXT`] bytes, 200 years, 100 lines per year, 300 characters per line.

use chrono::{Datelike, NaiveDate, Weekday};

use super::{Holiday, Workday, YearData};
use crate::{Error, Result};

pub const MAX_CALENDAR_TEXT: usize = 512 * 1024;
const MAX_YEARS: usize = 200;
const MAX_ENTRIES_PER_YEAR: usize = 100;
const MAX_LINE: usize = 300;
const MAX_BREAK_DAYS: i64 = 15;

fn err(line: usize, en: impl Into<String>) -> Error {
    let en = en.into();
    Error::validation(format!("calendar line {line}"), format!("日历数据格式错误：{en}"), en)
}

fn date(line: usize, s: Option<&str>) -> Result<NaiveDate> {
    let s = s.ok_or_else(|| err(line, "missing date"))?;
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| err(line, format!("bad date {s:?}")))
}

fn rest(parts: &mut std::str::SplitWhitespace<'_>) -> String {
    parts.collect::<Vec<_>>().join(" ")
}

/// Parses calendar text into year blocks, checking that each block is plausible: a workday is a
/// Saturday or Sunday, a break is at most 15 days and within a day of its year, no day is both off
/// and worked, no year twice.
pub fn parse(text: &str) -> Result<Vec<YearData>> {
    if text.len() > MAX_CALENDAR_TEXT {
        return Err(err(0, "calendar text too large"));
    }
    let mut years: Vec<YearData> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.len() > MAX_LINE {
            return Err(err(n, "line too long"));
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let kw = parts.next().unwrap_or_default();
        if kw == "year" {
            let y: i32 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|y| (1949..=2200).contains(y))
                .ok_or_else(|| err(n, "bad year"))?;
            if years.iter().any(|b| b.year == y) {
                return Err(err(n, format!("year {y} given twice")));
            }
            if years.len() >= MAX_YEARS {
                return Err(err(n, "too many years"));
            }
            let notice = rest(&mut parts);
            if notice.is_empty() {
                return Err(err(n, "a year must cite its notice"));
            }
            years.push(YearData { year: y, notices: vec![notice], notes: vec![], holidays: vec![], workdays: vec![] });
            continue;
        }
        let block = years.last_mut().ok_or_else(|| err(n, "entry before the first `year` line"))?;
        if block.holidays.len() + block.workdays.len() + block.notes.len() + block.notices.len() >= MAX_ENTRIES_PER_YEAR
        {
            return Err(err(n, "too many entries in one year"));
        }
        let near = |d: NaiveDate| (d.year() - block.year).abs() <= 1;
        match kw {
            "also" => block.notices.push(rest(&mut parts)),
            "note" => block.notes.push(rest(&mut parts)),
            "off" => {
                let from = date(n, parts.next())?;
                let to = date(n, parts.next())?;
                let name = rest(&mut parts);
                if to < from || (to - from).num_days() >= MAX_BREAK_DAYS || !near(from) || !near(to) || name.is_empty()
                {
                    return Err(err(n, "implausible break"));
                }
                block.holidays.push(Holiday { name, from, to });
            }
            "work" => {
                let d = date(n, parts.next())?;
                let name = rest(&mut parts);
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) || !near(d) || name.is_empty() {
                    return Err(err(n, format!("{d} is not a weekend day of the year")));
                }
                block.workdays.push(Workday { date: d, name });
            }
            other => return Err(err(n, format!("unknown keyword {other:?}"))),
        }
    }
    for b in &years {
        for w in &b.workdays {
            if b.holidays.iter().any(|h| h.from <= w.date && w.date <= h.to) {
                return Err(err(0, format!("{} is both off and worked", w.date)));
            }
        }
    }
    Ok(years)
}
