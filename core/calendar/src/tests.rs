//! Calendar tests against the published State Council notices.

use chrono::NaiveDate;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::update::{self, TrustedKey};
use super::*;
use crate::store::{FileVault, KeyVault, Store};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn cal() -> Arc<Calendar> {
    Calendar::bundled()
}

fn off(s: &str) -> bool {
    let r = cal().is_working_day(d(s));
    assert!(!r.provisional, "{s} should be covered");
    !r.value
}

#[test]
fn bundled_text_parses_and_covers_2004_to_2026() {
    let years = parse::parse(BUNDLED_TEXT).expect("bundled calendar parses");
    assert_eq!(years.len(), 23);
    assert_eq!(cal().covered_years(), (2004..=2026).collect::<Vec<_>>());
    for y in &years {
        assert!(y.notices[0].contains(&format!("{}年", y.year)), "year {} cites its own notice", y.year);
        assert!(y.holidays.iter().any(|h| h.name == "春节"), "{} has 春节", y.year);
        assert!(y.holidays.iter().any(|h| h.name.contains("国庆")), "{} has 国庆", y.year);
    }
}

#[test]
fn notice_2024() {
    // 春节: 2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。
    for day in 10..=17 {
        assert!(off(&format!("2024-02-{day:02}")), "2024-02-{day} off");
    }
    assert!(!off("2024-02-04") && !off("2024-02-18"));
    assert!(!off("2024-02-09"), "除夕 2024 was a working Friday");
    // 劳动节: 5月1日至5日放假调休；4月28日（星期日）、5月11日（星期六）上班。
    assert!(off("2024-05-01") && off("2024-05-05") && !off("2024-04-28") && !off("2024-05-11"));
    // 国庆节: 10月1日至7日；9月29日（星期日）、10月12日（星期六）上班。
    assert!(off("2024-10-07") && !off("2024-09-29") && !off("2024-10-12") && !off("2024-10-08"));
    // 中秋节: 9月15日至17日；9月14日（星期六）上班。
    assert!(off("2024-09-16") && !off("2024-09-14"));
    assert_eq!(cal().holiday_name(d("2024-02-12")), Some("春节"));
}

#[test]
fn notice_2025() {
    // 春节: 1月28日（农历除夕）至2月4日放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
    for day in ["2025-01-28", "2025-01-31", "2025-02-03", "2025-02-04"] {
        assert!(off(day), "{day}");
    }
    assert!(!off("2025-01-26") && !off("2025-02-08") && !off("2025-02-05"));
    // 劳动节: 5月1日至5日；4月27日（周日）上班。
    assert!(off("2025-05-05") && !off("2025-04-27"));
    // 国庆节、中秋节: 10月1日至8日；9月28日（周日）、10月11日（周六）上班。
    assert!(off("2025-10-08") && !off("2025-09-28") && !off("2025-10-11"));
}

#[test]
fn earlier_notices_and_amendments() {
    // 2020: 春节 extended to 2 February; the 1 February workday cancelled.
    assert!(off("2020-01-31") && off("2020-02-01") && off("2020-02-02") && !off("2020-01-19"));
    // 2019: 劳动节 changed to 1–4 May, 28 April and 5 May worked.
    assert!(off("2019-05-03") && !off("2019-05-05") && !off("2019-04-28"));
    // 2015: 抗战胜利70周年纪念日 3–5 September, 6 September worked.
    assert!(off("2015-09-03") && off("2015-09-04") && !off("2015-09-06"));
    // 2008: the first year with 清明/端午/中秋; 元旦 began 30 December 2007, 29 December 2007 worked.
    assert!(off("2007-12-31") && !off("2007-12-29") && off("2008-04-04") && off("2008-06-09"));
    // 2006 元旦: 31 December 2005 (Saturday) worked.
    assert!(!off("2005-12-31") && off("2006-01-03"));
    // 2004 春节 22–28 January, 17–18 January worked.
    assert!(off("2004-01-22") && off("2004-01-28") && !off("2004-01-17") && !off("2004-01-18"));
}

