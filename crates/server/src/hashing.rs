//! Password verification off everyone else's path: Argon2 is deliberately expensive, so
//! it runs on a few threads of its own at the lowest scheduling priority (`SCHED_IDLE`),
//! and where the kernel tells how busy the machine is (Linux's pressure stall
//! information, of ssogate's cgroup where it has one), a check starts only once no task
//! has been kept waiting for a CPU — or after waiting [`PATIENCE_EACH`] for every check
//! in line, counted at each look (at most [`PATIENCE_MOST`]), so password sign-ins go on
//! under a lasting load:
//! a lone sign-in waits a second at most, a flood of attempts one check per thread per
//! thirty seconds. A burst of password attempts — a crowd or an attack — then slows other
//! password sign-ins, not forward-auth or the directory's pool.
//!
//! Why both: a `SCHED_IDLE` thread yields when anything else wakes on its core, but a
//! hash it runs still takes CPU time from a saturated machine in slices long enough to
//! show in the request path's tail (measured: 20 guessers moved forward-auth's p99
//! 2.0–3.6× under the bench's load, a `SCHED_IDLE` busy loop alone 2×). Running a check
//! that has waited long enough at normal priority instead, to have it over sooner, did
//! not help (2.3–2.8× against 2.5× with a check a second): on a saturated machine any
//! Argon2 shows, so what bounds the harm is how rarely a flood gets one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Attempts waiting for a thread at most; more are refused as busy (429), not queued
/// without bound.
const QUEUE: usize = 256;
/// How long a check waits for the machine to have a CPU to spare before it runs anyway:
/// this for each check in line (itself included, counted again at each look), at most
/// [`PATIENCE_MOST`].
const PATIENCE_EACH: Duration = Duration::from_secs(1);
/// On a saturated machine an Argon2 check slows the answers around it (it runs stretched
/// out in what other threads leave; a check a second moved forward-auth's p99 2–4.6×).
/// At one per 10 s a check falling at the end of a 10 s measurement moved its p99 2.2×
/// and 21× in two runs of eight; at one per 30 s, 1.07–1.44×, and 1.33× over 40 s with a
/// check inside.
const PATIENCE_MOST: Duration = Duration::from_secs(30);
/// A check's first look at the machine covers this long (added to every password
/// check); the looks after it, once the machine was found busy, [`LOOK_AGAIN`]. Long
/// enough that a moment's lull in a lasting load is not taken for a quiet machine.
const LOOK: Duration = Duration::from_millis(20);
const LOOK_AGAIN: Duration = Duration::from_millis(100);
/// Busy: during a look, some task waited for a CPU more than this share of the time.
const BUSY_SHARE: f64 = 0.25;

/// A check waiting for a thread: its work, and whether anyone still waits for it.
trait Work: Send {
    /// The request that asked is still there (not timed out, not disconnected).
    fn wanted(&self) -> bool;
    fn run(self: Box<Self>);
}

struct Task<F, T> {
    f: F,
    answer: tokio::sync::oneshot::Sender<T>,
}

impl<F: FnOnce() -> T + Send, T: Send> Work for Task<F, T> {
    fn wanted(&self) -> bool {
        !self.answer.is_closed()
    }

    fn run(self: Box<Self>) {
        let Task { f, answer } = *self;
        let _ = answer.send(f());
    }
}

/// How busy the machine is, as the kernel tells it.
pub(crate) trait Pressure: Send + Sync + 'static {
    /// Microseconds (from any fixed start) during which some task waited for a CPU;
    /// `None` where the kernel does not tell.
    fn stalled_micros(&self) -> Option<u64>;
}

/// Linux's pressure stall information for CPUs (Linux ≥ 4.20): of ssogate's own cgroup
/// (cgroup v2: a service's or a container's tasks, not a neighbour's), else of the whole
/// machine.
struct Psi(std::path::PathBuf);

impl Psi {
    fn find() -> Psi {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|c| {
                let path = c.lines().find_map(|l| l.strip_prefix("0::"))?;
                Some(
                    std::path::Path::new("/sys/fs/cgroup")
                        .join(path.trim_start_matches('/'))
                        .join("cpu.pressure"),
                )
            })
            .filter(|p| some_total(&std::fs::read_to_string(p).unwrap_or_default()).is_some());
        Psi(own.unwrap_or_else(|| "/proc/pressure/cpu".into()))
    }
}

