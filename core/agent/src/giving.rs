//! What the principal's own screens show (委托人手机, or a family member's phone: 亲友代办), worded here
//! once for both shells, in plain words and short sentences (the principal may be elderly):
//!
//! - [`PrincipalSide::delegation_choices`]: after scanning an agent's `ZBA1:` certificate, who the agent is
//!   (checked offline), and what the principal may choose: the items, the actions, the licences of this
//!   phone's wallet to share and, of each, its elements (per-field scope, ADR 0024).
//! - [`PrincipalSide::delegation_preview`]: the sentence the principal reads before signing.
//! - [`PrincipalSide::home`]: the delegations given (each with what it covers, its state and whether it can
//!   still be revoked) and what agents did (from the entries the platform relayed, signed by its root).

use serde::{Deserialize, Serialize};
use zhangban_base::Text;
use zhangban_catalog::{Catalog, Channel};
use zhangban_wallet::LicenceType;

use crate::cert::{day, AgentCard};
use crate::mandate::{Action, Delegation, Scope, DEFAULT_VALID_DAYS, MAX_SHARED, MAX_VALID_DAYS};
use crate::principal::{ActivityEntry, DelegationRequest, GivenDelegation, PrincipalSide};
use crate::{Result, ScopeItem};

/// The sentence the principal reads before signing, and its end date apart (a date changes by itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DelegationPreview {
    /// Who will act, for what, with which elements of which licences, and that it can be revoked.
    pub text: Text,
    /// How long: "有效期 30 天，到2027年1月6日为止。"
    pub until: Text,
}

/// An action the principal may allow, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ActionChoice {
    pub action: Action,
    pub label: Text,
}

/// One element of a licence the principal may share, with its value (on their own phone) so they see what
/// they hand over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ElementChoice {
    pub key: String,
    pub name: Text,
    pub display: String,
    /// Chosen at first (the resident ID card's name and ID number: what nearly every form asks, from the
    /// one card that proves them); the principal may change it.
    pub suggested: bool,
}

/// A licence of this phone's wallet the principal may share into a delegation, with its elements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LicenceChoice {
    pub licence_id: String,
    pub licence_type: String,
    pub type_name: Text,
    pub elements: Vec<ElementChoice>,
}

/// Everything the delegation screen offers, in one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DelegationChoices {
    pub agent: AgentCard,
    /// Items an agent can apply for (offered online or at home), those offered at home first.
    pub items: Vec<ScopeItem>,
    /// How many of `items` are offered at home (上门办, the first ones): the list's first page. The rest
    /// are shown on asking ([`DelegationChoices::more_items`]), so the sentence to read is not pages away.
    pub at_home: u32,
    /// The button that shows the rest of `items` ("另有 19 项可在网上办的事项"), worded for both shells.
    pub more_items: Text,
    pub actions: Vec<ActionChoice>,
    /// Valid licences of this phone's wallet (none on a family member's phone for a relative).
    pub licences: Vec<LicenceChoice>,
    /// The name and ID number on this phone's resident ID card, to fill in the principal's own (none on a
    /// phone without one, or a family member's phone for a relative: they are typed).
    pub own_name: Option<String>,
    pub own_id_number: Option<String>,
    pub default_days: u32,
    pub max_days: u32,
    /// The lengths a screen offers ("7 天 / 7 days" … the longest allowed), worded here: no shell picks
    /// them or builds their plural.
    pub durations: Vec<DurationChoice>,
    /// How many licences one delegation may share.
    pub max_shared: u32,
}

/// One length a delegation may run for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DurationChoice {
    pub days: u32,
    pub label: Text,
}

/// The lengths offered: a week, a month, a quarter and the longest allowed.
fn durations() -> Vec<DurationChoice> {
    let mut days = vec![7, 30, 90, MAX_VALID_DAYS];
    days.retain(|d| *d <= MAX_VALID_DAYS);
    days.dedup();
    days.into_iter()
        .map(|d| DurationChoice { days: d, label: Text::count(d.into(), "{n} 天", "{n} day", "{n} days") })
        .collect()
}