#[test]
fn add_working_days_across_spring_festival_2024() {
    // Accepted Thursday 8 Feb 2024: 9 Feb (Fri) is day 1, then 10–17 off, 18 (Sun) worked is day 2.
    let c = cal();
    let r = c.add_working_days(d("2024-02-08"), 1, &[]).expect("ok");
    assert_eq!(r.value, d("2024-02-09"));
    assert!(!r.provisional);
    assert_eq!(c.add_working_days(d("2024-02-08"), 2, &[]).expect("ok").value, d("2024-02-18"));
    assert_eq!(c.add_working_days(d("2024-02-08"), 3, &[]).expect("ok").value, d("2024-02-19"));
    assert_eq!(c.add_working_days(d("2024-02-08"), 0, &[]).expect("ok").value, d("2024-02-08"));
    // 20 working days from 1 Oct 2024 (holiday): 8 Oct is day 1; 12 Oct (Sat) worked.
    let r = c.add_working_days(d("2024-09-30"), 20, &[]).expect("ok");
    assert_eq!(c.working_days_between(d("2024-09-30"), r.value, &[]).expect("ok").value, 20);
    assert_eq!(r.value, d("2024-11-01"));
}

#[test]
fn between_is_inverse_of_add_and_respects_pauses() {
    let c = cal();
    let start = d("2025-01-20");
    for n in [0u32, 1, 5, 7, 15, 30, 60, 200] {
        let end = c.add_working_days(start, n, &[]).expect("ok").value;
        assert_eq!(c.working_days_between(start, end, &[]).expect("ok").value, n as i64, "n={n}");
    }
    // A suspension of the week 10–14 Feb 2025 (5 working days) pushes the date by exactly 5 working days.
    let pause = [DateRange { from: d("2025-02-10"), to: d("2025-02-14") }];
    let plain = c.add_working_days(d("2025-02-05"), 10, &[]).expect("ok").value;
    let paused = c.add_working_days(d("2025-02-05"), 10, &pause).expect("ok").value;
    assert_eq!(c.working_days_between(plain, paused, &[]).expect("ok").value, 5);
    assert_eq!(c.working_days_between(d("2025-02-05"), paused, &pause).expect("ok").value, 10);
    // Negative when the end is before the start (overdue by that many working days).
    assert_eq!(c.working_days_between(d("2024-02-19"), d("2024-02-08"), &[]).expect("ok").value, -3);
}

#[test]
fn uncovered_years_are_flagged_provisional() {
    let c = cal();
    let r = c.add_working_days(d("2026-12-20"), 15, &[]).expect("ok");
    assert!(r.provisional);
    assert_eq!(r.uncovered_years, vec![2027]);
    // Mon–Fri assumed in 2027: 21–24, 25 Dec 2026 = 5, 28–31 = 9, 1 Jan 2027 (Fri) = 10, 4–8 Jan = 15.
    assert_eq!(r.value, d("2027-01-08"));
    let r = c.is_working_day(d("2003-10-01"));
    assert!(r.provisional && r.value, "2003 has no data: a Wednesday is assumed worked, and flagged");
    assert!(!c.working_days_between(d("2026-01-05"), d("2026-03-02"), &[]).expect("ok").provisional);
}

#[test]
fn spans_are_bounded() {
    let c = cal();
    assert!(c.add_working_days(d("2024-01-01"), u32::MAX, &[]).is_err());
    assert!(c.working_days_between(d("1900-01-01"), d("2100-01-01"), &[]).is_err());
}

#[test]
fn parser_rejects_implausible_data() {
    assert!(parse::parse("off 2024-01-01 2024-01-01 x").is_err(), "entry before year");
    assert!(parse::parse("year 2024\n").is_err(), "year without notice");
    assert!(parse::parse("year 2024 n\nwork 2024-02-05 春节").is_err(), "a Monday as 调休 workday");
    assert!(parse::parse("year 2024 n\noff 2024-02-10 2024-03-30 春节").is_err(), "break too long");
    assert!(parse::parse("year 2024 n\noff 2024-02-10 2024-02-17 春节\nwork 2024-02-11 春节").is_err());
    assert!(parse::parse("year 2024 n\nyear 2024 n").is_err());
    assert!(parse::parse(&"#".repeat(MAX_CALENDAR_TEXT + 1)).is_err());
}

