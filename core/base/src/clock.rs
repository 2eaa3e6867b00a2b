//! The one clock of the core. Every feature reads time through the [`Clock`] its store holds
//! (`Store::now`, `Store::today`, `Txn::now`), so tests and the demo can fix or step it and nothing in the
//! core or the bindings reads the system time on its own.
//!
//! Day arithmetic (working days, due dates, "today") is done in the time zone of the platform, China
//! Standard Time (Asia/Shanghai, UTC+8 all year: no daylight saving since 1991). That is said here once:
//! [`local_date`] and [`Clock::today`] are the only places that turn an instant into a date.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Offset of Asia/Shanghai from UTC, in seconds (UTC+8, no daylight saving).
pub const SHANGHAI_OFFSET_SECS: i32 = 8 * 3600;

/// The date in Asia/Shanghai at a Unix time (seconds).
pub fn local_date(unix_secs: i64) -> NaiveDate {
    let utc = DateTime::<Utc>::from_timestamp(unix_secs, 0).unwrap_or_default();
    match FixedOffset::east_opt(SHANGHAI_OFFSET_SECS) {
        Some(tz) => utc.with_timezone(&tz).date_naive(),
        None => utc.date_naive(),
    }
}

/// Where the core gets the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> i64;
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_micros().div_euclid(1_000_000)
    }
    /// Today's date in Asia/Shanghai.
    fn today(&self) -> NaiveDate {
        local_date(self.now_secs())
    }
    /// Seconds since the device booted, counting sleep: a clock the person cannot set, for measuring how
    /// long a wait really lasted (the PIN lockout). `None` where the platform has none; then the wall
    /// clock is used, bounded so that setting it back never lengthens a wait.
    fn since_boot_secs(&self) -> Option<u64> {
        None
    }
}

/// The device's wall clock (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        Utc::now().timestamp_micros()
    }
    fn since_boot_secs(&self) -> Option<u64> {
        boot_clock()
    }
}

/// `CLOCK_BOOTTIME` on Linux and Android (counts suspend); `CLOCK_MONOTONIC` on Apple platforms, where it
/// keeps counting while the device sleeps (`mach_continuous_time`). Neither can be set by the user.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
#[allow(unsafe_code)] // the crate's one exception (lib.rs)
fn boot_clock() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const ID: libc::clockid_t = libc::CLOCK_BOOTTIME;
    #[cfg(target_vendor = "apple")]
    const ID: libc::clockid_t = libc::CLOCK_MONOTONIC;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(ID, &mut ts) };
    (rc == 0).then(|| u64::try_from(ts.tv_sec).ok()).flatten()
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn boot_clock() -> Option<u64> {
    None
}

/// A clock that stands still until told to move: tests, time-travel checks and the demo.
///
/// It has a boot clock too: [`FixedClock::advance`] is time passing (both move), [`FixedClock::set`] is
/// the person setting the wall clock (the boot clock does not move), [`FixedClock::reboot`] restarts it.
#[derive(Debug)]
pub struct FixedClock {
    micros: AtomicI64,
    boot_secs: AtomicI64,
}

impl FixedClock {
    /// A clock standing at `unix_secs`, the device up for an hour.
    pub fn at(unix_secs: i64) -> FixedClock {
        FixedClock { micros: AtomicI64::new(unix_secs.saturating_mul(1_000_000)), boot_secs: AtomicI64::new(3600) }
    }
    /// Sets the wall clock (seconds since the epoch), as a person can; the boot clock does not move.
    pub fn set(&self, unix_secs: i64) {
        self.micros.store(unix_secs.saturating_mul(1_000_000), Ordering::SeqCst);
    }
    /// Time passes: moves the wall clock by `secs` (negative: backwards) and, for a forward move, the boot
    /// clock with it.
    pub fn advance(&self, secs: i64) {
        self.micros.fetch_add(secs.saturating_mul(1_000_000), Ordering::SeqCst);
        if secs > 0 {
            self.boot_secs.fetch_add(secs, Ordering::SeqCst);
        }
    }
    /// The device restarts: the boot clock starts again from zero.
    pub fn reboot(&self) {
        self.boot_secs.store(0, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_micros(&self) -> i64 {
        // Each read moves a microsecond on, so ids made from the time stay distinct and ordered.
        self.micros.fetch_add(1, Ordering::SeqCst)
    }
    fn now_secs(&self) -> i64 {
        self.micros.load(Ordering::SeqCst).div_euclid(1_000_000)
    }
    fn since_boot_secs(&self) -> Option<u64> {
        u64::try_from(self.boot_secs.load(Ordering::SeqCst)).ok()
    }
}

/// A [`FixedClock`] a shell's tests and demo step (through the FFI's test clock), standing at `unix_secs`.
/// Only in a build that pins the sandbox's published test anchors (`anchors::SANDBOX`: debug, test and demo
/// builds): a production build refuses, so no shell can set the time the core checks against (ADR 0019).
pub fn test_clock(unix_secs: i64) -> crate::Result<std::sync::Arc<FixedClock>> {
    test_clock_in(crate::anchors::SANDBOX, unix_secs)
}

fn test_clock_in(sandbox_build: bool, unix_secs: i64) -> crate::Result<std::sync::Arc<FixedClock>> {
    if !sandbox_build {
        return Err(crate::Error::validation(
            "clock",
            "正式版不能设定时间：时间只取本机时钟。",
            "a production build cannot set the time: it reads only the device clock",
        ));
    }
    Ok(std::sync::Arc::new(FixedClock::at(unix_secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_date_turns_at_16_utc() {
        // 2024-02-09 15:59:59 UTC is 23:59:59 in Beijing; one second later it is 2024-02-10 there.
        let t = NaiveDate::from_ymd_opt(2024, 2, 9).unwrap().and_hms_opt(15, 59, 59).unwrap().and_utc().timestamp();
        assert_eq!(local_date(t), NaiveDate::from_ymd_opt(2024, 2, 9).unwrap());
        assert_eq!(local_date(t + 1), NaiveDate::from_ymd_opt(2024, 2, 10).unwrap());
    }

    #[test]
    fn fixed_clock_steps() {
        let c = FixedClock::at(1_700_000_000);
        assert_eq!(c.now_secs(), 1_700_000_000);
        c.advance(86_400);
        assert_eq!(c.now_secs(), 1_700_086_400);
        c.set(0);
        assert_eq!(c.today(), NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        let a = c.now_micros();
        assert!(c.now_micros() > a);
        let boot = c.since_boot_secs().unwrap();
        c.set(2_000_000_000);
        assert_eq!(c.since_boot_secs(), Some(boot), "setting the wall clock does not move the boot clock");
        c.advance(30);
        assert_eq!(c.since_boot_secs(), Some(boot + 30));
        c.reboot();
        assert_eq!(c.since_boot_secs(), Some(0));
    }

    #[test]
    fn the_system_boot_clock_runs() {
        let a = SystemClock.since_boot_secs();
        if cfg!(any(target_os = "linux", target_os = "android", target_vendor = "apple")) {
            assert!(a.is_some_and(|s| s > 0), "{a:?}");
        }
    }

    #[test]
    fn only_a_sandbox_build_lets_a_shell_set_the_time() {
        let e = test_clock_in(false, 1_700_000_000).unwrap_err();
        assert!(matches!(&e, crate::Error::Validation { field, .. } if field == "clock"), "{e:?}");
        let c = test_clock_in(true, 1_700_000_000).unwrap();
        assert_eq!(c.now_secs(), 1_700_000_000);
        assert_eq!(test_clock(5).is_ok(), crate::anchors::SANDBOX);
    }
}