/// A delegation this phone gave, as its owner reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DelegationLine {
    pub delegation: GivenDelegation,
    /// The agent and their organisation.
    pub title: Text,
    /// What the agent may do, for which items, with which elements of which licences.
    pub covers: Text,
    /// In effect until a day, ended, or revoked (and whether the platform has heard of it yet).
    pub status: Text,
    /// Still in effect: the screen offers to revoke it.
    pub active: bool,
}

/// One thing an agent did for this phone's owner, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ActivityLine {
    /// The entry (of a run of the same access, the newest).
    pub entry: ActivityEntry,
    /// The day (apart: a date).
    pub day: Text,
    pub text: Text,
    /// How many entries the line stands for: the same access repeated on the same day (each edit of a
    /// form is one `access:fill`) is one line, "（13 次）".
    #[serde(default = "one")]
    #[cfg_attr(feature = "uniffi", uniffi(default = 1))]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// The principal's page: the delegations given (in effect first) and what agents did (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PrincipalHome {
    /// One line on top: how many delegations are in effect, or that there are none.
    pub summary: Text,
    pub delegations: Vec<DelegationLine>,
    pub activity: Vec<ActivityLine>,
}

/// Elements chosen at first: of the resident ID card only (another card carrying the same name and number
/// would share them twice).
const SUGGESTED: [&str; 2] = ["name", "id_number"];

fn join(v: &[String], sep: &str) -> String {
    v.join(sep)
}

/// What a scope lets the agent do, in words: the actions, the items and the elements of each licence type.
pub fn covers_text(scope: &Scope, catalog: Option<&Catalog>) -> Text {
    let name = |code: &str| -> Text {
        catalog.and_then(|c| c.target(code).ok().map(|t| t.name().clone())).unwrap_or_else(|| Text::new(code, code))
    };
    let items: Vec<Text> = scope.items.iter().map(|c| name(c)).collect();
    let acts_zh: Vec<String> = scope.actions.iter().map(|a| a.label_zh().to_string()).collect();
    let acts_en: Vec<String> = scope.actions.iter().map(|a| a.label_en().to_string()).collect();
    let mut zh = format!(
        "可以代您{}：{}。",
        join(&acts_zh, "、"),
        join(&items.iter().map(|t| t.zh.clone()).collect::<Vec<_>>(), "、")
    );
    let mut en = format!(
        "May {} for you: {}.",
        join(&acts_en, ", "),
        join(&items.iter().map(|t| t.en.clone()).collect::<Vec<_>>(), ", ")
    );
    let mut uses_zh = Vec::new();
    let mut uses_en = Vec::new();
    for key in &scope.licence_types {
        let Some(t) = LicenceType::from_key(key) else { continue };
        let els: Vec<&'static zhangban_wallet::types::ElementDef> =
            match scope.elements.iter().find(|e| &e.licence_type == key) {
                Some(e) => e.elements.iter().filter_map(|k| t.element_by_key(k)).collect(),
                None => t.elements().iter().collect(),
            };
        uses_zh.push(format!("{}的{}", t.name_zh(), els.iter().map(|d| d.name_zh).collect::<Vec<_>>().join("、")));
        uses_en.push(format!(
            "{} of the {}",
            els.iter().map(|d| d.name_en.to_lowercase()).collect::<Vec<_>>().join(", "),
            t.name_en().to_lowercase()
        ));
    }
    if uses_zh.is_empty() {
        zh.push_str("不能使用您的电子证照。");
        en.push_str(" May not use your e-licences.");
    } else {
        zh.push_str(&format!("可以使用：{}。", uses_zh.join("；")));
        en.push_str(&format!(" May use: {}.", uses_en.join("; ")));
    }
    Text::new(zh, en)
}

