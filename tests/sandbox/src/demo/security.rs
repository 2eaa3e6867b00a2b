//! Journey demo chapter: security (安全：硬件设备密钥、本人确认与放回旧文件).
//!
//! A second phone, 李四's, whose device key lives in the phone's secure hardware (Android Keystore /
//! StrongBox, iOS Secure Enclave). Here that key is [`HardwareKey`]: a P-256 key held outside the store — the
//! core sees its public key and DER signatures only — offered once for the session as the shells offer it
//! (`Store::offer_device_signer`, ADR 0035). The platform registers that key, the resident ID card is issued
//! bound to it, and a service hall's verifier checks a code signed by it. The key wants the person (a key
//! behind `setUserAuthenticationRequired` / `.userPresence`): once the confirmation has lapsed, 亮证 is refused
//! with `NeedsUserAuthentication`; the screens' rule is the core's — ask once, in the core's words
//! (`user_authentication_prompt_title` and the error's own text), then the same call again. Last, someone with
//! file access copies the phone's files while the app is open; 李四 goes on (an application saved and queued)
//! and locks the app, which binds the record head to the vault (ADR 0036); the copy put back is refused at the
//! unlock (`RolledBack`, worded by the core), and the files as the person left them still open.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;
use zhangban_core::cases::{self, Submission};
use zhangban_core::store::{user_authentication_prompt_title, FileVault, KeyVault, Store, SELF_SUBJECT};
use zhangban_core::sync::{self, PlatformClient};
use zhangban_core::wallet::format::Presentation;
use zhangban_core::wallet::issue::text_elements;
use zhangban_core::wallet::{device, DeviceSigner, LicenceType, Policy, Preset, Wallet};
use zhangban_core::Error;

use super::{DemoResult, Journey};

/// 李四's PIN for the app (the demo's; a person chooses their own).
const PIN: &str = "135790";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The phone's hardware key as the shells hand it over (a ring P-256 key the store never holds, signing in
/// ASN.1 DER as Keystore and the Secure Enclave do). It wants the person: while their confirmation holds it
/// signs; once it lapsed it answers `NeedsUserAuthentication` (Keystore's `UserNotAuthenticatedException`,
/// the Secure Enclave's `errSecInteractionNotAllowed`) until the person confirms again.
pub struct HardwareKey {
    pair: EcdsaKeyPair,
    confirmed: AtomicBool,
    signed: AtomicUsize,
    refused: AtomicUsize,
}

impl HardwareKey {
    fn new() -> DemoResult<Arc<HardwareKey>> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|e| e.to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| e.to_string())?;
        // Made just after the person unlocked the phone: their confirmation holds.
        Ok(Arc::new(HardwareKey {
            pair,
            confirmed: AtomicBool::new(true),
            signed: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        }))
    }
    /// The person's confirmation lapsed (the validity time after their last fingerprint / screen lock passed).
    fn lapse(&self) {
        self.confirmed.store(false, Ordering::SeqCst);
    }
    /// The person confirmed it is them (BiometricPrompt / LocalAuthentication answered).
    fn confirm(&self) {
        self.confirmed.store(true, Ordering::SeqCst);
    }
    fn signed(&self) -> usize {
        self.signed.load(Ordering::SeqCst)
    }
    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl DeviceSigner for HardwareKey {
    fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }
    fn sign(&self, msg: &[u8]) -> zhangban_core::Result<Vec<u8>> {
        if !self.confirmed.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(Error::NeedsUserAuthentication);
        }
        let sig = self
            .pair
            .sign(&SystemRandom::new(), msg)
            .map_err(|_| Error::DeviceKeyUnavailable("the hardware key did not sign".into()))?;
        self.signed.fetch_add(1, Ordering::SeqCst);
        Ok(sig.as_ref().to_vec())
    }
}

/// A key's fingerprint as the report shows it: the first 8 bytes of SHA-256 over its SEC1 public key, in hex.
fn fingerprint(public_key: &[u8]) -> String {
    hex::encode(&ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..8])
}

/// The error's kind as the report records it (`NeedsUserAuthentication`, `RolledBack`, …).
fn kind(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_string()
}

