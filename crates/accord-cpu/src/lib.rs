//! CPU work at the priority its owner has earned: a partner whose own work is already waiting for it runs its CPU
//! work in the background, so that the other partners' work takes the cores first.
//!
//! The pipeline's heavy steps — validating a submission at the gateway, normalizing, evaluating MoUs — are CPU work
//! that runs off the async runtime ([`run`]). Where it runs depends on the [`Priority`] of the task that asks
//! ([`scope`]):
//!
//! - [`Priority::Foreground`] (the default): on tokio's blocking threads, at the process's own scheduling priority.
//! - [`Priority::Background`]: on a pool of as many threads as the machine has cores, whose scheduling priority is
//!   lowered (`nice` + [`BACKGROUND_NICE`], on Linux). The operating system gives a foreground thread about seventy
//!   times a background thread's share of a busy core, and a background thread the whole core when nothing else
//!   wants it: a partner alone loses nothing, and a partner flooding the pipeline cannot take the cores from the
//!   others' small reports, however many requests it has in flight.
//!
//! Who is in the background is decided where the owner's backlog is known: the gateway's admission (a partner with
//! reports of its own not yet through the pipeline) and the fair stage loop (an owner with records queued behind its
//! batch in progress, `accord_runtime::stage::run_fair`). A partner that posts one report and waits for it is never in the
//! background; one that keeps the pipeline busy always is, in every stage where its work queues.
//!
//! Only pure CPU work goes to [`run`]: never a step that holds a lock, a store's write transaction or anything else
//! that another partner's work may wait for. A background thread holding one would be scheduled last while a
//! foreground thread waits for it (priority inversion): stores write on tokio's blocking threads, whatever the
//! priority of the batch.
//!
//! Lowering a thread's priority needs no privilege; raising it back would, which is why the background threads are
//! a pool of their own and never return to the foreground. Where the priority cannot be lowered (another operating
//! system, a container that forbids it), background work still runs, on threads of ordinary priority, and a warning
//! says so once.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, OnceLock, PoisonError, mpsc},
};

/// Counter: CPU work handed off the async runtime, by priority ([`run`]).
pub const CPU_TASKS: &str = "accord_cpu_tasks_total";
/// Label: a CPU task's priority (`foreground`, `background`).
pub const PRIORITY: &str = "priority";

/// How much the background threads' scheduling priority is lowered (`nice` increment, up to 19): at 19, a busy core
/// is shared about 1024 : 15 between a foreground and a background thread. At 10 (1024 : 110) a flooding partner's
/// background work still doubled the others' p99 latency on two cores (decision 0070).
pub const BACKGROUND_NICE: i32 = 19;

/// Whose CPU work goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Work of an owner with nothing of its own waiting: the process's own scheduling priority.
    Foreground,
    /// Work of an owner whose own work is waiting for it: lower priority threads.
    Background,
}

impl Priority {
    /// Background when `backlogged`, foreground otherwise.
    #[must_use]
    pub fn of_backlog(backlogged: bool) -> Self {
        if backlogged {
            Self::Background
        } else {
            Self::Foreground
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Foreground => "foreground",
            Self::Background => "background",
        }
    }
}

/// Why CPU work produced no result.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The work panicked; the panic's message.
    #[error("CPU work panicked: {0}")]
    Panicked(String),
    /// The background pool could not take the work (its threads are gone).
    #[error("the background CPU pool is not running")]
    Stopped,
}

tokio::task_local! {
    static CURRENT: Priority;
}

/// Runs `future` with `priority`: the CPU work it hands to [`run`] goes to that priority's threads.
pub async fn scope<F: Future>(priority: Priority, future: F) -> F::Output {
    CURRENT.scope(priority, future).await
}

/// The priority of the calling task ([`Priority::Foreground`] outside any [`scope`]).
#[must_use]
pub fn current() -> Priority {
    CURRENT
        .try_with(|priority| *priority)
        .unwrap_or(Priority::Foreground)
}