impl PrincipalSide {
    /// Reads an agent's `ZBA1:` certificate (checked offline) and returns what the delegation screen offers.
    pub fn delegation_choices(&self, agent_certificate: &str, catalog: &Catalog) -> Result<DelegationChoices> {
        let cert = self.read_certificate(agent_certificate)?;
        let offered = |i: &&zhangban_catalog::Item, ch: Channel| i.channels.contains(&ch);
        let home = catalog.doc.items.iter().filter(|i| offered(i, Channel::AtHome));
        let online = catalog.doc.items.iter().filter(|i| !offered(i, Channel::AtHome) && offered(i, Channel::Online));
        let at_home = home.clone().count();
        let items: Vec<ScopeItem> =
            home.chain(online).map(|i| ScopeItem { code: i.code.clone(), name: i.name.clone() }).collect();
        let more = items.len() - at_home;
        let more_items = Text::new(
            format!("另有 {more} 项可在网上办的事项"),
            if more == 1 {
                "1 more service offered online".to_string()
            } else {
                format!("{more} more services offered online")
            },
        );
        let now = self.store().now();
        let mut licences = Vec::new();
        let mut own: Option<(String, String)> = None;
        for l in self.wallet().licences(now)? {
            use zhangban_wallet::LicenceStatus as S;
            if !matches!(l.status, S::Valid | S::Expiring | S::StatusStale) {
                continue;
            }
            let detail = self.wallet().licence(&l.licence_id, now)?;
            let t = l.licence_type;
            let detail_values: Vec<(String, String)> =
                detail.elements.iter().map(|e| (e.key.clone(), e.display.clone())).collect();
            let elements = detail
                .elements
                .into_iter()
                .filter(|e| t.element_by_key(&e.key).is_some_and(|d| !d.derived))
                .map(|e| ElementChoice {
                    suggested: t == LicenceType::ResidentId && SUGGESTED.contains(&e.key.as_str()),
                    key: e.key,
                    name: e.name,
                    display: e.display,
                })
                .collect();
            if t == LicenceType::ResidentId && own.is_none() {
                let value = |k: &str| detail_values.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
                own = value("name").zip(value("id_number"));
            }
            licences.push(LicenceChoice {
                licence_id: l.licence_id,
                licence_type: t.key().to_string(),
                type_name: l.type_name,
                elements,
            });
        }
        Ok(DelegationChoices {
            agent: cert.card(),
            items,
            at_home: at_home as u32,
            more_items,
            actions: Action::ALL
                .iter()
                .map(|a| ActionChoice { action: *a, label: Text::new(a.label_zh(), a.label_en()) })
                .collect(),
            licences,
            own_name: own.as_ref().map(|o| o.0.clone()),
            own_id_number: own.map(|o| o.1),
            default_days: DEFAULT_VALID_DAYS,
            max_days: MAX_VALID_DAYS,
            durations: durations(),
            max_shared: MAX_SHARED as u32,
        })
    }

    /// The sentence the principal reads before signing: who will act, for what, with which elements of
    /// which licences, for how long, and that it can be revoked. Shared licences count as in the signed
    /// delegation (their types and elements join the scope).
    pub fn delegation_preview(&self, req: &DelegationRequest, catalog: &Catalog) -> Result<DelegationPreview> {
        let cert = self.read_certificate(&req.agent_certificate)?;
        let mut scope = req.scope.clone();
        for sh in &req.shares {
            let t = self.wallet().licence(&sh.licence_id, self.store().now())?.summary.licence_type;
            crate::mandate::add_elements(&mut scope, t.key(), sh.elements.iter().cloned());
        }
        let days = req.valid_days.unwrap_or(DEFAULT_VALID_DAYS);
        let (zh_day, en_day) = day(self.store().now() + i64::from(days) * 86_400);
        let covers = covers_text(&scope, Some(catalog));
        Ok(DelegationPreview {
            text: Text::new(
                format!("您将委托{}（{}）。{}您可以随时撤销。", cert.name, cert.org_name, covers.zh),
                format!(
                    "You will authorise {} ({}). {} You may revoke it at any time.",
                    cert.name, cert.org_name, covers.en
                ),
            ),
            until: Text::new(
                format!("有效期 {days} 天，到{zh_day}为止。"),
                format!("Valid for {days} days, until {en_day}."),
            ),
        })
    }

