//! Starting threads without panicking. `tokio::task::spawn_blocking` and
//! `std::thread::spawn` panic when the system cannot start one more thread (a low
//! `RLIMIT_NPROC`, a full pids cgroup, no memory); these functions return that as an
//! error instead, so strap can say what went wrong and exit with its usual status.
//! This module never decides what to run: it only starts the thread.

use std::io;

/// Run `work` on a new named thread and wait for it without blocking the async runtime.
/// An error when the thread cannot be started, or when it stopped before it finished
/// (a panic, which product code does not have).
pub async fn blocking<T, F>(name: &str, work: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // The receiver is gone only when the caller stopped waiting.
            let _ = tx.send(work());
        })
        .map_err(|e| started(name, e))?;
    rx.await
        .map_err(|_| io::Error::other(format!("the {name} thread stopped before it finished")))
}

/// Run `work` on a new thread of `scope`: an error when it cannot be started.
pub fn scoped<'scope, T, F>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    work: F,
) -> io::Result<std::thread::ScopedJoinHandle<'scope, T>>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, work)
        .map_err(|e| started(name, e))
}

fn started(name: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot start the {name} thread (the process or thread limit, or memory): {e}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_the_work_and_returns_its_value() {
        assert_eq!(blocking("test", || 6 * 7).await.unwrap(), 42);
        let n = std::thread::scope(|s| scoped(s, "test", || 5).unwrap().join().unwrap());
        assert_eq!(n, 5);
    }
}