/// Runs CPU work off the async runtime, on the threads of the calling task's priority ([`current`]).
///
/// # Errors
/// [`CpuError::Panicked`] when `work` panicked, [`CpuError::Stopped`] when the background pool is gone.
pub async fn run<R, W>(work: W) -> Result<R, CpuError>
where
    R: Send + 'static,
    W: FnOnce() -> R + Send + 'static,
{
    let priority = current();
    metrics::counter!(CPU_TASKS, PRIORITY => priority.label()).increment(1);
    match priority {
        Priority::Foreground => {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|error| match error.try_into_panic() {
                    Ok(panic) => CpuError::Panicked(panic_message(panic.as_ref())),
                    Err(_) => CpuError::Stopped,
                })
        }
        Priority::Background => background().run(work).await,
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The background threads and the queue they take work from.
struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// The process's background pool, started on first use.
fn background() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Pool::start(threads)
    })
}

impl Pool {
    fn start(threads: usize) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("accord-background-{index}"))
                .spawn(move || work_in_background(index, &receiver));
            if let Err(error) = spawned {
                tracing::error!(%error, "failed to start a background CPU thread");
            }
        }
        Self {
            jobs: Mutex::new(sender),
        }
    }

    async fn run<R, W>(&self, work: W) -> Result<R, CpuError>
    where
        R: Send + 'static,
        W: FnOnce() -> R + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(work))
                .map_err(|panic| CpuError::Panicked(panic_message(panic.as_ref())));
            // The asking task may have been dropped (a cancelled request): nobody waits for the answer.
            let _ = answer.send(outcome);
        });
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| CpuError::Stopped)?;
        answered.await.map_err(|_| CpuError::Stopped)?
    }
}

/// A background thread: lowers its own priority, then runs jobs until the pool's queue is gone.
fn work_in_background(index: usize, jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority(index);
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            receiver.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Lowers the calling thread's scheduling priority by [`BACKGROUND_NICE`] (Linux: the nice value is per thread).
fn lower_priority(index: usize) {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        let lowered = rustix::process::getpriority_process(Some(thread)).and_then(|nice| {
            rustix::process::setpriority_process(Some(thread), (nice + BACKGROUND_NICE).min(19))
        });
        if let Err(error) = lowered
            && index == 0
        {
            tracing::warn!(
                %error,
                "cannot lower the background threads' priority: a partner with a backlog shares the cores equally \
                 with the others"
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    if index == 0 {
        tracing::warn!("background threads run at normal priority on this operating system");
    }
}

/// The message of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the thread that runs this.
    #[cfg(target_os = "linux")]
    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn background_work_runs_at_lower_priority_and_foreground_work_does_not() {
        let process = own_nice();
        let foreground = run(own_nice).await.unwrap();
        let background = scope(Priority::Background, run(own_nice)).await.unwrap();
        assert_eq!(foreground, process);
        assert_eq!(background, (process + BACKGROUND_NICE).min(19));
        let back_to_default = run(own_nice).await.unwrap();
        assert_eq!(
            back_to_default, process,
            "outside a scope work is foreground"
        );
    }

    #[tokio::test]
    async fn scopes_nest_and_answers_come_back_in_each_priority() {
        assert_eq!(current(), Priority::Foreground);
        let (outer, inner) = scope(Priority::Background, async {
            let inner = scope(Priority::Foreground, async { current() }).await;
            (current(), inner)
        })
        .await;
        assert_eq!((outer, inner), (Priority::Background, Priority::Foreground));
        let sums = scope(Priority::Background, async {
            let mut sums = Vec::new();
            for n in 0..20_u64 {
                sums.push(run(move || (0..=n).sum::<u64>()).await.unwrap());
            }
            sums
        })
        .await;
        assert_eq!(sums[19], 190);
    }

    #[tokio::test]
    async fn a_panic_is_an_error_in_either_priority_and_the_pool_goes_on() {
        for priority in [Priority::Foreground, Priority::Background] {
            let error = scope(priority, run(|| -> u8 { panic!("boom") }))
                .await
                .unwrap_err();
            assert!(
                matches!(&error, CpuError::Panicked(message) if message == "boom"),
                "{error}"
            );
            assert_eq!(scope(priority, run(|| 7)).await.unwrap(), 7);
        }
    }
}