#[test]
fn rules_defaults_and_deferred_limit() {
    let r = Rules::default();
    assert_eq!(r.deferred_limit(10), 8);
    assert_eq!(r.deferred_limit(30), 20);
    assert_eq!(r.deferred_limit(1), 0);
    assert!(r.check_deferred_days(10, 8).is_ok());
    let e = r.check_deferred_days(10, 9).expect_err("over the limit");
    assert!(matches!(e, Error::Validation { ref field, .. } if field == "deferred_days"));
    let tight = Rules::from_json(r#"{"deferred_max_days": 5}"#).expect("rules");
    assert_eq!(tight.deferred_margin_days, 2);
    assert_eq!(tight.deferred_limit(30), 5);
    let due = r.deferred_due(&cal(), d("2024-02-08"), 4, &[]).expect("ok");
    assert_eq!(due.value, d("2024-02-18"));
}

fn test_key() -> (Vec<u8>, TrustedKey) {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("keygen");
    let pk = update::public_key_of(pkcs8.as_ref()).expect("pk");
    (pkcs8.as_ref().to_vec(), TrustedKey { kid: "test-1".into(), public_key: pk })
}

const Y2027: &str = "year 2027 国务院办公厅关于2027年部分节假日安排的通知（测试数据）\noff 2027-01-01 2027-01-03 元旦\nwork 2027-01-09 测试\n";

#[test]
fn signed_update_adds_a_year_and_is_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.path().join("vault.key")).expect("vault"));
    let store = Store::create(&dir.path().join("s"), vault, None).expect("store");
    let (sk, key) = test_key();
    let env = update::sign(&sk, "test-1", 1, Y2027).expect("sign");
    let bytes = serde_json::to_vec(&env).expect("json");

    // Not the pinned key: refused.
    assert!(update::apply(&store, &bytes).is_err());
    // Tampered payload: refused.
    let mut t = env.clone();
    t.payload = t.payload.replace("2027-01-03", "2027-01-04");
    assert!(update::apply_with_key(&store, &serde_json::to_vec(&t).expect("json"), &key).is_err());

    let v = update::apply_with_key(&store, &bytes, &key).expect("applies");
    assert_eq!(v.version, 1);
    let c = update::load_with_key(&store, &key).expect("load");
    assert!(c.is_covered(d("2027-06-01")));
    assert_eq!(c.year(2027).map(|(_, o)| o.clone()), Some(Origin::Update { version: 1 }));
    let r = c.is_working_day(d("2027-01-09"));
    assert!(r.value && !r.provisional, "a Saturday made a workday by the update");
    assert!(!c.is_working_day(d("2027-01-01")).value);
    // Replay of the same version: refused (no rollback).
    assert!(update::apply_with_key(&store, &bytes, &key).is_err());
    // Bundled years untouched.
    assert!(!c.is_working_day(d("2024-02-12")).value);
}

#[test]
fn dates_are_bounded_and_errors_name_the_parameter() {
    let c = Calendar::bundled();
    // 9999-12-31 + 1 working day would print as +10000-01-03, which no parser here reads back.
    let e = c.add_working_days(d("9999-12-31"), 1, &[]).unwrap_err();
    assert!(matches!(&e, Error::Validation { field, .. } if field == "n"), "{e:?}");
    assert_eq!(c.add_working_days(d("9999-12-30"), 1, &[]).map(|r| r.value).ok(), Some(d("9999-12-31")));
    for (field, text) in
        [("start", "2024-2-8"), ("from", "+10000-01-03"), ("to", "2024-02-30"), ("start", "0999-01-01")]
    {
        let e = parse_date(field, text).unwrap_err();
        assert!(matches!(&e, Error::Validation { field: f, .. } if f == field), "{text}: {e:?}");
    }
    assert_eq!(parse_date("start", "2024-02-08").ok(), Some(d("2024-02-08")));
    let early = NaiveDate::from_ymd_opt(1899, 12, 31).unwrap();
    assert!(
        matches!(c.working_days_between(early, d("1900-01-05"), &[]), Err(Error::Validation { field, .. }) if field == "from")
    );
    assert!(matches!(c.add_working_days(early, 1, &[]), Err(Error::Validation { field, .. }) if field == "start"));
}

#[test]
fn text_answers_name_the_field_of_a_bad_date() {
    let c = cal();
    let info = c.workday_info("2024-02-12").unwrap();
    assert_eq!((info.working, info.provisional), (false, false));
    assert_eq!(info.holiday_zh.as_deref(), c.holiday_name(d("2024-02-12")));
    assert!(info.holiday_zh.is_some());
    assert!(c.workday_info("2024-02-18").unwrap().working, "调休 workday");
    assert_eq!(c.add_working_days_text("2024-02-08", 2).unwrap().date, d("2024-02-18"));
    assert_eq!(
        c.working_days_between_text("2024-02-18", "2024-02-08").unwrap(),
        WorkingDays { days: -2, provisional: false }
    );
    for (r, field) in [
        (c.workday_info("2024-2-8").map(|_| ()), "date"),
        (c.add_working_days_text("2024-13-01", 1).map(|_| ()), "start"),
        (c.working_days_between_text("2024-02-30", "2024-03-01").map(|_| ()), "from"),
        (c.working_days_between_text("2024-02-01", "x").map(|_| ()), "to"),
    ] {
        assert!(matches!(r, Err(Error::Validation { field: f, .. }) if f == field), "{field}");
    }
}
