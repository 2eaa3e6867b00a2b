//! The one HTTP client of the core. Every request the core makes to the platform (the sync runner, the
//! licence issuance, [`super::PlatformClient`]) goes through [`HttpClient`], which guarantees:
//!
//! * the base address is parsed as a URL (not split by hand): `https://` to any host, or `http://` only to
//!   a loopback IP literal (`127.0.0.0/8`, `[::1]`: the sandbox). No user info (`user@`), no query or
//!   fragment, at most 2048 bytes. `http://127.0.0.1:80@example.com` is a request to example.com and is
//!   refused; so is `http://localhost` (a name, resolved by whatever resolver the phone has).
//! * redirects are never followed (a 307 would re-send a form's values, and the bearer token, to a new
//!   origin); a 3xx is an answer like any other and callers treat it as a failure.
//! * connect and total timeouts on every request.
//! * bodies are read as a stream with a bound: the declared `Content-Length` is checked first, then the
//!   bytes as they arrive; a 2xx body over the bound is an error, an error body is cut at 16 KiB.

use std::time::Duration;

use reqwest::Url;

use crate::{Error, Result};

/// Longest base address accepted.
pub const MAX_URL_BYTES: usize = 2048;
/// Most bytes kept of a non-2xx body (only its message is used).
pub const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// A body that was read within its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no (usable) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFail {
    /// No connection could be made (offline, nothing listening).
    Connect(String),
    /// The connection failed or timed out after it was made.
    Transport(String),
    /// A 2xx body larger than the bound.
    TooLarge { limit: usize },
}

impl std::fmt::Display for HttpFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFail::Connect(m) | HttpFail::Transport(m) => f.write_str(m),
            HttpFail::TooLarge { limit } => write!(f, "response exceeds the {limit}-byte limit"),
        }
    }
}

impl From<HttpFail> for Error {
    fn from(e: HttpFail) -> Error {
        Error::Network(e.to_string())
    }
}

fn bad_url() -> Error {
    Error::validation(
        "base_url",
        "平台地址须以 https:// 开头（仅本机测试平台 127.0.0.1 可用 http），且不能含用户名、查询或片段",
        "the platform address must be https:// (http only to a loopback test platform at 127.0.0.1 or [::1]), \
         with no user name, query or fragment",
    )
}

/// Parses and checks a platform base address (see the module docs). Returns it without a trailing `/`.
pub fn validate_base_url(s: &str) -> Result<String> {
    if s.is_empty() || s.len() > MAX_URL_BYTES {
        return Err(bad_url());
    }
    let url = Url::parse(s).map_err(|_| bad_url())?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad_url());
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(bad_url)?;
    match url.scheme() {
        "https" => {}
        "http" => {
            // The URL parser normalises IP literals (`[::1]`, `127.1` → `127.0.0.1`); a name is not loopback.
            let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
            if !ip.is_ok_and(|ip| ip.is_loopback()) {
                return Err(bad_url());
            }
        }
        _ => return Err(bad_url()),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The validated client (cheap to clone: reqwest pools connections inside).
#[derive(Debug, Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    base: String,
    max_response_bytes: usize,
}

impl HttpClient {
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Result<HttpClient> {
        let base = validate_base_url(base_url)?;
        // Only the TLS suites named in the core (ADR 0018).
        let http = super::tls::client_builder()?
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!base.starts_with("http://"))
            .user_agent(concat!("zhangban-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("http client: {e}")))?;
        Ok(HttpClient { http, base, max_response_bytes })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// A request to `path` (which starts with `/`) under the base address.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{}", self.base, path))
    }

    /// Sends `req` and reads the body within the bound.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> std::result::Result<HttpReply, HttpFail> {
        let mut resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let max = self.max_response_bytes;
        if let Some(len) = resp.content_length() {
            if len > max as u64 && status.is_success() {
                return Err(HttpFail::TooLarge { limit: max });
            }
        }
        let limit = if status.is_success() { max } else { max.min(MAX_ERROR_BODY_BYTES) };
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > limit {
                if status.is_success() {
                    return Err(HttpFail::TooLarge { limit: max });
                }
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpReply { status: status.as_u16(), body })
    }
}

fn classify(e: reqwest::Error) -> HttpFail {
    if e.is_connect() {
        HttpFail::Connect(e.to_string())
    } else {
        HttpFail::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_true_loopback() {
        for ok in ["https://gov.example.cn", "https://gov.example.cn/api/", "http://127.0.0.1:8080", "http://[::1]:1"] {
            assert!(validate_base_url(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_base_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        for bad in [
            // The attacker's address: user info "127.0.0.1:80", host example.com.
            "http://127.0.0.1:80@example.com",
            "https://user:pw@gov.example.cn",
            "http://localhost:1",
            "http://127.0.0.1.evil.com",
            "http://gov.example.cn",
            "http://0x7f000001.evil.com",
            "https://gov.example.cn/?x=1",
            "https://gov.example.cn/#f",
            "ftp://127.0.0.1",
            "",
            "https://",
            "127.0.0.1:80",
        ] {
            assert!(
                matches!(validate_base_url(bad), Err(Error::Validation { ref field, .. }) if field == "base_url"),
                "{bad}"
            );
        }
        assert!(validate_base_url(&format!("https://a.cn/{}", "x".repeat(MAX_URL_BYTES))).is_err());
    }
}
