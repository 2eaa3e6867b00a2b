//! The agent certificate (帮办员证书): the platform's statement that a device key belongs to an agent of
//! an organisation (a service centre, a village 便民服务站) for a period. A COSE_Sign1 (ES256) signed by
//! the platform root key, checked offline against the pinned root by principals' phones and the
//! platform alike. Shown to a principal as a QR text `ZBA1:` + base45(deflate(CBOR)) (docs/formats.md § 9).

use ciborium::value::Value;
use zhangban_wallet::format::{
    as_bytes, as_i64, as_text, as_u64, bytes, decode_cbor, decode_text, encode_cbor, encode_text, int, map,
    sign1_create, sign1_parse, sign1_payload, sign1_value, sign1_verify, text, uint, IntMap,
};
use zhangban_wallet::trust::ROOT_KID;
use zhangban_wallet::WalletError;

use crate::{bad, denied, Result};
use zhangban_base::clock::local_date;
use zhangban_base::Text;

/// QR prefix of a certificate shown by an agent.
pub const CERT_PREFIX: &str = "ZBA1:";
pub const CERT_VERSION: u64 = 1;
/// Largest encoded certificate accepted.
pub const MAX_CERT_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AgentCertificate {
    pub cert_id: String,
    pub agent_id: String,
    /// The agent's name, as the organisation registered it.
    pub name: String,
    /// The organisation's unified social credit code.
    pub org_code: String,
    pub org_name: String,
    /// The agent device's public key (SEC1, P-256): what signs door consents and calls the platform.
    pub device_key: Vec<u8>,
    pub valid_from: i64,
    pub valid_until: i64,
}

fn short(v: &str, max: usize, what: &str) -> Result<()> {
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(bad(what, &format!("须为 1 至 {max} 个字符"), &format!("must be 1 to {max} characters")));
    }
    Ok(())
}

/// An agent's certificate as a person reads it: the principal before she delegates, the agent on its own card.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AgentCard {
    pub certificate: AgentCertificate,
    /// Who this is and that the platform vouches for them (zh/en).
    pub text: Text,
    /// Until when the certificate is valid (a date: the screens keep it apart).
    pub valid_text: Text,
    /// The agent's own card only: access entries whose report the platform refused for good and that have not
    /// reached the principals, with the platform's last reason (ADR 0045); none when all were delivered.
    #[serde(default)]
    pub not_delivered: Option<Text>,
}

/// A day in China, in zh and en words.
pub(crate) fn day(at: i64) -> (String, String) {
    let d = local_date(at);
    (d.format("%Y年%-m月%-d日").to_string(), d.format("%Y-%m-%d").to_string())
}

impl AgentCertificate {
    /// The certificate in words ([`AgentCard`]).
    pub fn card(self) -> AgentCard {
        let (zh_day, en_day) = day(self.valid_until);
        AgentCard {
            text: Text::new(
                format!("{}，{}的帮办员。平台已核验此人的帮办员证书。", self.name, self.org_name),
                format!(
                    "{}, agent of {}. The platform vouches for this agent's certificate.",
                    self.name, self.org_name
                ),
            ),
            valid_text: Text::new(format!("证书有效至{zh_day}。"), format!("Certificate valid until {en_day}.")),
            not_delivered: None,
            certificate: self,
        }
    }
}

impl AgentCertificate {
    fn to_value(&self) -> Value {
        map(vec![
            (1, uint(CERT_VERSION)),
            (2, text(&self.cert_id)),
            (3, text(&self.agent_id)),
            (4, text(&self.name)),
            (5, text(&self.org_code)),
            (6, text(&self.org_name)),
            (7, bytes(&self.device_key)),
            (8, int(self.valid_from)),
            (9, int(self.valid_until)),
        ])
    }

    fn from_value(v: &Value) -> std::result::Result<AgentCertificate, WalletError> {
        let w = "agent certificate";
        let m = IntMap::new(v, w)?;
        let version = as_u64(m.get(1, w)?, w)?;
        if version != CERT_VERSION {
            return Err(WalletError::UnsupportedVersion { version });
        }
        Ok(AgentCertificate {
            cert_id: as_text(m.get(2, w)?, w)?.to_string(),
            agent_id: as_text(m.get(3, w)?, w)?.to_string(),
            name: as_text(m.get(4, w)?, w)?.to_string(),
            org_code: as_text(m.get(5, w)?, w)?.to_string(),
            org_name: as_text(m.get(6, w)?, w)?.to_string(),
            device_key: as_bytes(m.get(7, w)?, w)?.to_vec(),
            valid_from: as_i64(m.get(8, w)?, w)?,
            valid_until: as_i64(m.get(9, w)?, w)?,
        })
    }

    /// Signs the certificate with the platform root key (the platform does this; the sandbox in tests).
    pub fn sign(&self, sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>) -> Result<Vec<u8>> {
        for (v, max, what) in [
            (&self.cert_id, 64, "cert_id"),
            (&self.agent_id, 64, "agent_id"),
            (&self.name, 50, "name"),
            (&self.org_code, 18, "org_code"),
            (&self.org_name, 100, "org_name"),
        ] {
            short(v, max, what)?;
        }
        let s = sign1_create(ROOT_KID, encode_cbor(&self.to_value()), sign)?;
        Ok(encode_cbor(&sign1_value(&s)))
    }

    /// Checks a signed certificate against `root_key` (normally the pinned root) and its validity at
    /// `now`. Bounded: at most [`MAX_CERT_BYTES`], CBOR depth and sizes pre-scanned.
    pub fn verify(signed: &[u8], root_key: &[u8], now: i64) -> Result<AgentCertificate> {
        let c = Self::verify_signature(signed, root_key)?;
        if now < c.valid_from || now > c.valid_until {
            return Err(denied(
                "certificate",
                &format!("帮办员证书不在有效期内（{}）", c.cert_id),
                &format!("the agent certificate {} is not valid at this time", c.cert_id),
            ));
        }
        Ok(c)
    }

    /// Checks only the root signature (validity is the caller's: a stored certificate is shown even
    /// after it expired).
    pub fn verify_signature(signed: &[u8], root_key: &[u8]) -> Result<AgentCertificate> {
        if signed.len() > MAX_CERT_BYTES {
            return Err(WalletError::TooLong { len: signed.len(), max: MAX_CERT_BYTES }.into());
        }
        let (s, kid) = sign1_parse(decode_cbor(signed)?)?;
        if kid != ROOT_KID || !sign1_verify(&s, root_key) {
            return Err(denied(
                "certificate",
                "帮办员证书不是平台签发的",
                "the agent certificate was not signed by the platform",
            ));
        }
        Ok(Self::from_value(&sign1_payload(&s)?)?)
    }

    /// The QR text an agent shows a principal.
    pub fn to_text(signed: &[u8]) -> String {
        encode_text(CERT_PREFIX, signed)
    }

    /// Reverses [`AgentCertificate::to_text`] (bounded like `ZB1:`); the caller verifies the bytes.
    pub fn from_text(t: &str) -> Result<Vec<u8>> {
        Ok(decode_text(CERT_PREFIX, t.trim())?)
    }
}
