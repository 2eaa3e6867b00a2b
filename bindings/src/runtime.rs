//! Async support shared by the bindings files.
//!
//! Exported `async fn`s sit in `#[uniffi::export(async_runtime = "tokio")]` impl blocks: UniFFI then
//! polls them inside a tokio context (the caller's, or a process-wide runtime it starts once), so
//! timers, reqwest and `spawn_blocking` work. Slow synchronous core work (SQLite scans, PBKDF2) goes
//! through [`blocking`], which keeps it off the async worker threads and turns a panic into
//! `ZhangbanError::Internal`.
//!
//! A *synchronous* export that starts background work (e.g. a sync loop that outlives the call) has no
//! tokio context: it spawns on [`runtime`], the process-wide runtime of the library (two worker threads,
//! started on first use, never shut down while the process lives).

use std::sync::OnceLock;

use zhangban_core::Error as CoreError;

use crate::error::{guard, panic_text, ZhangbanError};

/// The library's own tokio runtime, for background work started from synchronous exports.
#[allow(dead_code)] // for the feature bindings files (sync loop, listeners)
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, ZhangbanError> {
    // Built inside `get_or_init`, so a lost race never drops a second runtime (which would panic when
    // done from an async context).
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zhangban-rt")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ZhangbanError::internal(format!("cannot start the async runtime: {e}")))
}

/// Runs `f` on tokio's blocking pool and awaits it. Call only from an async export.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ZhangbanError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || guard(f)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(ZhangbanError::internal(panic_text(e.into_panic().as_ref()))),
        Err(e) => Err(ZhangbanError::internal(format!("background task stopped: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_runtime_runs_background_tasks_and_is_one() {
        let rt = runtime().unwrap();
        assert!(std::ptr::eq(rt, runtime().unwrap()));
        let task = rt.spawn(async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            7
        });
        assert_eq!(rt.block_on(task).unwrap(), 7);
    }

    #[tokio::test]
    async fn blocking_returns_values_errors_and_caught_panics() {
        assert_eq!(blocking(|| Ok(41 + 1)).await, Ok(42));
        assert_eq!(blocking(|| Err::<(), _>(CoreError::WrongKey)).await, Err(ZhangbanError::WrongKey));
        let r: Result<(), _> = blocking(|| panic!("in the pool")).await;
        assert!(matches!(r, Err(ZhangbanError::Internal { detail }) if detail.contains("in the pool")));
    }
}
