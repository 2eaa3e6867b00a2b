//! Whether this phone may still act for a subject: the end of an agent's mandate, published for the features
//! that show what needs doing (ADR 0043).
//!
//! Agent mode (`zhangban-agent`) and the reminder engine (`zhangban-remind`) sit side by side in the layer
//! diagram, so neither may depend on the other (as with [`crate::deadline`]). Agent mode writes, in the same
//! transaction as a principal's record, when their mandate runs out by the clock and whether it already
//! ended otherwise (revoked; single use and its case final); the engine reads it and leaves an ended
//! principal's needs, cases and drafts out of the 待办 home and the plan at once — not only once the retention
//! sweep erases them. One record per principal, sealed under the principal's key (erased with them). The
//! sentence that tells the agent so is worded here, once, for the home and the principal list alike.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::store::{PutOptions, Store, Txn};
use crate::{Result, Text};

/// The collection (id = the subject).
pub const COLLECTION: &str = "acting";

/// How a mandate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The principal (or the service centre for them) withdrew it.
    Revoked,
    /// Its validity ran out.
    Expired,
    /// Single use: used, and its case reached a decision.
    Completed,
}

/// A principal's mandate as the other features need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acting {
    /// Unix seconds: the mandate ends by the clock after this.
    pub valid_until: i64,
    /// Set when it ended before the clock did (revoked, completed), with when.
    #[serde(default)]
    pub ended: Option<(End, i64)>,
}

impl Acting {
    /// How and when the mandate ended, if it did by `now`.
    pub fn end(&self, now: i64) -> Option<(End, i64)> {
        self.ended.or((now > self.valid_until).then_some((End::Expired, self.valid_until)))
    }
}

/// Publishes (`Some`) or withdraws (`None`: no mandate yet, a door intake not confirmed) the record of
/// `subject`, inside the caller's transaction.
pub fn publish(t: &mut Txn<'_>, subject: &str, acting: Option<&Acting>) -> Result<()> {
    match acting {
        Some(a) => t.put_json(COLLECTION, subject, subject, a, PutOptions::default()),
        None => t.delete(COLLECTION, subject).map(|_| ()),
    }
}

/// The published record of `subject`, if any.
pub fn get(store: &Store, subject: &str) -> Result<Option<Acting>> {
    store.get_opt(COLLECTION, subject)?.map(|r| r.json()).transpose()
}

/// The subjects whose mandate ended by `now`: subject → (how, when).
pub fn ended(store: &Store, now: i64) -> Result<HashMap<String, (End, i64)>> {
    let mut out = HashMap::new();
    for r in store.list(COLLECTION, None)? {
        let a: Acting = r.json()?;
        if let Some(e) = a.end(now) {
            out.insert(r.subject.clone(), e);
        }
    }
    Ok(out)
}

/// The title of an ended mandate ("委托已撤销 / Delegation revoked").
pub fn end_title(end: End) -> Text {
    match end {
        End::Revoked => Text::new("委托已撤销", "Delegation revoked"),
        End::Expired => Text::new("委托已到期", "Delegation expired"),
        End::Completed => Text::new("委托事项已办结", "Delegated work completed"),
    }
}

/// Why an ended principal's queued operation was not sent (ADR 0045): the reason the outbox keeps it under,
/// refused on this phone (status 0) rather than sent for the platform to refuse. It names no one (the
/// operation is the principal's, sealed under their key, and goes with their erasure).
pub fn not_sent_text(end: End) -> Text {
    match end {
        End::Revoked => Text::new(
            "未发送：委托人已撤销委托，本机不再为其发送。",
            "not sent: the principal revoked the delegation, so this phone no longer sends for them.",
        ),
        End::Expired => Text::new(
            "未发送：委托已到期，本机不再为委托人发送；如仍需办理，请其重新委托后再提交。",
            "not sent: the delegation expired, so this phone no longer sends for the principal; if it is still needed, they delegate again and it is submitted anew.",
        ),
        End::Completed => Text::new(
            "未发送：一次性委托的事项已办结，本机不再为委托人发送。",
            "not sent: the single-use delegation's application is decided, so this phone no longer sends for the principal.",
        ),
    }
}

