//! Re-binding on a new phone (换机): after a restore from a backup (`zhangban-backup`), the platform moves
//! the person from the old phone to this one and re-issues each device-bound licence to this phone's own
//! device key (hardware keys do not move).
//!
//! 1. This phone registers (new device key, new token): [`PlatformClient::register_device`].
//! 2. [`PlatformClient::rebind`] sends the proof that the person is the old phone's holder: a one-time code
//!    from the platform's identity check ([`TransferProof::OneTimeCode`]; the sandbox's clerk CLI
//!    `transfer-code DEVICE`) or a transfer signed by the old phone ([`sign_transfer`], phone to phone).
//!    The platform moves the old phone's cases, events and idempotency keys to this one, revokes the old
//!    licences and the old phone's token, and lists the licences to re-issue.
//! 3. The outbox hold a restore set ([`outbox::HOLD_SETTING`]) is lifted: the kept idempotency keys now
//!    find the answers the platform gave the old phone, so nothing is filed twice.
//! 4. Each licence is re-issued to this phone's device key (nonce, proof of possession), imported with every
//!    check, and the old copy (bound to the old key, now revoked) leaves the wallet.
//!
//! Every step may be repeated: a second call after a lost answer gets the same outcome and re-issues only
//! what is still missing.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::PlatformClient;
use crate::store::Store;
use crate::wallet::{LicenceSummary, Wallet};
use crate::{outbox, Error, Result};
use zhangban_base::Text;

/// Context of a transfer signature (versioned).
pub const TRANSFER_CONTEXT: &str = "ZB-Transfer-v1";

/// What the old phone signs to hand its person over to the new phone: the context, its own platform id and
/// the new phone's device public key (hex, lower case), as a JSON array.
pub fn transfer_tbs(from_device: &str, new_public_key_hex: &str) -> Vec<u8> {
    json!([TRANSFER_CONTEXT, from_device, new_public_key_hex.to_ascii_lowercase()]).to_string().into_bytes()
}

/// The proof the platform takes that the person on this phone holds the old one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferProof {
    /// A one-time code from the platform's identity check (real-name / face verification; in the sandbox
    /// the clerk CLI issues it).
    OneTimeCode(String),
    /// The old phone's signature from [`sign_transfer`], hex.
    OldPhoneSignature(String),
}

/// A transfer signed by the old phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransfer {
    /// The old phone's platform id.
    pub from_device: String,
    /// DER ECDSA P-256 signature over [`transfer_tbs`], hex.
    pub signature: String,
}

/// On the old phone: signs the hand-over to the new phone whose device public key (hex) it read from the
/// new phone's screen.
pub fn sign_transfer(old_store: &Store, new_public_key_hex: &str) -> Result<SignedTransfer> {
    let key = hex::decode(new_public_key_hex).ok().filter(|k| k.len() == 65 && k[0] == 4);
    if key.is_none() {
        return Err(Error::validation(
            "new_public_key",
            "新手机的公钥无效：请重新扫描新手机上的二维码",
            "the new phone's public key is not valid: scan the code on the new phone again",
        ));
    }
    let reg = super::registration(old_store)?.ok_or_else(|| {
        Error::validation("device", "本机尚未在平台注册，无需转移", "this phone never registered with the platform")
    })?;
    // The device key the platform registered: the session's platform key on a phone whose key is one.
    let sig = zhangban_wallet::device::identity(old_store, None)?
        .sign_der(&transfer_tbs(&reg.device_id, new_public_key_hex))?;
    Ok(SignedTransfer { from_device: reg.device_id, signature: hex::encode(sig) })
}

/// Prefix of the QR the new phone shows the old one: its device public key (`docs/formats.md` § 11).
pub const REQUEST_PREFIX: &str = "ZBTQ1:";
/// Prefix of the QR the old phone shows back: the signed transfer.
pub const TRANSFER_PREFIX: &str = "ZBT1:";

