//! 亮证 engagement mode: the verifier shows a challenge first, the holder's device signature covers it.
//!
//! A one-way code (`ZB1:` version 1) proves "the holder's phone made this within the last 60 s"; anyone who
//! sees it in that window can show it to another verifier (relay). In engagement mode the verifier's screen
//! shows a `ZBE1:` code holding a fresh random challenge and the purpose it asks for; the holder's phone
//! scans it and signs the challenge into the presentation (version 2, like the session transcript of
//! ISO/IEC 18013-5). A verifier only accepts a code that answers the challenge it showed itself, within
//! [`ENGAGEMENT_TTL_SECS`], so a code relayed from another verifier fails (`engagement_mismatch`).
//!
//! `ZBE1:` + base45(deflate(CBOR `[1, challenge bstr(16), purpose tstr(≤64), created_at int]`)).

use ciborium::value::Value;
use ring::rand::{SecureRandom, SystemRandom};

use super::error::{malformed, WResult, WalletError};
use super::format::*;
use crate::{Error, Result};

pub const ENGAGEMENT_PREFIX: &str = "ZBE1:";
/// How long a shown challenge is answerable.
pub const ENGAGEMENT_TTL_SECS: i64 = 300;
const ENGAGEMENT_VERSION: u64 = 1;

/// What a verifier shows before the holder presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    pub challenge: Vec<u8>,
    pub purpose: String,
    pub created_at: i64,
}

/// A verifier's challenge as its screen shows it: the `ZBE1:` text to draw as a QR code, and when to
/// replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EngagementCode {
    pub text: String,
    pub purpose: String,
    pub created_at: i64,
    /// After this, show a new one.
    pub expires_at: i64,
}

impl Engagement {
    /// The code a verifier's screen shows.
    pub fn code(&self) -> EngagementCode {
        EngagementCode {
            text: self.to_text(),
            purpose: self.purpose.clone(),
            created_at: self.created_at,
            expires_at: self.created_at + ENGAGEMENT_TTL_SECS,
        }
    }

    /// A fresh challenge for `purpose` at `now`.
    pub fn new(purpose: &str, now: i64) -> Result<Engagement> {
        if purpose.is_empty() || purpose.len() > 64 {
            return Err(Error::validation("purpose", "用途不能为空且不超过 64 字节", "purpose must be 1–64 bytes"));
        }
        let mut challenge = vec![0u8; CHALLENGE_LEN];
        SystemRandom::new().fill(&mut challenge).map_err(|_| Error::Internal("rng".into()))?;
        Ok(Engagement { challenge, purpose: purpose.into(), created_at: now })
    }

    pub fn to_text(&self) -> String {
        let cbor = encode_cbor(&Value::Array(vec![
            uint(ENGAGEMENT_VERSION),
            bytes(&self.challenge),
            text(&self.purpose),
            int(self.created_at),
        ]));
        encode_text(ENGAGEMENT_PREFIX, &cbor)
    }

    pub fn from_text(t: &str) -> WResult<Engagement> {
        let v = decode_cbor(&decode_text(ENGAGEMENT_PREFIX, t)?)?;
        let a = match &v {
            Value::Array(a) if a.len() == 4 => a,
            _ => return Err(malformed("engagement")),
        };
        let version = as_u64(&a[0], "engagement version")?;
        if version != ENGAGEMENT_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        let challenge = as_bytes(&a[1], "challenge")?;
        if challenge.len() != CHALLENGE_LEN {
            return Err(malformed("challenge"));
        }
        let purpose = as_text(&a[2], "purpose")?;
        if purpose.is_empty() || purpose.len() > 64 {
            return Err(malformed("purpose"));
        }
        Ok(Engagement {
            challenge: challenge.to_vec(),
            purpose: purpose.into(),
            created_at: as_i64(&a[3], "created at")?,
        })
    }

    /// Whether the challenge may still be answered at `now` (allowing `skew` either way).
    pub fn check_fresh(&self, now: i64, skew: i64) -> WResult<()> {
        if now + skew < self.created_at || now - skew > self.created_at.saturating_add(ENGAGEMENT_TTL_SECS) {
            return Err(WalletError::EngagementExpired);
        }
        Ok(())
    }
}