/// What the agent reads about a principal whose mandate ended: nothing more may be done for them, and, when
/// `open_cases` of their cases are still under way, that the materials the agent holds go back to the
/// principal, who follows those cases from now on; when `unsent` operations for them are still on this phone
/// (queued, or held back: [`not_sent_text`]), that they were not and will not be sent (ADR 0045).
pub fn end_text(end: End, name: &str, open_cases: u32, unsent: u32) -> Text {
    let t = end_text_cases(end, name, open_cases);
    if unsent == 0 {
        return t;
    }
    let more = Text::count(
        i64::from(unsent),
        "本机上为其排队的 {n} 项操作未发送，也不会再发送。",
        " {n} operation queued for them on this phone was not sent and will not be.",
        " {n} operations queued for them on this phone were not sent and will not be.",
    );
    Text::new(format!("{}{}", t.zh, more.zh), format!("{}{}", t.en, more.en))
}

fn end_text_cases(end: End, name: &str, open_cases: u32) -> Text {
    let base = match end {
        End::Revoked => Text::new(
            format!("委托人已撤销委托，不能再为{name}办理。"),
            format!("The principal revoked the delegation: you can no longer act for {name}."),
        ),
        End::Expired => Text::new(
            format!("委托已到期，不能再为{name}办理；如仍需代办，请其重新委托。"),
            format!("The delegation expired: you can no longer act for {name} until they delegate again."),
        ),
        End::Completed => Text::new(
            format!("一次性委托的事项已办结，不能再为{name}办理。"),
            format!("The single-use delegation's application is decided: you can no longer act for {name}."),
        ),
    };
    if open_cases == 0 {
        return base;
    }
    let n = i64::from(open_cases);
    let rest = Text::count(
        n,
        "{n} 件办件尚未办结：请把代收的材料交还委托人并告知进度，今后由其本人跟进。",
        " {n} case is still under way: hand the materials you hold back to the principal and tell them where it stands; they follow it from now on.",
        " {n} cases are still under way: hand the materials you hold back to the principal and tell them where they stand; they follow them from now on.",
    );
    Text::new(format!("{}{}", base.zh, rest.zh), format!("{}{}", base.en, rest.en))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_is_the_earlier_of_the_recorded_one_and_the_clock() {
        let a = Acting { valid_until: 100, ended: None };
        assert_eq!(a.end(100), None);
        assert_eq!(a.end(101), Some((End::Expired, 100)));
        let r = Acting { valid_until: 100, ended: Some((End::Revoked, 50)) };
        assert_eq!(r.end(60), Some((End::Revoked, 50)));
        assert_eq!(r.end(200), Some((End::Revoked, 50)));
    }

    #[test]
    fn the_end_text_names_the_principal_and_what_to_hand_back() {
        let t = end_text(End::Revoked, "李秀英", 0, 0);
        assert_eq!(t.zh, "委托人已撤销委托，不能再为李秀英办理。");
        assert_eq!(t.en, "The principal revoked the delegation: you can no longer act for 李秀英.");
        let t = end_text(End::Expired, "李秀英", 2, 0);
        assert!(t.zh.starts_with("委托已到期，不能再为李秀英办理；"), "{t:?}");
        assert!(t.zh.ends_with("2 件办件尚未办结：请把代收的材料交还委托人并告知进度，今后由其本人跟进。"), "{t:?}");
        assert!(t.en.contains(" 2 cases are still under way"), "{t:?}");
        assert!(end_text(End::Completed, "孙德明", 1, 0).en.contains(" 1 case is still under way"));
    }

    #[test]
    fn the_end_text_counts_what_was_not_sent() {
        let t = end_text(End::Revoked, "李秀英", 1, 2);
        assert!(t.zh.ends_with("本机上为其排队的 2 项操作未发送，也不会再发送。"), "{t:?}");
        assert!(t.en.ends_with(" 2 operations queued for them on this phone were not sent and will not be."), "{t:?}");
        assert!(end_text(End::Expired, "李秀英", 0, 1)
            .en
            .ends_with(" 1 operation queued for them on this phone was not sent and will not be."));
        for e in [End::Revoked, End::Expired, End::Completed] {
            let r = not_sent_text(e);
            assert!(r.zh.starts_with("未发送：") && r.en.starts_with("not sent: "), "{r:?}");
        }
    }
}
