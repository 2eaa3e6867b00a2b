//! The HTTP client of the platform (reqwest with rustls; no OpenSSL).
//!
//! * Every request has a connect timeout and a total timeout; redirects are not followed.
//! * Every response body is read with a size bound *before* it is parsed (the declared `Content-Length`
//!   is checked first, then the bytes as they arrive); JSON parsing is depth-bounded by serde_json.
//! * Errors: transport failures, timeouts, 408/429 and 5xx are [`Error::Network`] (retry later; the
//!   outbox keeps the operation); other 4xx are [`Error::Rejected`] with the platform's message (retrying
//!   the same request will not help). A 2xx body that is too large or not the expected JSON is
//!   `Error::Network` too: the platform (or a proxy) misbehaved, the local data is untouched.
//!
//! Other modules build on [`PlatformClient::get_json`] / [`PlatformClient::post_json`] (which carry the
//! device token and an idempotency key) rather than on reqwest directly.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::http::HttpClient;
use crate::store::{PutOptions, Store, SELF_SUBJECT};
use crate::{Error, Result};

/// Largest response body read by default.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Most service items a catalog may hold.
pub const MAX_CATALOG_ITEMS: usize = 10_000;
/// Longest error message kept from a platform response.
const MAX_MESSAGE_CHARS: usize = 500;

use zhangban_catalog::{CATALOG_COLLECTION, CATALOG_VERSION_SETTING};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://…`, or `http://` to a loopback address (the sandbox).
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

impl ClientConfig {
    pub fn new(base_url: &str) -> Self {
        ClientConfig {
            base_url: base_url.to_string(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// What the device tells the platform when it registers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device public key (see [`super::DeviceKey`]), hex.
    pub public_key: String,
    /// `android`, `ios` or `desktop`.
    pub platform: String,
    pub model: String,
    pub app_version: String,
}

/// The platform's answer to a registration; kept encrypted in the store (the token is a secret).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Registration {
    pub device_id: String,
    pub token: String,
    pub registered_at: i64,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .field("registered_at", &self.registered_at)
            .finish()
    }
}

/// The outcome of [`PlatformClient::fetch_catalog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogUpdate {
    /// The version now held locally.
    pub version: i64,
    /// The previous local version (0: none).
    pub previous_version: i64,
    /// True when the platform had nothing newer.
    pub up_to_date: bool,
    /// Service items stored (0 when up to date).
    pub items: usize,
}

#[derive(Debug, Deserialize)]
struct CatalogResponse {
    version: i64,
    up_to_date: bool,
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

/// The platform client. Cheap to clone (reqwest pools connections inside).
#[derive(Debug, Clone)]
pub struct PlatformClient {
    http: HttpClient,
}

impl PlatformClient {
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_config(ClientConfig::new(base_url))
    }

    /// Validates the address (see [`super::http`]: https, or http to a loopback IP literal only).
    pub fn with_config(cfg: ClientConfig) -> Result<Self> {
        let http = HttpClient::new(&cfg.base_url, cfg.connect_timeout, cfg.timeout, cfg.max_response_bytes)?;
        Ok(PlatformClient { http })
    }

    pub fn base_url(&self) -> &str {
        self.http.base_url()
    }

