//! Agent mode's calls to the platform that are not part of a sync run: registering this phone as an
//! agent's (the platform signs an agent certificate for its device key; docs/platform-api.md § Agents).
//! Revocations and the revocation list travel with every sync run ([`super::runner`]).

use serde::Deserialize;
use serde_json::json;
use zhangban_agent::{Agent, AgentCertificate};

use super::client::PlatformClient;
use crate::{Error, Result};

#[derive(Deserialize)]
struct Registered {
    certificate: String,
}

/// Registers this (already registered) device as an agent of the organisation `org_code` and installs
/// the certificate the platform signs, after checking it ([`Agent::install_certificate`]).
pub async fn register_agent(
    client: &PlatformClient,
    agent: &Agent,
    name: &str,
    org_code: &str,
) -> Result<AgentCertificate> {
    let reg = super::registration(agent.store())?.ok_or_else(|| {
        Error::validation("device", "请先完成设备注册", "register this device with the platform first")
    })?;
    let r: Registered =
        client.post_json("/v1/agents", &json!({ "name": name, "org_code": org_code }), Some(&reg.token), None).await?;
    let signed = hex::decode(r.certificate).map_err(|_| Error::Network("bad agent certificate encoding".into()))?;
    agent.install_certificate(&signed)
}
