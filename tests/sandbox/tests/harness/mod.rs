//! The kill -9 harness the fault tests share (kill9.rs, kill9_door.rs): a seeded xorshift, and one run of
//! the sandbox's `fault-writer` child killed with SIGKILL, returning the lines it acknowledged.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// xorshift64*: the fault tests' seeded source of kill moments.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs `zhangban-sandbox fault-writer DIR ARGS…`; with `first`, waits (up to that long) for its first
/// acknowledgement; sleeps `then`; kills it with SIGKILL. Returns every complete line it wrote (only a
/// complete line counts as acknowledged). Panics when the writer exited by itself.
pub fn run_and_kill(dir: &Path, args: &[&str], first: Option<Duration>, then: Duration) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhangban-sandbox"))
        .arg("fault-writer")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
            if tx.send(line.trim_end().to_string()).is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut lines = Vec::new();
    if let Some(wait) = first {
        if let Ok(line) = rx.recv_timeout(wait) {
            lines.push(line);
        }
    }
    std::thread::sleep(then);
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    // Killed, or it failed: a writer that stopped on an error (a refused step, a panic) must not pass for a kill.
    if std::os::unix::process::ExitStatusExt::signal(&status) != Some(9) {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        panic!("writer exited by itself ({status}): {err}");
    }
    lines
}