fn bad_qr(field: &str) -> Error {
    Error::validation(
        field,
        "不是掌办换机二维码，或二维码已损坏：请重新扫描另一台手机上显示的二维码",
        "not a Zhangban phone-transfer code, or a damaged one: scan the code shown on the other phone again",
    )
}

/// On the new phone: the QR text to show the old phone (`ZBTQ1:` + its device public key, hex).
pub fn transfer_request_text(new_store: &Store) -> Result<String> {
    Ok(format!("{REQUEST_PREFIX}{}", hex::encode(zhangban_wallet::device::device_public_key(new_store)?)))
}

/// On the old phone: reads the new phone's `ZBTQ1:` QR (bounded) and signs the hand-over to it; returns
/// the `ZBT1:` text to show back (`from_device` `.` signature hex).
pub fn sign_transfer_text(old_store: &Store, request_text: &str) -> Result<String> {
    let key =
        request_text.trim().strip_prefix(REQUEST_PREFIX).filter(|k| k.len() == 130).ok_or_else(|| bad_qr("qr"))?;
    let t = sign_transfer(old_store, key)?;
    Ok(format!("{TRANSFER_PREFIX}{}.{}", t.from_device, t.signature))
}

/// On the new phone: reads the old phone's `ZBT1:` QR (bounded: ≤ 64 id characters, ≤ 144 hex digits).
pub fn parse_transfer_text(text: &str) -> Result<SignedTransfer> {
    let rest = text.trim().strip_prefix(TRANSFER_PREFIX).ok_or_else(|| bad_qr("qr"))?;
    let (from, sig) = rest.split_once('.').ok_or_else(|| bad_qr("qr"))?;
    let id_ok = !from.is_empty() && from.len() <= 64 && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let sig_ok = (16..=144).contains(&sig.len()) && sig.len() % 2 == 0 && sig.bytes().all(|b| b.is_ascii_hexdigit());
    if !id_ok || !sig_ok {
        return Err(bad_qr("qr"));
    }
    Ok(SignedTransfer { from_device: from.to_string(), signature: sig.to_ascii_lowercase() })
}

/// What [`PlatformClient::rebind`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RebindReport {
    /// Cases the platform moved to this phone (0 when asked again).
    pub moved_cases: u32,
    /// Licences re-issued to this phone's device key, now in the wallet.
    pub rebound: Vec<LicenceSummary>,
    /// Old licence ids (bound to the old phone, revoked) removed from the wallet.
    pub removed: Vec<String>,
    /// The move worded for the screen ("换机完成：1 张证照已重新签发到本机，2 个办件转到本机。"): [`moved_text`].
    pub text: Text,
}

/// A finished move, worded: licences re-issued to this phone and cases moved here.
pub fn moved_text(licences: usize, cases: u32) -> Text {
    let l = Text::count(licences as i64, "{n} 张证照", "{n} licence", "{n} licences");
    let c = Text::count(i64::from(cases), "{n} 个办件", "{n} case", "{n} cases");
    Text::new(
        format!("换机完成：{}已重新签发到本机，{}转到本机。", l.zh, c.zh),
        format!("Move finished: {} re-issued to this phone, {} moved here.", l.en, c.en),
    )
}

#[derive(Debug, Deserialize)]
struct PendingLicence {
    licence_id: String,
}

#[derive(Debug, Deserialize)]
struct TransferResponse {
    #[serde(default)]
    moved_cases: u32,
    #[serde(default)]
    licences: Vec<PendingLicence>,
}

#[derive(Debug, Deserialize)]
struct Nonce {
    nonce: String,
}

#[derive(Debug, Deserialize)]
struct IssueResponse {
    licence: String,
}

fn bad_response(what: &str) -> Error {
    Error::Network(format!("invalid {what} from the platform"))
}