impl Pressure for Psi {
    fn stalled_micros(&self) -> Option<u64> {
        some_total(&std::fs::read_to_string(&self.0).ok()?)
    }
}

/// The `some … total=` field of a pressure file.
fn some_total(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// What the password threads did, for `/metrics`.
#[derive(Default)]
pub(crate) struct Counts {
    /// Checks that waited for a CPU to spare, then ran.
    pub waited: AtomicU64,
    /// Checks that ran after their patience on a machine that stayed busy.
    pub ran_busy: AtomicU64,
    /// Checks dropped unrun: the request that asked was gone.
    pub abandoned: AtomicU64,
}

pub(crate) struct Hashing {
    jobs: mpsc::SyncSender<Box<dyn Work>>,
    /// Checks sent and not yet taken by a thread.
    lined: Arc<AtomicU64>,
    pub counts: Arc<Counts>,
}

impl Hashing {
    /// Starts `threads` low-priority workers; they end when the last `Hashing` goes.
    pub(crate) fn start(threads: u16) -> std::io::Result<Hashing> {
        Self::start_with(threads, Arc::new(Psi::find()), PATIENCE_EACH)
    }

    fn start_with(
        threads: u16,
        pressure: Arc<dyn Pressure>,
        patience_each: Duration,
    ) -> std::io::Result<Hashing> {
        let (jobs, queue) = mpsc::sync_channel::<Box<dyn Work>>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let counts = Arc::new(Counts::default());
        let lined = Arc::new(AtomicU64::new(0));
        if pressure.stalled_micros().is_none() {
            tracing::debug!(
                "the kernel does not tell CPU pressure: password checks start without waiting for a quiet machine"
            );
        }
        for i in 0..threads.max(1) {
            let (queue, pressure, counts, lined) = (
                queue.clone(),
                pressure.clone(),
                counts.clone(),
                lined.clone(),
            );
            std::thread::Builder::new()
                .name(format!("ssogate-passwords-{i}"))
                .spawn(move || {
                    lowest_priority();
                    loop {
                        let work = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        let Ok(work) = work else { return };
                        lined.fetch_sub(1, Ordering::SeqCst);
                        if !work.wanted() {
                            counts.abandoned.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        // This check and those in line behind it at each look, not only when
                        // it was taken: the first attempt of a flood is taken alone, and
                        // counted then it ran after one second, not the flood's patience.
                        let taken = Instant::now();
                        let deadline = || {
                            let in_line =
                                u32::try_from(lined.load(Ordering::SeqCst).saturating_add(1))
                                    .unwrap_or(u32::MAX);
                            taken
                                + patience_each
                                    .saturating_mul(in_line)
                                    .min(PATIENCE_MOST.max(patience_each))
                        };
                        let waited = wait_for_quiet(&*pressure, deadline);
                        match waited {
                            Waited::No => {}
                            Waited::UntilQuiet => {
                                counts.waited.fetch_add(1, Ordering::Relaxed);
                            }
                            Waited::Patience => {
                                counts.ran_busy.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if !work.wanted() {
                            counts.abandoned.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        work.run();
                    }
                })?;
        }
        Ok(Hashing {
            jobs,
            lined,
            counts,
        })
    }

    /// Runs `f` on a password thread; `Err` when the queue is full or the pool is gone.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (answer, rx) = tokio::sync::oneshot::channel();
        // Counted before it can be taken, so a thread never counts below zero.
        self.lined.fetch_add(1, Ordering::SeqCst);
        if self.jobs.try_send(Box::new(Task { f, answer })).is_err() {
            self.lined.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy);
        }
        rx.await.map_err(|_| Busy)
    }
}

#[derive(Debug, PartialEq)]
enum Waited {
    No,
    UntilQuiet,
    Patience,
}

/// Looks at the machine until a look finds no task kept waiting for a CPU for more than
/// [`BUSY_SHARE`] of it, or `deadline()` (asked after each look) passes. Where pressure
/// is not told: no wait.
fn wait_for_quiet(pressure: &dyn Pressure, deadline: impl Fn() -> Instant) -> Waited {
    let mut waited = Waited::No;
    // Each look's end is the next one's start: one reading per look.
    let Some(mut before) = pressure.stalled_micros() else {
        return waited;
    };
    let mut start = Instant::now();
    loop {
        std::thread::sleep(if waited == Waited::No {
            LOOK
        } else {
            LOOK_AGAIN
        });
        let Some(after) = pressure.stalled_micros() else {
            return waited;
        };
        let now = Instant::now();
        let span = now.duration_since(start).as_micros().max(1) as f64;
        if (after.saturating_sub(before) as f64) < BUSY_SHARE * span {
            return waited;
        }
        if now >= deadline() {
            return Waited::Patience;
        }
        waited = Waited::UntilQuiet;
        (before, start) = (after, now);
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
    use std::sync::atomic::AtomicBool;

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

    /// A machine as busy as the test says: while `busy`, every microsecond counts as
    /// one a task waited for a CPU. Tells each reading to `looked` (a check's looks read
    /// once each at their end, the first also at its start; the pool reads once when it
    /// starts).
    struct Machine {
        busy: AtomicBool,
        started: Instant,
        looked: tokio::sync::mpsc::UnboundedSender<()>,
    }

    impl Machine {
        fn new(busy: bool) -> (Arc<Machine>, tokio::sync::mpsc::UnboundedReceiver<()>) {
            let (looked, looks) = tokio::sync::mpsc::unbounded_channel();
            let m = Machine {
                busy: AtomicBool::new(busy),
                started: Instant::now(),
                looked,
            };
            (Arc::new(m), looks)
        }
    }

    impl Pressure for Machine {
        fn stalled_micros(&self) -> Option<u64> {
            // A busy machine's stall grows with the clock, a quiet one's stays put.
            let _ = self.looked.send(());
            let micros = self.started.elapsed().as_micros() as u64;
            Some(if self.busy.load(Ordering::SeqCst) {
                micros
            } else {
                0
            })
        }
    }

    /// Waits for `n` readings of the machine; the check must not be done meanwhile.
    async fn readings<T>(
        n: usize,
        looks: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
        check: &mut tokio::task::JoinHandle<T>,
    ) {
        for _ in 0..n {
            tokio::select! {
                look = looks.recv() => {
                    look.unwrap_or_else(|| panic!("the worker stopped looking"));
                }
                _ = &mut *check => panic!("the check ran while the machine was busy"),
            }
        }
    }

    /// A check on a busy machine waits for it to quiet down, then runs (it used to start
    /// at once and take CPU time from the request path).
    #[tokio::test]
    async fn a_check_waits_until_no_task_waits_for_a_cpu() {
        let (machine, mut looks) = Machine::new(true);
        let pool = Hashing::start_with(1, machine.clone(), Duration::from_secs(600))
            .unwrap_or_else(|e| panic!("{e}"));
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let mut check = tokio::spawn(async move {
            pool.run(move || r.store(true, Ordering::SeqCst))
                .await
                .map(|_| pool.counts.clone())
        });
        // The pool's first reading, the first look's start, then three looks' ends, each
        // finding the machine busy — unless the check is done first, which it must not be.
        readings(5, &mut looks, &mut check).await;
        assert!(
            !ran.load(Ordering::SeqCst),
            "ran while the machine was busy"
        );
        machine.busy.store(false, Ordering::SeqCst);
        let counts = check
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|_| panic!("the check was refused"));
        assert!(ran.load(Ordering::SeqCst));
        assert_eq!(counts.waited.load(Ordering::SeqCst), 1);
        assert_eq!(counts.ran_busy.load(Ordering::SeqCst), 0);
    }

    /// A machine that stays busy does not stop password sign-ins: after the patience,
    /// the check runs, and is counted.
    #[tokio::test]
    async fn a_lasting_load_delays_checks_but_does_not_stop_them() {
        let (machine, _looks) = Machine::new(true);
        let pool = Hashing::start_with(1, machine, Duration::from_millis(30))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
        assert_eq!(pool.counts.ran_busy.load(Ordering::SeqCst), 1);
        assert_eq!(pool.counts.waited.load(Ordering::SeqCst), 0);
    }

    /// A flood's first attempt is taken alone, the rest line up while it waits: it waits
    /// as long as the line it then heads (it ran after one check's patience, so a flood
    /// took CPU time from a saturated machine ten times sooner than the limit says).
    #[tokio::test]
    async fn a_check_waits_as_long_as_the_line_that_forms_behind_it() {
        let each = Duration::from_millis(100);
        let (machine, mut looks) = Machine::new(true);
        let pool =
            Arc::new(Hashing::start_with(1, machine, each).unwrap_or_else(|e| panic!("{e}")));
        let sent = Instant::now();
        let p = pool.clone();
        let mut first = tokio::spawn(async move { p.run(Instant::now).await });
        // The pool's first reading and the first look's start: the check was taken alone.
        readings(2, &mut looks, &mut first).await;
        // Nine more behind it, given up at once (they count in line until a thread takes
        // them, and are then dropped unrun).
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        for _ in 0..9 {
            let mut behind = Box::pin(pool.run(Instant::now));
            assert!(behind.as_mut().poll(&mut cx).is_pending());
        }
        let ran = first
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|_| panic!("the check was refused"));
        assert!(
            ran.duration_since(sent) >= each * 10,
            "ran {:?} after it was sent, before ten checks' patience",
            ran.duration_since(sent)
        );
        assert_eq!(pool.counts.ran_busy.load(Ordering::SeqCst), 1);
    }

    /// A quiet machine, or one whose kernel does not tell its pressure: no waiting.
    #[tokio::test]
    async fn a_quiet_machine_checks_at_once() {
        struct Untold;
        impl Pressure for Untold {
            fn stalled_micros(&self) -> Option<u64> {
                None
            }
        }
        let (machine, _looks) = Machine::new(false);
        for pressure in [machine as Arc<dyn Pressure>, Arc::new(Untold)] {
            let pool = Hashing::start_with(1, pressure, Duration::from_secs(600))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
            assert_eq!(pool.counts.waited.load(Ordering::SeqCst), 0);
            assert_eq!(pool.counts.ran_busy.load(Ordering::SeqCst), 0);
        }
    }

    /// A check whose request went away while it waited (timed out, disconnected) is not
    /// run: Argon2 for nobody is what a flood of abandoned attempts would cost.
    #[tokio::test]
    async fn a_check_nobody_waits_for_is_not_run() {
        let (machine, mut looks) = Machine::new(true);
        let pool = Arc::new(
            Hashing::start_with(1, machine.clone(), Duration::from_secs(600))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let ran = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), ran.clone());
        let mut check =
            tokio::spawn(async move { p.run(move || r.store(true, Ordering::SeqCst)).await });
        // The pool's first reading and one look: the check is waiting for a quiet machine.
        readings(3, &mut looks, &mut check).await;
        // A second check sent behind it, and given up before a thread took it.
        let r = ran.clone();
        let mut behind = Box::pin(pool.run(move || r.store(true, Ordering::SeqCst)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(behind.as_mut().poll(&mut cx).is_pending());
        drop(behind);
        check.abort();
        let _ = check.await;
        machine.busy.store(false, Ordering::SeqCst);
        // The next check runs after the abandoned ones were dropped.
        assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
        assert!(
            !ran.load(Ordering::SeqCst),
            "Argon2 ran for a request that was gone"
        );
        assert_eq!(pool.counts.abandoned.load(Ordering::SeqCst), 2);
        // Nothing left counted in line, so later checks are not kept waiting longer.
        assert_eq!(pool.lined.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn pressure_files_are_read_as_the_kernel_writes_them() {
        let text = "some avg10=10.49 avg60=44.05 avg300=31.74 total=7331589771\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(some_total(text), Some(7_331_589_771));
        assert_eq!(some_total("full avg10=0.00 total=5\n"), None);
        assert_eq!(some_total("some avg10=1.0 total=x\n"), None);
        if std::path::Path::new("/proc/pressure/cpu").exists() {
            assert!(
                Psi::find().stalled_micros().is_some(),
                "this kernel's file did not read"
            );
        }
    }
}