/// Copies the files of the folder `from` to `to` (as whoever has file access does); returns (files, bytes).
fn copy_files(from: &Path, to: &Path) -> std::io::Result<(usize, u64)> {
    std::fs::create_dir_all(to)?;
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let (f, b) = copy_files(&entry.path(), &to.join(entry.file_name()))?;
            files += f;
            bytes += b;
        } else {
            bytes += std::fs::copy(entry.path(), to.join(entry.file_name()))?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

/// Puts the copy at `from` in place of the folder `to`.
fn put_back(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::remove_dir_all(to)?;
    copy_files(from, to).map(|_| ())
}

/// The record head's generation written in the store's files at `db` (ADR 0036; read from a closed copy).
fn head_generation(db: &Path) -> DemoResult<u64> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let v: Vec<u8> = c.query_row("SELECT value FROM meta WHERE key = 'record_head_generation'", [], |r| r.get(0))?;
    Ok(u64::from_be_bytes(<[u8; 8]>::try_from(v.as_slice()).map_err(|_| "generation is not 8 bytes")?))
}

pub async fn run(j: &mut Journey) -> DemoResult {
    j.chapter(
        "security",
        "安全：硬件设备密钥、本人确认与放回旧文件",
        "Security: the hardware device key, confirming it is you, old files put back",
    );
    let dir = j.home.join("lisi-phone");
    std::fs::create_dir_all(&dir)?;
    let vault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&dir.join("vault.key"))?);
    let store_dir = dir.join("store");
    let store = Arc::new(Store::create(&store_dir, vault.clone(), Some(PIN))?);
    let db = store.db_path();

    // The app starts: the shell offers its hardware key once for the session (Kotlin `Zhangban.open(deviceKey
    // = …)`, Swift `ZhangbanSession.open(signer:)`); registration is then called without one.
    let hw = HardwareKey::new()?;
    let hw_pub = hw.public_key();
    let fp = fingerprint(&hw_pub);
    store.offer_device_signer(hw.clone());
    let device_id = sync::register_device(
        &store,
        &j.platform_url,
        "android".into(),
        "zhangban-demo-strongbox".into(),
        env!("CARGO_PKG_VERSION").into(),
        None,
    )
    .await?;
    let registered: String = j
        .platform
        .with_db(|c| Ok(c.query_row("SELECT public_key FROM devices WHERE id = ?1", [&device_id], |r| r.get(0))?))?;
    let recorded = device::platform_public_key(&store)?;
    j.check(
        "security.hw.register",
        &format!(
            "另一位市民李四的新手机：设备密钥在安全芯片中（演示中由存储之外的 P-256 密钥代替，指纹 {fp}），本机数据库不含私钥；\
             平台登记的正是这把钥匙，注册挑战由它签名"
        ),
        &format!(
            "Another citizen, 李四, with a new phone: the device key is in the secure hardware (here a P-256 key held \
             outside the store stands in for it; fingerprint {fp}), no private key in the store; \
             the platform registered that key, and the key signed the registration challenge"
        ),
        registered == hex::encode(&hw_pub) && recorded.as_deref() == Some(hw_pub.as_slice()) && hw.signed() == 1,
        json!({
            "device_id": device_id,
            "fingerprint_is": "the first 8 bytes of SHA-256 over the SEC1 public key, hex",
            "hardware_key_fingerprint": fp,
            "hardware_public_key": hex::encode(&hw_pub),
            "platform_registered_key_fingerprint": hex::decode(&registered).map(|k| fingerprint(&k)).unwrap_or_default(),
            "store_records_platform_key": recorded.is_some(),
            "hardware_signatures": hw.signed(),
        }),
    );

    // The resident ID card: the wallet opens over the store as the FFI's does (no signer handed to it); the
    // proof of possession is the hardware key's.
    let wallet = Wallet::open(store.clone())?;
    j.client.refresh_wallet_lists(&wallet).await?;
    let resident = text_elements(&[
        ("name", "李四"),
        ("sex", "男"),
        ("ethnicity", "汉"),
        ("birth_date", "1985-03-12"),
        ("address", "北京市海淀区中关村大街27号"),
        ("id_number", "110108198503120011"),
        ("issuing_authority", "北京市公安局海淀分局"),
    ]);
    crate::issuer::enrol_device_of(&j.platform, &store, LicenceType::ResidentId, &resident)?;
    let before = hw.signed();
    let card = j.client.request_licence(&wallet, LicenceType::ResidentId, None).await?;
    j.check(
        "security.hw.issue",
        &format!("领取居民身份证电子证照 {}：签发时的持有证明由安全芯片中的密钥签名", card.licence_id),
        &format!(
            "Received the resident ID card {}: the proof of possession was signed by the hardware key",
            card.licence_id
        ),
        card.licence_type == LicenceType::ResidentId && hw.signed() == before + 1,
        json!({ "licence_id": card.licence_id, "hardware_signatures_for_issuance": hw.signed() - before }),
    );

    // Someone with file access copies the phone's files while the app is open.
    let copy = j.home.join("lisi-phone-copy");
    let (files, bytes) = copy_files(&store_dir, &copy)?;
    j.check(
        "security.files_copied",
        &format!("有人（能读写手机文件的攻击者）趁应用开着复制了李四手机上的数据文件（{files} 个文件，{bytes} 字节）"),
        &format!("Someone with access to the phone's files copied them while the app was open ({files} files, {bytes} bytes)"),
        files >= 1 && bytes > 0,
        json!({ "files": files, "bytes": bytes }),
    );

    // The service hall's verifier: its own store and lists.
    let vdir = j.home.join("service-hall-verifier");
    std::fs::create_dir_all(&vdir)?;
    let vvault: Arc<dyn KeyVault> = Arc::new(FileVault::open_or_create(&vdir.join("vault.key"))?);
    let hall = Wallet::open(Arc::new(Store::create(&vdir.join("store"), vvault, None)?))?;
    PlatformClient::new(&j.platform_url)?.refresh_wallet_lists(&hall).await?;
    let verifier = hall.verifier()?;

    // 亮证 after the person's confirmation lapsed: refused, nothing signed, nothing logged.
    hw.lapse();
    let presents = |w: &Wallet| -> zhangban_core::Result<usize> {
        Ok(w.usage(None)?.iter().filter(|u| u.action == "licence.present").count())
    };
    let logged = presents(&wallet)?;
    let (signed0, refused0) = (hw.signed(), hw.refused());
    let show = || wallet.present(&card.licence_id, &Preset::Full, None, now());
    let first = show();
    let title = user_authentication_prompt_title();
    let Err(e) = first else {
        j.check(
            "security.prompt.refused",
            "确认已过期，亮证却未被拒绝",
            "The confirmation had lapsed, yet 亮证 was not refused",
            false,
            json!({ "hardware_signatures": hw.signed() - signed0 }),
        );
        return Ok(());
    };
    let asked = matches!(e, Error::NeedsUserAuthentication);
    j.check(
        "security.prompt.refused",
        &format!(
            "过了一会儿，本人确认已过期：亮证被拒绝（{}），未签名、未记录；界面按核心的措辞询问一次：“{}”",
            kind(&e),
            title.zh
        ),
        &format!(
            "Later, the person's confirmation has lapsed: 亮证 refused ({}), nothing signed or logged; the screen asks \
             once, in the core's words: \"{}\"",
            kind(&e),
            title.en
        ),
        asked && hw.refused() == refused0 + 1 && hw.signed() == signed0 && presents(&wallet)? == logged,
        json!({
            "error_kind": kind(&e),
            "prompt_title_zh": title.zh,
            "prompt_title_en": title.en,
            "message_zh": e.message_zh(),
            "message_en": e.message_en(),
            "hardware_refusals": hw.refused() - refused0,
            "hardware_signatures": hw.signed() - signed0,
            "presentations_logged": presents(&wallet)? - logged,
        }),
    );
    // The prompt as the screens show it: the core's title, the error's own text below it.
    println!("\n      ┌ {} · {}\n      │ {}\n      └ {}\n", title.zh, title.en, e.message_zh(), e.message_en());
    if !asked {
        return Ok(());
    }

    // The person confirms; the same call once more.
    hw.confirm();
    let shown = show()?;
    j.check(
        "security.prompt.retry",
        "李四用指纹确认是本人后，再次执行同一亮证操作：亮证码由安全芯片中的密钥签名，用证记录记一次",
        "李四 confirmed with a fingerprint and the same call ran again: the code is signed by the hardware key, logged once",
        hw.signed() == signed0 + 1 && hw.refused() == refused0 + 1 && presents(&wallet)? == logged + 1,
        json!({
            "calls": 2,
            "hardware_signatures": hw.signed() - signed0,
            "hardware_refusals": hw.refused() - refused0,
            "presentations_logged": presents(&wallet)? - logged,
            "qr_text_chars": shown.qr_text.len(),
        }),
    );

    // The service hall verifies the code offline; the licence it carries names the hardware key.
    let bound = Presentation::from_text(&shown.qr_text)?.signed.body.device_key.sec1;
    let policy = Policy { accepted_purposes: vec![shown.purpose.clone()], ..Policy::default() };
    let verified = verifier.verify(&shown.qr_text, now(), &policy);
    let name =
        verified.as_ref().ok().and_then(|v| v.disclosed.iter().find(|d| d.key == "name")).map(|d| d.display.clone());
    j.check(
        "security.hw.bound",
        &format!(
            "政务大厅离线核验通过：{}；证照绑定的设备密钥指纹 {}，与安全芯片中的密钥相同",
            name.as_deref().unwrap_or("—"),
            fingerprint(&bound)
        ),
        &format!(
            "The service hall verified it offline ({}); the licence is bound to device key {}, the hardware key",
            name.as_deref().unwrap_or("—"),
            fingerprint(&bound)
        ),
        verified.is_ok() && name.as_deref() == Some("李四") && bound == hw_pub,
        json!({
            "verified": verified.as_ref().map(|v| json!(v)).unwrap_or_else(|e| json!({ "error": e.to_string() })),
            "licence_device_key_fingerprint": fingerprint(&bound),
            "hardware_key_fingerprint": fp,
        }),
    );

    // 李四 goes on: an application saved and queued to be sent; then the app locks (a bind).
    let case = cases::submit(
        &store,
        SELF_SUBJECT,
        &Submission {
            item_codes: vec!["SJ-002".into()],
            title: "个体工商户登记".into(),
            values: json!({ "name": "李四" }),
            ..Default::default()
        },
    )?;
    store.lock();
    drop((verifier, hall, wallet));
    drop(store); // the app closes
    let current = j.home.join("lisi-phone-current");
    copy_files(&store_dir, &current)?;
    let (g_copy, g_now) = (head_generation(&copy.join(db.file_name().ok_or("db name")?))?, head_generation(&db)?);
    j.check(
        "security.locked",
        &format!("之后李四提交了一件申请（{}，在本机排队待发送），然后锁定应用：本机数据的摘要（记录头）随之与系统密钥库绑定，代次 {g_copy} → {g_now}", case.id),
        &format!(
            "Then 李四 submitted an application ({}, queued on the phone) and locked the app: locking bound the record head (the \
             digest of the data) to the vault, generation {g_copy} → {g_now}",
            case.id
        ),
        g_now > g_copy,
        json!({ "case_id": case.id, "copy_head_generation": g_copy, "current_head_generation": g_now }),
    );

    // The copy put back.
    put_back(&copy, &store_dir)?;
    let reopened = Store::open(&store_dir, vault.clone())?;
    let r = reopened.unlock(Some(PIN));
    drop(reopened);
    let e = r.err();
    j.check(
        "security.rolled_back",
        &format!(
            "有人把复制的旧文件放回原处：输入正确的 PIN 也拒绝解锁（{}）：“{}”",
            e.as_ref().map(kind).unwrap_or_else(|| "已打开".into()),
            e.as_ref().map(Error::message_zh).unwrap_or_default()
        ),
        &format!(
            "Someone put the copied files back in place: refused even with the right PIN ({}): \"{}\"",
            e.as_ref().map(kind).unwrap_or_else(|| "opened".into()),
            e.as_ref().map(Error::message_en).unwrap_or_default()
        ),
        matches!(e, Some(Error::RolledBack)),
        json!({
            "error_kind": e.as_ref().map(kind),
            "message_zh": e.as_ref().map(Error::message_zh),
            "message_en": e.as_ref().map(Error::message_en),
        }),
    );

    // The files as the person left them open, and hold the application.
    put_back(&current, &store_dir)?;
    let back = Store::open(&store_dir, vault)?;
    back.unlock(Some(PIN))?;
    let held = cases::get(&back, &case.id).ok();
    j.check(
        "security.current_opens",
        "放回李四锁定时的文件：正确的 PIN 打开，申请仍在",
        "The files as 李四 left them put back: the right PIN opens them, the application is there",
        held.as_ref().is_some_and(|c| c.id == case.id),
        json!({ "case_id": held.as_ref().map(|c| c.id.clone()), "state": held.as_ref().map(|c| json!(c.state)) }),
    );
    Ok(())
}
