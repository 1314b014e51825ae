//! Password verification off everyone else's path: Argon2 is deliberately expensive, so
//! it runs on a few threads of its own at the lowest scheduling priority (`SCHED_IDLE`). A
//! burst of password attempts — a crowd or an attack — then waits for spare CPU time
//! and slows other password sign-ins, never forward-auth or the directory's pool.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Attempts waiting for a thread at most; more are refused as busy (503), not queued
/// without bound.
const QUEUE: usize = 256;

pub(crate) struct Hashing {
    jobs: mpsc::SyncSender<Job>,
}

impl Hashing {
    /// Starts `threads` low-priority workers; they end when the last `Hashing` goes.
    pub(crate) fn start(threads: u16) -> std::io::Result<Hashing> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("ssogate-passwords-{i}"))
                .spawn(move || {
                    lowest_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hashing { jobs })
    }

    /// Runs `f` on a password thread; `Err` when the queue is full or the pool is gone.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.try_send(job).map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}

/// `SCHED_IDLE` where there is one (Linux): the thread runs only on a core nothing else
/// wants, and gives it up the moment anything else wakes; else the lowest niceness.
fn lowest_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let idle = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if idle.is_err()
        && let Err(e) = thread_priority::set_current_thread_priority(ThreadPriority::Min)
    {
        tracing::warn!(error = ?e, "password checks run at normal priority");
    }
}

/// Too many password checks are waiting (or the pool stopped): try again shortly.
#[derive(Debug)]
pub(crate) struct Busy;

#[cfg(test)]
mod tests {
    use super::*;

    /// The workers give way to everything else: on Linux they run under `SCHED_IDLE`.
    #[tokio::test]
    async fn password_threads_run_at_the_lowest_priority() {
        let pool = Hashing::start(1).unwrap_or_else(|e| panic!("{e}"));
        let policy = pool
            .run(|| {
                std::fs::read_to_string("/proc/thread-self/stat")
                    .ok()
                    .and_then(|s| {
                        // Field 41 (policy), counted after the ")" that ends the name.
                        let rest = s.rsplit_once(')')?.1;
                        rest.split_whitespace().nth(38)?.parse::<i32>().ok()
                    })
            })
            .await
            .unwrap_or_else(|_| panic!("the pool refused a job"));
        if cfg!(target_os = "linux") {
            assert_eq!(policy, Some(5), "SCHED_IDLE");
        }
        assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
    }
}
