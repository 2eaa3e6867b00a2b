//! The journey demo, end to end, through the real binary (debug build): exit code, story, JSON report.

use std::process::Command;

#[test]
fn demo_runs_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet, as with the README command's `--report out/journey.json`.
    let report = dir.path().join("out").join("journey.json");
    let out = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox"))
        .args(["demo", "--report"])
        .arg(&report)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("张三") && stdout.contains("Chapter 1"), "{stdout}");

    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["ok"], true);
    let chapters = r["chapters"].as_array().unwrap();
    assert_eq!(chapters[0]["name"], "foundation");
    let steps: Vec<&serde_json::Value> = chapters.iter().flat_map(|c| c["steps"].as_array().unwrap()).collect();
    assert!(steps.iter().all(|s| s["ok"] == true));
    let step = |name: &str| *steps.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}"));
    for name in ["platform.health", "device.register", "catalog.fetch", "catalog.up_to_date", "profile.save"] {
        step(name);
    }
    // Chapter "backup": a lost phone restored, its queue sent once; a counter case followed by receipt.
    for name in [
        "backup.write",
        "backup.increment",
        "backup.typo",
        "backup.restore",
        "backup.rebind",
        "backup.sent_once",
        "counter.follow",
    ] {
        step(name);
    }
    let enc = step("store.encrypted");
    for (field, hits) in enc["data"]["plaintext_hits"].as_object().unwrap() {
        assert_eq!(hits, 0, "plaintext {field} found on disk");
    }
    assert!(enc["data"]["control_plaintext_collection_name_hits"].as_u64().unwrap() > 0);
    assert!(step("catalog.fetch")["data"]["items"].as_u64().unwrap() > 0);
    assert_eq!(step("audit.verify")["data"]["intact"], true);
    // The reminders chapter: the plan line, a 容缺 reminder, 催办, the renewal draft.
    assert!(stdout.contains("reminders planned: ") && stdout.contains("(≤ 60), next wake-up "), "{stdout}");
    for name in ["remind.plan", "remind.deferred", "remind.overdue", "remind.urged", "remind.licence_renewal"] {
        step(name);
    }
    assert!(step("remind.plan")["data"]["pending"].as_u64().unwrap() <= 60);
    // Chapter 5, 帮办代办: two principals served offline, both receipts, the revocation honoured.
    assert!(
        stdout.contains("agent served 2 principals offline: 2 submissions, 2 receipts, 1 revocation honoured"),
        "{stdout}"
    );
    let summary = &step("agent.summary")["data"];
    assert_eq!(summary["receipts"], 2);
    assert_eq!(summary["revocations_honoured"], 1);
    // Issue 11: her phone lists the agent's accesses, the attempt refused after she revoked among them.
    assert!(summary["accesses_seen"].as_u64().unwrap() >= 3, "{summary}");
    assert_eq!(summary["refused_after_revoking"], 1);
    // Her page tells her submission once, as its receipt, and repeated accesses as one line with a count.
    let page = &step("agent.principal_page")["data"];
    assert_eq!(page["submission"].as_array().map(Vec::len), Some(1), "{page}");
    assert!(page["lines"].as_u64() < page["entries"].as_u64(), "{page}");

    // Chapter "security" (ADR 0035, 0036): the hardware key registered, issued to and bound; the prompt asked
    // once in the core's words, then the same call; the files put back refused with the core's text.
    let security = chapters.iter().find(|c| c["name"] == "security").expect("a security chapter");
    let names: Vec<&str> = security["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "security.hw.register",
            "security.hw.issue",
            "security.files_copied",
            "security.prompt.refused",
            "security.prompt.retry",
            "security.hw.bound",
            "security.locked",
            "security.rolled_back",
            "security.current_opens",
        ]
    );
    let register = &step("security.hw.register")["data"];
    let fp = register["hardware_key_fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert_eq!(register["platform_registered_key_fingerprint"], fp, "the platform registered the hardware key");
    assert_eq!(register["store_records_platform_key"], true);
    assert_eq!(register["hardware_signatures"], 1, "the registration challenge was the hardware key's to sign");
    assert_eq!(step("security.hw.issue")["data"]["hardware_signatures_for_issuance"], 1);
    let bound = &step("security.hw.bound")["data"];
    assert_eq!(bound["licence_device_key_fingerprint"], fp, "the licence names the hardware key");
    assert_eq!(bound["verified"]["licence_type"], "resident_id", "{bound}");
    let asked = &step("security.prompt.refused")["data"];
    let needs = zhangban_core::Error::NeedsUserAuthentication;
    let title = zhangban_core::store::user_authentication_prompt_title();
    assert_eq!(asked["error_kind"], "NeedsUserAuthentication");
    assert_eq!(asked["message_zh"], needs.message_zh());
    assert_eq!(asked["message_en"], needs.message_en());
    assert_eq!(asked["prompt_title_zh"], title.zh.as_str());
    assert_eq!(asked["prompt_title_en"], title.en.as_str());
    assert_eq!((asked["hardware_signatures"].as_u64(), asked["presentations_logged"].as_u64()), (Some(0), Some(0)));
    assert!(stdout.contains(&format!("┌ {} · {}", title.zh, title.en)), "the prompt is shown: {stdout}");
    let retry = &step("security.prompt.retry")["data"];
    assert_eq!((retry["calls"].as_u64(), retry["hardware_signatures"].as_u64()), (Some(2), Some(1)));
    let locked = &step("security.locked")["data"];
    assert!(locked["current_head_generation"].as_u64() > locked["copy_head_generation"].as_u64(), "{locked}");
    let refused = &step("security.rolled_back")["data"];
    assert_eq!(refused["error_kind"], "RolledBack");
    assert_eq!(refused["message_zh"], zhangban_core::Error::RolledBack.message_zh());
    assert_eq!(refused["message_en"], zhangban_core::Error::RolledBack.message_en());
    assert_eq!(step("security.current_opens")["data"]["case_id"], locked["case_id"]);
}

#[test]
fn unknown_arguments_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox")).args(["demo", "--bogus"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    let out = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox")).args(["frobnicate"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn serve_prints_its_url_and_answers() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox"))
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("p.db"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // The reader (the pipe) stays open until the server is killed: a closed pipe would fail its next print.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line}")).to_string();
    let mut sock = std::net::TcpStream::connect(&url).unwrap();
    write!(sock, "GET /v1/health HTTP/1.1\r\nhost: {url}\r\nconnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    sock.read_to_string(&mut resp).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(out);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");
}
