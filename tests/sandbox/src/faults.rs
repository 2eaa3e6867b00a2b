//! Sandbox platform: fault injection for tests and benchmarks, applied to the device API (`/v1/...`),
//! never to `/admin/...`. Switched at run time (`POST /admin/faults`, [`Faults::set`]) or at start
//! (`serve --faults 0.3`). Each request draws once:
//!
//! * `reset_rate`: the request is not handled; the response is cut off after its headers (the client
//!   sees the connection close mid-response).
//! * `error_rate`: `503` without handling.
//! * `timeout_rate`: the server waits `timeout_ms` before answering `504` (clients time out first).
//! * `drop_rate`: the request IS handled and committed, then the response is cut off — the case the
//!   idempotency key exists for.
//! * `latency_ms`: added to every request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::server::{ApiError, SharedState};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    pub error_rate: f64,
    pub timeout_rate: f64,
    pub drop_rate: f64,
    pub reset_rate: f64,
    pub latency_ms: u64,
    pub timeout_ms: u64,
}

impl FaultConfig {
    /// `total` spread as 5xx 35 %, dropped-after-commit 30 %, reset 20 %, timeout 15 %; timeouts wait
    /// `timeout_ms`.
    pub fn mixed(total: f64, timeout_ms: u64) -> FaultConfig {
        let t = total.clamp(0.0, 1.0);
        FaultConfig {
            error_rate: t * 0.35,
            drop_rate: t * 0.30,
            reset_rate: t * 0.20,
            timeout_rate: t * 0.15,
            latency_ms: 0,
            timeout_ms,
        }
    }
    pub fn total(&self) -> f64 {
        self.error_rate + self.timeout_rate + self.drop_rate + self.reset_rate
    }
}

/// The fault switch and what it did.
#[derive(Debug, Default)]
pub struct Faults {
    cfg: Mutex<FaultConfig>,
    pub requests: AtomicU64,
    pub injected: AtomicU64,
    /// Of the injected faults, the timeouts (held for `timeout_ms`; the benchmark reports the time
    /// they cost the client).
    pub timeouts: AtomicU64,
}

impl Faults {
    pub fn set(&self, cfg: FaultConfig) {
        if let Ok(mut g) = self.cfg.lock() {
            *g = cfg;
        }
    }
    pub fn get(&self) -> FaultConfig {
        self.cfg.lock().map(|g| *g).unwrap_or_default()
    }
}

fn draw() -> f64 {
    let mut b = [0u8; 4];
    if SystemRandom::new().fill(&mut b).is_err() {
        return 1.0;
    }
    u32::from_le_bytes(b) as f64 / (u32::MAX as f64 + 1.0)
}

/// A response whose body fails right after the headers: hyper closes the connection mid-response.
fn cut_off() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault injection"))
    });
    (StatusCode::OK, Body::from_stream(stream)).into_response()
}

/// The middleware (installed in `server::router`).
pub async fn middleware(State(st): State<SharedState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let cfg = st.faults.get();
    st.faults.requests.fetch_add(1, Ordering::Relaxed);
    if cfg.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.latency_ms.min(60_000))).await;
    }
    let r = draw();
    let mut edge = cfg.reset_rate;
    if r < edge {
        st.faults.injected.fetch_add(1, Ordering::Relaxed);
        return cut_off();
    }
    edge += cfg.error_rate;
    if r < edge {
        st.faults.injected.fetch_add(1, Ordering::Relaxed);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "injected fault: try again",
            "平台繁忙，请稍后重试",
        )
        .into_response();
    }
    edge += cfg.timeout_rate;
    if r < edge {
        st.faults.injected.fetch_add(1, Ordering::Relaxed);
        st.faults.timeouts.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(cfg.timeout_ms.clamp(1, 120_000))).await;
        return ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", "injected timeout", "平台超时").into_response();
    }
    edge += cfg.drop_rate;
    let resp = next.run(req).await;
    if r < edge {
        st.faults.injected.fetch_add(1, Ordering::Relaxed);
        return cut_off();
    }
    resp
}

async fn get_faults(State(st): State<SharedState>) -> Json<serde_json::Value> {
    Json(json!({
        "config": st.faults.get(),
        "requests": st.faults.requests.load(Ordering::Relaxed),
        "injected": st.faults.injected.load(Ordering::Relaxed),
    }))
}

async fn set_faults(
    State(st): State<SharedState>,
    body: Result<Json<FaultConfig>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(cfg) = body.map_err(|e| ApiError::invalid("body", &e.body_text(), "故障配置格式不正确"))?;
    let rates = [cfg.error_rate, cfg.timeout_rate, cfg.drop_rate, cfg.reset_rate];
    if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || cfg.total() > 1.0 {
        return Err(ApiError::invalid(
            "rates",
            "each 0..1, summing to at most 1",
            "各比率须在 0 到 1 之间，总和不超过 1",
        ));
    }
    st.faults.set(cfg);
    Ok(Json(json!({ "config": cfg })))
}

pub fn routes() -> Router<SharedState> {
    Router::new().route("/admin/faults", get(get_faults).post(set_faults))
}