    /// The principal's page: delegations given (in effect first, newest first) and what agents did.
    pub fn home(&self, catalog: Option<&Catalog>) -> Result<PrincipalHome> {
        let now = self.store().now();
        let given = self.given()?;
        // The platform relays who acted by the agent's id; the principal knows the agent by the name she saw
        // when she signed (the id is inside each delegation this phone signed).
        let names: Vec<(String, String)> = given
            .iter()
            .filter_map(|g| {
                let d = Delegation::verify(&Delegation::from_text(&g.text).ok()?).ok()?;
                Some((d.agent_id, g.agent_name.clone()))
            })
            .collect();
        let mut lines: Vec<DelegationLine> = given.into_iter().map(|g| delegation_line(g, now, catalog)).collect();
        zhangban_base::sort::sort_by_key(&mut lines, |l| !l.active);
        let n = lines.iter().filter(|l| l.active).count();
        let summary = match n {
            0 => Text::new("您现在没有委托任何帮办员。", "You have not authorised any agent now."),
            n => Text::new(
                format!("您现在委托了 {n} 位帮办员。不需要时，请点“撤销”。"),
                format!(
                    "{n} {} authorised now. Tap “Revoke” when you no longer need {}.",
                    if n == 1 { "agent is" } else { "agents are" },
                    if n == 1 { "it" } else { "one" }
                ),
            ),
        };
        let mut activity: Vec<ActivityLine> = Vec::new();
        for e in told_once(self.activity()?, catalog) {
            let name = names.iter().find(|(id, _)| *id == e.actor).map(|(_, n)| n.clone());
            let line = activity_line(e, name);
            // The same access on the same day is one line with its count ("填写了…的表单（9 次）"), also when other
            // accesses came between (a form filled, a photo added, the form again): she reads what was done, not
            // each tap. Never across a line that is not an access (a submission's receipt, a decision), so what
            // came before it and what came after stay in their order. Entries come newest first.
            let since = activity.iter().rposition(|l| !is_access(l)).map_or(0, |k| k + 1);
            let same = (is_access(&line)).then(|| {
                activity[since..].iter().position(|l| l.day == line.day && l.text == line.text).map(|i| since + i)
            });
            match same.flatten() {
                Some(i) => activity[i].times += 1,
                None => activity.push(line),
            }
        }
        for l in activity.iter_mut().filter(|l| l.times > 1) {
            let n = l.times;
            l.text.zh = format!("{}（{n} 次）。", l.text.zh.trim_end_matches('。'));
            l.text.en = format!("{} ({n} times).", l.text.en.trim_end_matches('.'));
        }
        Ok(PrincipalHome { summary, delegations: lines, activity })
    }
}

fn is_access(l: &ActivityLine) -> bool {
    l.entry.kind.starts_with(crate::principal::ACCESS_KIND)
}

/// An agent's submission reaches her twice: the access the agent's phone reported ("王芳提交了“…”。", made at the
/// door, perhaps offline) and the platform's receipt of it ("王芳为您提交了“…”。回执号 …"). She reads it once, as
/// the receipt, which says more: each `submitted` entry (oldest first) takes the place of one allowed
/// `access:submit` of the same agent for that application — the unpaired one nearest to it in time, whichever
/// the platform relayed first (a backlog of reports can come after the receipt) and whatever the two clocks say.
/// A refused attempt is always shown; `activity()` keeps both entries.
fn told_once(entries: Vec<ActivityEntry>, catalog: Option<&Catalog>) -> Vec<ActivityEntry> {
    let submit = format!("{}{}", crate::principal::ACCESS_KIND, Action::Submit.as_str());
    let mut told = vec![false; entries.len()];
    for s in entries.iter().rev().filter(|e| e.kind == "submitted") {
        let titles = submit_titles(&s.case_title, catalog);
        let nearest = entries
            .iter()
            .enumerate()
            .filter(|(j, a)| !told[*j] && a.kind == submit && a.actor == s.actor && titles.contains(&a.case_title))
            .min_by_key(|(_, a)| a.at.abs_diff(s.at))
            .map(|(j, _)| j);
        if let Some(j) = nearest {
            told[j] = true;
        }
    }
    entries.into_iter().zip(told).filter(|(_, t)| !t).map(|(e, _)| e).collect()
}

