//! Setup of the "time to a first code" row: a store (no PIN, its data key wrapped by the file vault
//! standing in for the platform's) holding a wallet with one resident ID card, its trust and status
//! lists signed by the pinned platform root (tests/bench.sh's bench root, else the sandbox's test root). The timed part runs in
//! fresh processes through the FFI (tests/bench_first_code.py).

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use zhangban_core::store::{FileVault, KeyVault, Store};
use zhangban_core::wallet::{DeviceSigner, SoftwareKey, StatusList, Wallet};

use crate::wallet::{resident_id, trust_list};

pub fn prepare(dir: &Path, now: i64) -> Result<Value, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store = Arc::new(Store::create(&dir.join("store"), vault, None)?);
    let wallet = Wallet::open(store)?;
    // The root the library pins: tests/bench.sh's own bench root (a release build takes no sandbox anchors).
    let root = zhangban_sandbox::issuer::bench_root_key().map_err(|e| format!("{e:?}"))?;
    let issuer = SoftwareKey::generate()?;
    wallet.update_trust_list(&trust_list(&issuer, now).sign(|m| root.sign(m))?, now)?;
    wallet.update_status_list(&StatusList::new(1, now - 60, 16 * 1024).sign(|m| root.sign(m))?, now)?;
    let licence = resident_id(&issuer, wallet.device_public_key(), now);
    let summary = wallet.import(&licence.encode(), now)?;
    Ok(json!({"store": dir.join("store"), "vault": dir.join("vault.key"), "licence_id": summary.licence_id}))
}