impl PlatformClient {
    /// Moves the person of `from_device` (the old phone, named in the backup) to this phone and re-binds
    /// every licence to this phone's device key. See the module docs.
    pub async fn rebind(&self, wallet: &Wallet, from_device: &str, proof: &TransferProof) -> Result<RebindReport> {
        let store = wallet.store();
        let token = super::registration(store)?.map(|r| r.token).ok_or_else(|| {
            Error::validation(
                "device",
                "本机尚未在平台注册：请先联网注册",
                "register this phone with the platform first",
            )
        })?;
        if from_device.is_empty() || from_device.len() > 64 {
            return Err(Error::validation("from_device", "旧手机标识无效", "the old phone's id is not valid"));
        }
        let body = match proof {
            TransferProof::OneTimeCode(code) => {
                let code = code.trim();
                if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::validation("code", "验证码应为 8 位数字", "the one-time code has 8 digits"));
                }
                json!({ "from_device": from_device, "code": code })
            }
            TransferProof::OldPhoneSignature(sig) => json!({ "from_device": from_device, "signature": sig }),
        };
        let t: TransferResponse = self.post_json("/v1/devices/transfer", &body, Some(&token), None).await?;
        // The old phone's cases and keys are here now: the restored outbox may be sent.
        if store.setting(outbox::HOLD_SETTING)?.is_some() {
            store.remove_setting(outbox::HOLD_SETTING)?;
        }
        self.refresh_wallet_lists(wallet).await?;
        let mut report = RebindReport {
            moved_cases: t.moved_cases,
            rebound: Vec::new(),
            removed: Vec::new(),
            text: Text::default(),
        };
        for l in t.licences.iter().take(1000) {
            let n: Nonce = self.post_json("/v1/licences/nonce", &json!({}), Some(&token), None).await?;
            let nonce = hex::decode(&n.nonce).map_err(|_| bad_response("nonce"))?;
            let proof = wallet.prove_possession(&nonce)?;
            let req = json!({
                "licence_id": l.licence_id,
                "device_key": hex::encode(wallet.device_public_key()),
                "nonce": n.nonce,
                "proof": hex::encode(proof),
            });
            let resp: IssueResponse =
                self.post_json("/v1/licences/reissue", &req, Some(&token), Some(&n.nonce)).await?;
            let bytes = hex::decode(&resp.licence).map_err(|_| bad_response("licence"))?;
            let summary = crate::forms::import_licence(wallet, &bytes, store.now())?;
            if wallet.remove_licence(&l.licence_id, "licence.rebound", &summary.licence_id)? {
                report.removed.push(l.licence_id.clone());
            }
            report.rebound.push(summary);
        }
        report.text = moved_text(report.rebound.len(), report.moved_cases);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_is_worded_by_the_core_with_its_plurals() {
        assert_eq!(
            moved_text(1, 2),
            Text::new(
                "换机完成：1 张证照已重新签发到本机，2 个办件转到本机。",
                "Move finished: 1 licence re-issued to this phone, 2 cases moved here."
            )
        );
        assert_eq!(moved_text(0, 1).en, "Move finished: 0 licences re-issued to this phone, 1 case moved here.");
    }

    #[test]
    fn the_transfer_qr_parser_is_bounded_and_names_the_field() {
        let sig = "30".repeat(36);
        let t = parse_transfer_text(&format!(" ZBT1:0f3e-ab.{sig} ")).unwrap();
        assert_eq!((t.from_device.as_str(), t.signature.as_str()), ("0f3e-ab", sig.as_str()));
        let long_id = "a".repeat(65);
        for bad in [
            String::new(),
            format!("ZBT2:d.{sig}"),
            format!("ZBT1:d{sig}"),
            format!("ZBT1:.{sig}"),
            format!("ZBT1:{long_id}.{sig}"),
            format!("ZBT1:d/1.{sig}"),
            "ZBT1:d.abc".into(),
            format!("ZBT1:d.{}", "ab".repeat(73)),
            format!("ZBT1:d.{}", "zz".repeat(36)),
        ] {
            assert!(
                matches!(parse_transfer_text(&bad), Err(Error::Validation { field, .. }) if field == "qr"),
                "{bad}"
            );
        }
    }
}