/// The titles the access reported for a submission can carry, for a case titled `title`: the case's own and, for
/// a bundle (一件事), the name of its first item (the platform titles an access by its first item).
fn submit_titles(title: &str, catalog: Option<&Catalog>) -> Vec<String> {
    let mut out = vec![title.to_string()];
    let bundles = catalog.map(|c| (c, c.doc.bundles.iter().filter(|b| b.name.zh == title)));
    if let Some((c, bundles)) = bundles {
        out.extend(bundles.filter_map(|b| b.items.first().and_then(|i| c.item(i))).map(|i| i.name.zh.clone()));
    }
    out
}

fn delegation_line(g: GivenDelegation, now: i64, catalog: Option<&Catalog>) -> DelegationLine {
    let title = Text::new(format!("{}（{}）", g.agent_name, g.org_name), format!("{} ({})", g.agent_name, g.org_name));
    let covers = covers_text(&g.scope, catalog);
    let (active, status) = match g.revoked_at {
        Some(at) => {
            let (zh, en) = day(at);
            let (zh_sent, en_sent) = if g.revocation_sent {
                ("平台已收到。", "The platform has it.")
            } else {
                ("联网后通知平台。", "The platform is told when this phone is online.")
            };
            (false, Text::new(format!("已于{zh}撤销。{zh_sent}"), format!("Revoked on {en}. {en_sent}")))
        }
        None if g.valid_until <= now => {
            let (zh, en) = day(g.valid_until);
            (false, Text::new(format!("已于{zh}到期。"), format!("Ended on {en}.")))
        }
        None => {
            let (zh, en) = day(g.valid_until);
            let once = if g.single_use { ("只能用一次。", " One use only.") } else { ("", "") };
            (true, Text::new(format!("有效，到{zh}为止。{}", once.0), format!("In effect until {en}.{}", once.1)))
        }
    };
    DelegationLine { delegation: g, title, covers, status, active }
}

/// One entry in one sentence; `agent_name`: the actor's name when the actor is an agent this phone authorised.
fn activity_line(e: ActivityEntry, agent_name: Option<String>) -> ActivityLine {
    let actor = agent_name.unwrap_or_else(|| e.actor.clone());
    let (zh_day, en_day) = day(e.at);
    let state = serde_json::from_value::<zhangban_cases::CaseState>(serde_json::Value::String(e.kind.clone())).ok();
    if let Some(rest) = e.kind.strip_prefix(crate::principal::ACCESS_KIND) {
        let text = access_text(&actor, rest, &e);
        return ActivityLine { entry: e, day: Text::new(zh_day, en_day), text, times: 1 };
    }
    let (did_zh, did_en) = match state {
        Some(zhangban_cases::CaseState::Submitted) => ("为您提交了".to_string(), "submitted for you".to_string()),
        Some(s) => (format!("告知：{}", s.label_zh()), format!("reported: {}", s.label_en())),
        None => (format!("记录：{}", e.kind), format!("recorded: {}", e.kind)),
    };
    let (r_zh, r_en) = match &e.receipt {
        Some(r) => (format!("回执号 {r}。"), format!(" Receipt {r}.")),
        None => (String::new(), String::new()),
    };
    let text = Text::new(
        format!("{actor}{did_zh}“{}”。{r_zh}", e.case_title),
        format!("{actor} {did_en} “{}”.{r_en}", e.case_title),
    );
    ActivityLine { entry: e, day: Text::new(zh_day, en_day), text, times: 1 }
}

