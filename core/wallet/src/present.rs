//! 亮证: building a presentation (selective disclosure + device signature over a short window).

use ring::rand::{SecureRandom, SystemRandom};

use super::device::DeviceSigner;
use super::engage::Engagement;
use super::format::*;
use crate::{Error, Result};

/// Default presentation window; shells refresh about every 30 s.
pub const DEFAULT_WINDOW_SECS: i64 = 60;

/// Builds a presentation disclosing the items whose ids are in `ids` (in element-id order), valid from
/// `now` for `window_secs` (at most 60), signed by the device key.
pub fn build_presentation(
    licence: &IssuedLicence,
    ids: &[u32],
    purpose: &str,
    now: i64,
    window_secs: i64,
    signer: &dyn DeviceSigner,
) -> Result<Presentation> {
    build(licence, ids, purpose, now, window_secs, signer, None)
}

/// Builds an engaged presentation (version 2): answers the verifier's `engagement` (its challenge and
/// purpose), so the code is good for that verifier only.
pub fn build_engaged_presentation(
    licence: &IssuedLicence,
    ids: &[u32],
    engagement: &Engagement,
    now: i64,
    window_secs: i64,
    signer: &dyn DeviceSigner,
) -> Result<Presentation> {
    build(licence, ids, &engagement.purpose, now, window_secs, signer, Some(&engagement.challenge))
}

fn build(
    licence: &IssuedLicence,
    ids: &[u32],
    purpose: &str,
    now: i64,
    window_secs: i64,
    signer: &dyn DeviceSigner,
    challenge: Option<&[u8]>,
) -> Result<Presentation> {
    if !(1..=MAX_WINDOW_SECS).contains(&window_secs) {
        return Err(Error::validation("window_secs", "亮证有效时间应为 1–60 秒", "the window must be 1–60 s"));
    }
    if purpose.is_empty() || purpose.len() > 64 {
        return Err(Error::validation("purpose", "用途不能为空且不超过 64 字节", "purpose must be 1–64 bytes"));
    }
    let mut chosen: Vec<(u32, Vec<u8>)> = Vec::with_capacity(ids.len());
    for b in &licence.items {
        let item = ElementItem::decode(b).map_err(|_| Error::corrupted("licence", &licence.signed.body.licence_id))?;
        if ids.contains(&item.id) {
            chosen.push((item.id, b.clone()));
        }
    }
    zhangban_base::sort::sort_by_key(&mut chosen, |(id, _)| *id);
    if chosen.len() != ids.len() {
        return Err(Error::validation("elements", "证照中没有所选的项目", "the licence lacks a chosen element"));
    }
    let ids: Vec<u32> = chosen.iter().map(|(i, _)| *i).collect();
    let mut nonce = vec![0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| Error::Internal("rng".into()))?;
    let not_before = now;
    let not_after = now + window_secs;
    let mut p = Presentation {
        signed: licence.signed.clone(),
        items: chosen.into_iter().map(|(_, b)| b).collect(),
        not_before,
        not_after,
        nonce,
        purpose: purpose.to_string(),
        device_signature: Vec::new(),
        challenge: challenge.map(<[u8]>::to_vec),
    };
    p.device_signature = signer.sign(&p.tbs(&ids))?;
    Ok(p)
}