    /// The validated client underneath (for a caller that needs a request shape not covered here).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Sends a request and returns its body (bounded) on 2xx; maps everything else to a typed error.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>> {
        let reply = self.http.send(req).await?;
        if reply.is_success() {
            return Ok(reply.body);
        }
        let message = error_message(&reply.body);
        let code = reply.status;
        if code >= 500 || code == 408 || code == 429 {
            Err(Error::Network(format!("platform answered {code}: {message}")))
        } else if (300..400).contains(&code) {
            // Redirects are never followed (they could carry the request to another origin).
            Err(Error::Network(format!("platform answered a redirect ({code}); not followed")))
        } else {
            Err(Error::Rejected { status: code, message })
        }
    }

    fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| Error::Network(format!("invalid response from the platform: {e}")))
    }

    /// `GET path` (e.g. `/v1/cases`), with the device token when given; the body parsed as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, token: Option<&str>) -> Result<T> {
        let mut req = self.http.request(reqwest::Method::GET, path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::parse(&self.send(req).await?)
    }

    /// `POST path` with a JSON body, the device token and an `Idempotency-Key` when given (keep the same
    /// key across retries of one operation: the platform then applies it once).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        token: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Result<T> {
        let mut req = self.http.request(reqwest::Method::POST, path).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        Self::parse(&self.send(req).await?)
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<serde_json::Value> {
        self.get_json("/v1/health", None).await
    }

    /// Registers this device and keeps the registration (device id and token) encrypted in `store`.
    /// Registering again with the same public key keeps the device id and replaces the token.
    ///
    /// Proof of possession: the platform gives a one-time challenge (`POST /v1/devices/challenge`) and the
    /// device signs it with its key ([`super::registration_tbs`]). `info.public_key` must therefore be this
    /// store's device key ([`super::device_key`]).
    pub async fn register_device(&self, store: &Store, info: &DeviceInfo) -> Result<Registration> {
        self.register_device_signed(store, info, None).await
    }

    /// [`Self::register_device`] where the device key may be the platform's (StrongBox / Secure Enclave):
    /// the key [`zhangban_wallet::device::identity`] decides for the store is the one registered and the
    /// one that signs the challenge (a store with its software key keeps it). `info.public_key` must be it.
    pub async fn register_device_signed(
        &self,
        store: &Store,
        info: &DeviceInfo,
        platform: Option<std::sync::Arc<dyn zhangban_wallet::DeviceSigner>>,
    ) -> Result<Registration> {
        let key = zhangban_wallet::device::identity(store, platform)?;
        if info.public_key != key.public_key_hex() {
            return Err(Error::validation(
                "public_key",
                "公钥须为本机的设备密钥。",
                "public_key must be this device's key (sync::device_key).",
            ));
        }
        #[derive(Deserialize)]
        struct Challenge {
            challenge: String,
        }
        let c: Challenge = self.post_json("/v1/devices/challenge", &serde_json::json!({}), None, None).await?;
        if c.challenge.len() < 32 || c.challenge.len() > 128 || !c.challenge.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Network("invalid registration challenge from the platform".into()));
        }
        let signature = hex::encode(key.sign_der(&super::registration_tbs(&c.challenge, info))?);
        let body = serde_json::json!({
            "public_key": info.public_key,
            "platform": info.platform,
            "model": info.model,
            "app_version": info.app_version,
            "challenge": c.challenge,
            "signature": signature,
        });
        let reg: Registration = self.post_json("/v1/devices", &body, None, None).await?;
        if reg.device_id.is_empty() || reg.device_id.len() > 64 || reg.token.len() < 16 || reg.token.len() > 128 {
            return Err(Error::Network("invalid registration from the platform".into()));
        }
        store.put_json(super::DEVICE_COLLECTION, super::REGISTRATION_ID, SELF_SUBJECT, &reg)?;
        Ok(reg)
    }

    /// Fetches the service catalog if the platform has a version other than the one held, and replaces
    /// the local copy in one transaction (one record per item in [`CATALOG_COLLECTION`]). The version is
    /// recorded after the items: if the app dies in between, the next fetch simply downloads it again.
    pub async fn fetch_catalog(&self, store: &Store) -> Result<CatalogUpdate> {
        let previous = zhangban_catalog::catalog_version(store)?;
        let token = super::registration(store)?.map(|r| r.token);
        let resp: CatalogResponse =
            self.get_json(&format!("/v1/catalog?since_version={previous}"), token.as_deref()).await?;
        if resp.version < 0 {
            return Err(Error::Network("invalid catalog version from the platform".into()));
        }
        if resp.up_to_date {
            return Ok(CatalogUpdate { version: previous, previous_version: previous, up_to_date: true, items: 0 });
        }
        let items = validate_catalog(resp.items)?;
        let count = items.len();
        store.transaction(|t| {
            let new_ids: std::collections::HashSet<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
            for old in t.list(CATALOG_COLLECTION, None)? {
                if !new_ids.contains(old.id.as_str()) {
                    t.delete(CATALOG_COLLECTION, &old.id)?;
                }
            }
            for (id, item) in &items {
                t.put_json(CATALOG_COLLECTION, id, SELF_SUBJECT, item, PutOptions::default())?;
            }
            Ok(())
        })?;
        store.set_setting(CATALOG_VERSION_SETTING, &resp.version.to_string())?;
        Ok(CatalogUpdate { version: resp.version, previous_version: previous, up_to_date: false, items: count })
    }
}

/// Every item must be an object with a unique, short, plain `id`.
fn validate_catalog(items: Vec<serde_json::Value>) -> Result<Vec<(String, serde_json::Value)>> {
    if items.len() > MAX_CATALOG_ITEMS {
        return Err(Error::Network(format!("catalog has more than {MAX_CATALOG_ITEMS} items")));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let id = item
            .get("id")
            .and_then(|v| v.as_str())
            .filter(|id| {
                !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            })
            .ok_or_else(|| Error::Network(format!("catalog item {i} has no valid id")))?
            .to_string();
        if !seen.insert(id.clone()) {
            return Err(Error::Network(format!("catalog item id {id} appears twice")));
        }
        out.push((id, item));
    }
    Ok(out)
}