/// An access the agent's phone reported (kind `access:<action>` or `access:denied:<action>`), in one sentence:
/// "王芳填写了“高龄津贴申领”的表单。", "王芳尝试提交“高龄津贴申领”（已拒绝：委托已撤销）。".
fn access_text(actor: &str, kind: &str, e: &ActivityEntry) -> Text {
    let (denied, action) = match kind.strip_prefix("denied:") {
        Some(a) => (true, a),
        None => (false, kind),
    };
    let title = e.case_title.trim();
    let quoted = |zh: &str, en: &str| -> (String, String) {
        match title.is_empty() {
            true => (zh.to_string(), en.to_string()),
            false => (format!("“{title}”"), format!("“{title}”")),
        }
    };
    // (verb zh, verb en, its past tense, object zh, object en)
    let (vzh, ven, ven_done, (ozh, oen)) = match (Action::parse(action), e.element.as_deref().map(element_words)) {
        (Some(Action::Fill), Some((ezh, een))) => {
            ("使用", "use", "used", (format!("您的证照项目：{ezh}"), format!("your licence's {een}")))
        }
        (Some(Action::Fill), None) => match title.is_empty() {
            // (attaching a photo, choosing how a material is dealt with: no item named)
            true => ("添加", "add", "added", ("您的申请材料".to_string(), "material to your application".to_string())),
            false => ("填写", "fill in", "filled in", (format!("“{title}”的表单"), format!("the form of “{title}”"))),
        },
        (Some(Action::Submit), _) => ("提交", "submit", "submitted", quoted("您的申请", "an application for you")),
        (Some(Action::Follow), _) => ("查看", "look at", "looked at", quoted("您的办件", "your applications")),
        (Some(Action::ReceiveResults), _) => ("领取", "receive", "received", quoted("您的办理结果", "your results")),
        (None, _) => ("操作", "act on", "acted on", (action.to_string(), action.to_string())),
    };
    if denied {
        let (why_zh, why_en) = missing_words(e.missing.as_deref().unwrap_or(""));
        Text::new(
            format!("{actor}尝试{vzh}{ozh}（已拒绝：{why_zh}）。"),
            format!("{actor} tried to {ven} {oen} (refused: {why_en})."),
        )
    } else {
        Text::new(format!("{actor}{vzh}了{ozh}。"), format!("{actor} {ven_done} {oen}."))
    }
}

/// `resident_id.address` → ("居民身份证的“住址”", "'address' of the resident identity card").
fn element_words(element: &str) -> (String, String) {
    let (t, k) = element.split_once('.').unwrap_or((element, ""));
    zhangban_wallet::LicenceType::from_key(t)
        .map(|lt| {
            let (nzh, nen) = lt.element_by_key(k).map(|d| (d.name_zh, d.name_en)).unwrap_or((k, k));
            (format!("{}的“{nzh}”", lt.name_zh()), format!("'{nen}' of the {}", lt.name_en()))
        })
        .unwrap_or_else(|| (element.to_string(), element.to_string()))
}

/// What a refusal lacked (`access::refusal`'s `missing`), in words.
fn missing_words(missing: &str) -> (String, String) {
    // (the item or element refused is named by the sentence already)
    let head = missing.split_once(':').map_or(missing, |(h, _)| h);
    let (zh, en) = match head {
        "revoked" => ("委托已撤销", "the delegation was revoked"),
        "validity" => ("委托不在有效期内", "the delegation was not in effect"),
        "used" => ("一次性委托已用过", "the single-use delegation was used"),
        "delegation" => ("没有有效的委托", "there was no delegation in effect"),
        "principal" => ("记录属于另一个人", "the record is another person's"),
        "action" => ("您没有授权此操作", "you did not allow this"),
        "item" => ("您没有授权此事项", "you did not include this service"),
        "element" => ("您没有授权此证照项目", "you did not share this licence element"),
        _ => ("超出授权范围", "outside what you allowed"),
    };
    (zh.to_string(), en.to_string())
}
