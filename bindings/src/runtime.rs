//! Async support shared by the bindings files.
//!
//! Exported `async fn`s sit in `#[uniffi::export(async_runtime = "tokio")]` impl blocks: UniFFI then
//! polls them inside a tokio context (the caller's, or a process-wide runtime it starts once), so
//! timers, reqwest and `spawn_blocking` work. Slow synchronous core work (SQLite scans, PBKDF2) goes
//! through [`blocking`], which keeps it off the async worker threads and turns a panic into
//! `ZhangbanError::Internal`.

use zhangban_core::Error as CoreError;

use crate::error::{guard, panic_text, ZhangbanError};

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

    #[tokio::test]
    async fn blocking_returns_values_errors_and_caught_panics() {
        assert_eq!(blocking(|| Ok(41 + 1)).await, Ok(42));
        assert_eq!(blocking(|| Err::<(), _>(CoreError::WrongKey)).await, Err(ZhangbanError::WrongKey));
        let r: Result<(), _> = blocking(|| panic!("in the pool")).await;
        assert!(matches!(r, Err(ZhangbanError::Internal { detail }) if detail.contains("in the pool")));
    }
}
