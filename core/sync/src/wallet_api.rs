//! Platform calls of the e-licence wallet: device-bound issuance, the signed trust and status lists,
//! and sending the holder's grant revocations. Everything the platform returns is checked by the wallet
//! (signatures against the pinned root, import checks) before it is kept.

use serde::{Deserialize, Serialize};

use super::PlatformClient;
use crate::wallet::{CacheInfo, LicenceStatus, LicenceSummary, LicenceType, Wallet, MAX_STATUS_LISTS};
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
struct SignedList {
    signed: String,
}

/// `GET /v1/status-lists` (API version 3, ADR 0039): the status lists (shards) the platform publishes.
#[derive(Debug, Deserialize)]
struct StatusListIndex {
    lists: Vec<StatusListEntry>,
}

#[derive(Debug, Deserialize)]
struct StatusListEntry {
    id: u32,
    sequence: u64,
}

/// Which status lists a refresh fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusScope {
    /// A holder: list 0, the lists of the licences it keeps, and any it already holds.
    Holder,
    /// A verifier (clerk, hotel): every list the platform publishes (at most `MAX_STATUS_LISTS`).
    EveryShard,
}

impl From<bool> for StatusScope {
    /// `every_shard`: a verifier's device.
    fn from(every_shard: bool) -> StatusScope {
        if every_shard {
            StatusScope::EveryShard
        } else {
            StatusScope::Holder
        }
    }
}

#[derive(Debug, Deserialize)]
struct Nonce {
    nonce: String,
}

/// What the phone asks for: a licence type and, for the licence of an approved case, the case. Never the
/// licence's contents: the platform takes them from its own records (API version 2).
#[derive(Debug, Serialize)]
struct IssueRequest<'a> {
    licence_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    case_id: Option<&'a str>,
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
    revocations: Vec<crate::wallet::GrantRevocation>,
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
    /// Downloads the trust list and the status lists a holder needs ([`StatusScope::Holder`]), verifies them
    /// against the pinned root key and caches them (a list older than the cached one is refused).
    pub async fn refresh_wallet_lists(&self, wallet: &Wallet) -> Result<CacheInfo> {
        self.refresh_lists_for(wallet, StatusScope::Holder).await
    }

    /// Downloads the trust list and the status lists of `scope`. The index names each list's sequence; a
    /// list already held at that sequence is not downloaded again. Each list must be signed as the shard it
    /// was asked for (`status_list_mismatch`), and each shard keeps its own sequence (rollback refused).
    pub async fn refresh_lists_for(&self, wallet: &Wallet, scope: StatusScope) -> Result<CacheInfo> {
        let now = wallet.store().now();
        let t: SignedList = self.get_json("/v1/trust-list", None).await?;
        wallet.update_trust_list(&hex::decode(&t.signed).map_err(|_| bad_response("trust list"))?, now)?;
        let index: StatusListIndex = self.get_json("/v1/status-lists", None).await?;
        if index.lists.len() > MAX_STATUS_LISTS as usize || index.lists.iter().any(|l| l.id >= MAX_STATUS_LISTS) {
            return Err(bad_response("status list index"));
        }
        let held = wallet.status_lists()?;
        let mut wanted = wallet.needed_status_lists()?;
        wanted.extend(held.iter().map(|s| s.list_id));
        for entry in &index.lists {
            if scope == StatusScope::Holder && !wanted.contains(&entry.id) {
                continue;
            }
            if held.get(entry.id).is_some_and(|h| h.sequence >= entry.sequence) {
                continue;
            }
            let s: SignedList = self.get_json(&format!("/v1/status-lists/{}", entry.id), None).await?;
            let bytes = hex::decode(&s.signed).map_err(|_| bad_response("status list"))?;
            wallet.update_status_shard(entry.id, &bytes, now)?;
        }
        wallet.cache_info(now)
    }

    /// Requests a licence bound to this device: gets a nonce, proves possession of the device key by
    /// signing it, and imports the licence the platform returns (after every import check). With
    /// `case_id` (the platform's case id) it is the licence that case's approval offered; without, the
    /// licence the platform's register holds for this device's person. The platform signs what its own
    /// records say; the phone cannot name the contents.
    pub async fn request_licence(
        &self,
        wallet: &Wallet,
        licence_type: LicenceType,
        case_id: Option<&str>,
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
            case_id,
            device_key: hex::encode(wallet.device_public_key()),
            nonce: n.nonce.clone(),
            proof: hex::encode(proof),
        };
        let resp: IssueResponse = self.post_json("/v1/licences/issue", &req, Some(&token), Some(&n.nonce)).await?;
        let bytes = hex::decode(&resp.licence).map_err(|_| bad_response("licence"))?;
        let summary = crate::forms::import_licence(wallet, &bytes, wallet.store().now())?;
        if summary.status != LicenceStatus::StatusStale {
            return Ok(summary);
        }
        // Its status list may be a shard this phone does not hold yet (ADR 0039), or newer than its copy: fetch
        // the lists it needs now. The licence is imported either way; a failed fetch leaves it "not refreshed".
        if self.refresh_wallet_lists(wallet).await.is_err() {
            return Ok(summary);
        }
        Ok(wallet.licence(&summary.licence_id, wallet.store().now())?.summary)
    }

    /// The holders' signed revocations (for a recipient's [`crate::wallet::GrantVerifier`], which honours
    /// only those signed by the grant's own device key).
    pub async fn revoked_grants(&self) -> Result<Vec<crate::wallet::GrantRevocation>> {
        let r: RevokedGrants = self.get_json("/v1/grants/revoked", None).await?;
        if r.revocations.iter().any(|v| hex::decode(&v.grant_id).is_err() || hex::decode(&v.signature).is_err()) {
            return Err(bad_response("grant revocation"));
        }
        Ok(r.revocations)
    }
}
