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
//!
//! Every async export wraps its body in [`exit_safe`], so that a foreign process can exit right after
//! an async call without being aborted (see the comment at `exit_safe`).

use std::sync::OnceLock;

use crate::error::{panic_text, ZhangbanError};

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

/// Runs `f` on tokio's blocking pool and awaits it. Call only from an async export. `f` may fail with any
/// error the FFI maps (the core's, a backup's, or `ZhangbanError` itself).
pub(crate) async fn blocking<T, E, F>(f: F) -> Result<T, ZhangbanError>
where
    T: Send + 'static,
    E: Into<ZhangbanError>,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || crate::error::guard_ffi(f)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(ZhangbanError::internal(panic_text(e.into_panic().as_ref()))),
        Err(e) => Err(ZhangbanError::internal(format!("background task stopped: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Exit safety of async exports (issue 16).
//
// A foreign language waits for an async export through a continuation callback that UniFFI invokes
// from whichever thread wakes the future: a tokio worker or blocking-pool thread of this library. In
// Python that callback runs `loop.call_soon_threadsafe`, whose write to the event loop's self-pipe
// releases the GIL; the main thread can then take the result, finish and start shutting the
// interpreter down while the library thread is still inside the callback. When that thread asks for
// the GIL back, the interpreter ends it with `pthread_exit`; the forced unwind runs up into Rust, where
// the `catch_unwind` of tokio's task harness catches it, and glibc aborts the whole process ("FATAL:
// exception not rethrown") — about one exit in three here, with any async export.
//
// The fix: every async export runs inside [`exit_safe`], which wakes UniFFI's waker itself and counts
// wakes in progress; when the export's future is ready, its last poll (on the foreign caller's thread)
// waits until every callback it caused has returned. So the caller cannot get the result, and so cannot
// exit, while one of our threads is still inside its interpreter. The wait is bounded (a callback that
// never returns cannot hang the caller for more than `EXIT_SAFE_WAIT`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Longest a ready export waits for its last continuation callback to return.
pub(crate) const EXIT_SAFE_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
struct WakeGate {
    /// The threads inside a wake (and so maybe inside a foreign callback) right now.
    busy: Mutex<Vec<std::thread::ThreadId>>,
    idle: Condvar,
}

impl WakeGate {
    /// Waits until no *other* thread is inside a wake: a foreign executor that polls again from within
    /// the callback (on the waking thread itself) must not wait for itself.
    fn wait_idle(&self, limit: Duration) {
        let me = std::thread::current().id();
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.idle.wait_timeout_while(busy, limit, |b| b.iter().any(|t| *t != me));
    }
}

struct GateWaker {
    gate: Arc<WakeGate>,
    outer: Waker,
}

impl Wake for GateWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let me = std::thread::current().id();
        self.gate.busy.lock().unwrap_or_else(|p| p.into_inner()).push(me);
        // Calls the foreign continuation callback when the caller is waiting for one.
        self.outer.wake_by_ref();
        let mut busy = self.gate.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = busy.iter().position(|t| *t == me) {
            busy.swap_remove(i);
        }
        if busy.is_empty() {
            self.gate.idle.notify_all();
        }
    }
}

/// Wraps an async export's body; see the comment above.
pub(crate) fn exit_safe<F: Future>(inner: F) -> ExitSafe<F> {
    ExitSafe { inner: Box::pin(inner), gate: Arc::default(), waker: None }
}

pub(crate) struct ExitSafe<F> {
    inner: Pin<Box<F>>,
    gate: Arc<WakeGate>,
    /// UniFFI's waker and ours around it, rebuilt when UniFFI passes another.
    waker: Option<(Waker, Waker)>,
}

impl<F: Future> Future for ExitSafe<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let ours = match &this.waker {
            Some((outer, ours)) if outer.will_wake(cx.waker()) => ours.clone(),
            _ => {
                let ours = Waker::from(Arc::new(GateWaker { gate: this.gate.clone(), outer: cx.waker().clone() }));
                this.waker = Some((cx.waker().clone(), ours.clone()));
                ours
            }
        };
        let r = this.inner.as_mut().poll(&mut Context::from_waker(&ours));
        if r.is_ready() {
            this.gate.wait_idle(EXIT_SAFE_WAIT);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhangban_core::Error as CoreError;

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

    #[test]
    fn a_ready_export_waits_for_the_continuation_it_caused_to_return() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // The "foreign continuation": slow to return, like a callback whose thread lost the GIL.
        struct SlowCallback {
            called: Arc<AtomicBool>,
            returned: Arc<AtomicBool>,
        }
        impl Wake for SlowCallback {
            fn wake(self: Arc<Self>) {
                self.called.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
                self.returned.store(true, Ordering::SeqCst);
            }
        }
        let called = Arc::new(AtomicBool::new(false));
        let returned = Arc::new(AtomicBool::new(false));
        let outer = Waker::from(Arc::new(SlowCallback { called: called.clone(), returned: returned.clone() }));
        let rt = runtime().unwrap();
        // The blocking task finishes only when told, after the first poll: that poll is then Pending for sure.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let mut fut = exit_safe(async move {
            blocking(move || {
                let _ = wait.recv();
                Ok::<_, CoreError>(7)
            })
            .await
        });
        let mut cx = Context::from_waker(&outer);
        let started = std::time::Instant::now();
        let _guard = rt.enter();
        // Polled like UniFFI's foreign side does: once, then again only when the callback has been called.
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        go.send(()).unwrap();
        while !called.load(Ordering::SeqCst) {
            assert!(started.elapsed() < Duration::from_secs(10), "never woken");
            std::thread::sleep(Duration::from_millis(2));
        }
        let Poll::Ready(out) = Pin::new(&mut fut).poll(&mut cx) else { panic!("woken but not ready") };
        assert_eq!(out, Ok(7));
        // Ready only once the wake that a library thread made has returned from the "callback".
        assert!(returned.load(Ordering::SeqCst), "ready while a library thread was still in the callback");
        assert!(started.elapsed() < EXIT_SAFE_WAIT + Duration::from_secs(1));
    }

    #[tokio::test]
    async fn blocking_returns_values_errors_and_caught_panics() {
        assert_eq!(blocking(|| Ok::<_, CoreError>(41 + 1)).await, Ok(42));
        assert_eq!(blocking(|| Err::<(), _>(CoreError::WrongKey)).await, Err(ZhangbanError::WrongKey));
        let r: Result<(), _> = blocking(|| -> Result<(), CoreError> { panic!("in the pool") }).await;
        assert!(matches!(r, Err(ZhangbanError::Internal { detail }) if detail.contains("in the pool")));
    }
}
