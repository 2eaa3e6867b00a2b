//! Platform calls of the e-licence wallet: device-bound issuance, the signed trust and status lists,
//! and sending the holder's grant revocations. Everything the platform returns is checked by the wallet
//! (signatures against the pinned root, import checks) before it is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::PlatformClient;
use crate::wallet::{CacheInfo, ElementValue, LicenceSummary, LicenceType, Wallet, OUTBOX_COLLECTION};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
struct SignedList {
    signed: String,
}

#[derive(Debug, Deserialize)]
struct Nonce {
    nonce: String,
}

#[derive(Debug, Serialize)]
struct IssueRequest<'a> {
    licence_type: &'a str,
    elements: &'a BTreeMap<String, ElementValue>,
    device_key: String,
    nonce: String,
    proof: String,
}

#[derive(Debug, Deserialize)]
struct IssueResponse {
    licence: String,
}

#[derive(Debug, Deserialize)]
struct RevokedGrants {
    grant_ids: Vec<String>,
}

fn bad_response(what: &str) -> Error {
    Error::Network(format!("invalid {what} from the platform"))
}

fn token(wallet: &Wallet) -> Result<String> {
    super::registration(wallet.store())?.map(|r| r.token).ok_or_else(|| {
        Error::validation(
            "device",
            "本机尚未在平台注册：请先联网注册",
            "this device is not registered with the platform yet",
        )
    })
}

impl PlatformClient {
    /// Downloads the trust list and the status list, verifies them against the pinned root key and caches
    /// them (a list older than the cached one is refused).
    pub async fn refresh_wallet_lists(&self, wallet: &Wallet) -> Result<CacheInfo> {
        let now = wallet.store().now();
        let t: SignedList = self.get_json("/v1/trust-list", None).await?;
        wallet.update_trust_list(&hex::decode(&t.signed).map_err(|_| bad_response("trust list"))?, now)?;
        let s: SignedList = self.get_json("/v1/status-list", None).await?;
        wallet.update_status_list(&hex::decode(&s.signed).map_err(|_| bad_response("status list"))?, now)?;
        wallet.cache_info(now)
    }

    /// Requests a licence bound to this device: gets a nonce, proves possession of the device key by
    /// signing it, and imports the licence the platform returns (after every import check).
    pub async fn request_licence(
        &self,
        wallet: &Wallet,
        licence_type: LicenceType,
        elements: &BTreeMap<String, ElementValue>,
    ) -> Result<LicenceSummary> {
        let token = token(wallet)?;
        if wallet.trust_list()?.is_none() {
            self.refresh_wallet_lists(wallet).await?;
        }
        let n: Nonce = self.post_json("/v1/licences/nonce", &serde_json::json!({}), Some(&token), None).await?;
        let nonce = hex::decode(&n.nonce).map_err(|_| bad_response("nonce"))?;
        let proof = wallet.prove_possession(&nonce)?;
        let req = IssueRequest {
            licence_type: licence_type.key(),
            elements,
            device_key: hex::encode(wallet.device_public_key()),
            nonce: n.nonce.clone(),
            proof: hex::encode(proof),
        };
        let resp: IssueResponse = self.post_json("/v1/licences/issue", &req, Some(&token), Some(&n.nonce)).await?;
        let bytes = hex::decode(&resp.licence).map_err(|_| bad_response("licence"))?;
        crate::forms::import_licence(wallet, &bytes, wallet.store().now())
    }

    /// Sends queued grant revocations; returns how many were sent. A failure leaves the rest queued.
    pub async fn send_grant_revocations(&self, wallet: &Wallet) -> Result<usize> {
        let token = token(wallet)?;
        let mut sent = 0;
        for rec in wallet.store().list_tagged(OUTBOX_COLLECTION, "pending")? {
            let v: serde_json::Value = rec.json()?;
            let Some(grant_id) = v.get("grant_id").and_then(|g| g.as_str()) else { continue };
            let _: serde_json::Value = self
                .post_json(
                    "/v1/grants/revoke",
                    &serde_json::json!({ "grant_id": grant_id }),
                    Some(&token),
                    Some(&rec.id),
                )
                .await?;
            wallet.store().transaction(|t| t.set_tag(OUTBOX_COLLECTION, &rec.id, Some("sent")).map(|_| ()))?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Grant ids the holders revoked (for a recipient's [`crate::wallet::GrantVerifier`]).
    pub async fn revoked_grants(&self) -> Result<Vec<Vec<u8>>> {
        let r: RevokedGrants = self.get_json("/v1/grants/revoked", None).await?;
        r.grant_ids.iter().map(|g| hex::decode(g).map_err(|_| bad_response("grant id"))).collect()
    }
}