/// The platform's `message` (JSON error body) or the start of the text body.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrBody {
        message: Option<String>,
    }
    let text = match serde_json::from_slice::<ErrBody>(body) {
        Ok(ErrBody { message: Some(m) }) => m,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    let text = text.trim();
    if text.is_empty() {
        return "(no message)".into();
    }
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot raw HTTP server: answers every connection with `response` (or never, when `None`).
    async fn raw_server(response: Option<Vec<u8>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = sock.read(&mut buf).await;
                    match response {
                        Some(r) => {
                            let _ = sock.write_all(&r).await;
                            let _ = sock.shutdown().await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    fn http(status: &str, body: &str) -> Option<Vec<u8>> {
        Some(
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    fn client(url: &str) -> PlatformClient {
        let mut cfg = ClientConfig::new(url);
        cfg.timeout = Duration::from_millis(500);
        cfg.max_response_bytes = 1024;
        PlatformClient::with_config(cfg).unwrap()
    }

    #[tokio::test]
    async fn status_codes_map_to_typed_errors() {
        let url = raw_server(http("400 Bad Request", r#"{"error":"invalid","message":"platform: bad"}"#)).await;
        match client(&url).health().await {
            Err(Error::Rejected { status: 400, message }) => assert_eq!(message, "platform: bad"),
            other => panic!("expected Rejected, got {other:?}"),
        }
        let url = raw_server(http("503 Service Unavailable", "down")).await;
        assert!(matches!(client(&url).health().await, Err(Error::Network(m)) if m.contains("503")));
        let url = raw_server(http("429 Too Many Requests", "")).await;
        assert!(matches!(client(&url).health().await, Err(Error::Network(_))));
        let url = raw_server(http("200 OK", r#"{"status":"ok"}"#)).await;
        assert_eq!(client(&url).health().await.unwrap()["status"], "ok");
    }

    #[tokio::test]
    async fn bad_bodies_are_typed_errors() {
        let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(5000));
        let url = raw_server(http("200 OK", &big)).await;
        assert!(matches!(client(&url).health().await, Err(Error::Network(m)) if m.contains("limit")));
        // Without a Content-Length, the bound applies to the bytes as they arrive.
        let chunked = format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{big}");
        let url = raw_server(Some(chunked.into_bytes())).await;
        assert!(matches!(client(&url).health().await, Err(Error::Network(m)) if m.contains("limit")));
        let url = raw_server(http("200 OK", "{not json")).await;
        assert!(matches!(client(&url).health().await, Err(Error::Network(m)) if m.contains("invalid response")));
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let mut cfg = ClientConfig::new(&raw_server(http("200 OK", &deep)).await);
        cfg.timeout = Duration::from_millis(500);
        let c = PlatformClient::with_config(cfg).unwrap();
        assert!(matches!(c.health().await, Err(Error::Network(_))), "depth is bounded");
    }

    #[tokio::test]
    async fn silence_times_out_as_network() {
        let url = raw_server(None).await;
        let started = std::time::Instant::now();
        assert!(matches!(client(&url).health().await, Err(Error::Network(_))));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Nothing listening at all.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(matches!(client(&format!("http://127.0.0.1:{port}")).health().await, Err(Error::Network(_))));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(PlatformClient::new("http://127.0.0.1:8080").is_ok());
        assert!(PlatformClient::new("https://gov.example.cn").is_ok());
        for bad in [
            "http://gov.example.cn",
            "http://127.example.cn.evil.com",
            "ftp://x",
            "",
            "https://",
            // Attacks on the old hand-written check: user info before the real host, a name.
            "http://127.0.0.1:80@example.com",
            "http://localhost:1/",
        ] {
            assert!(
                matches!(PlatformClient::new(bad), Err(Error::Validation { ref field, .. }) if field == "base_url"),
                "{bad}"
            );
        }
    }

    #[test]
    fn catalog_items_need_unique_plain_ids() {
        use serde_json::json;
        assert!(validate_catalog(vec![json!({"id": "a-1"}), json!({"id": "b"})]).is_ok());
        assert!(validate_catalog(vec![json!({"id": "a"}), json!({"id": "a"})]).is_err());
        assert!(validate_catalog(vec![json!({"name": "x"})]).is_err());
        assert!(validate_catalog(vec![json!({"id": "../x"})]).is_err());
        assert!(validate_catalog(vec![json!("just a string")]).is_err());
    }
}
