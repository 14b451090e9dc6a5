//! Lanes: the threads on which `intune-mock run` runs its scenarios, `--jobs` of them.
//!
//! A scenario is one task that drives its service and its connectors in turn, and each store
//! command hands over to the SQLite connection's own thread and waits for it: the two threads
//! take turns, never run at once. When they sit on two CPUs, every hand-over wakes an idle CPU,
//! which in a virtual machine costs more than most of the commands themselves (BENCHMARKS.md,
//! "Virtual time": the same 130 days took a quarter less time on one CPU). So a lane is one
//! thread with its own single-threaded runtime, bound (on Linux, unless `--no-pin`) to one of
//! the CPUs the process may use, lane `i` to the `i`-th of them; the threads a scenario starts
//! there (the connection's thread, blocking tasks) inherit that CPU. Lanes take the scenarios
//! in file order as they come free.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use service::domain::catalog::CatalogChoice;

use crate::runner::{self, Outcome, Transport};
use crate::spec::Scenario;

/// How the scenarios of one `run` are spread over threads.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// Scenarios at once (`--jobs`; at least one).
    pub count: usize,
    /// Bind each lane to one CPU (Linux only; elsewhere this does nothing).
    pub pin: bool,
    /// Keep every connector's channel files in the outcomes (`run --keep-logs`).
    pub keep_logs: bool,
    /// The shipped catalog every scenario's service evaluates against (`run --catalog`).
    pub catalog: CatalogChoice,
}

/// One scenario to run: its file as named on the command line, and the parsed scenario.
pub type Work = (String, Scenario);

type Queue = Arc<Mutex<VecDeque<(usize, Work)>>>;
type Report = anyhow::Result<(usize, Outcome)>;

/// Runs every scenario of `work` on `lanes`; calls `done` as each one ends (in the order they
/// end) and returns the outcomes in the order of `work`. A scenario that panics stops the run
/// with an error once the lanes finish what they hold.
pub async fn run_all(
    work: Vec<Work>,
    lanes: Lanes,
    seed: Option<u64>,
    transport: Transport,
    mut done: impl FnMut(&Outcome),
) -> anyhow::Result<Vec<Outcome>> {
    let total = work.len();
    let queue: Queue = Arc::new(Mutex::new(work.into_iter().enumerate().collect()));
    let cpus = if lanes.pin { usable_cpus() } else { Vec::new() };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    for lane in 0..lanes.count.clamp(1, total.max(1)) {
        let cpu = (!cpus.is_empty()).then(|| cpus[lane % cpus.len()]);
        let (queue, tx) = (queue.clone(), tx.clone());
        std::thread::Builder::new()
            .name(format!("lane-{lane}"))
            .spawn(move || lane_main(cpu, &queue, &tx, seed, transport, lanes))
            .context("cannot start a thread to run scenarios on")?;
    }
    drop(tx);
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(total);
    while let Some(report) = rx.recv().await {
        match report {
            Ok((index, outcome)) => {
                done(&outcome);
                outcomes.push((index, outcome));
            }
            Err(e) => {
                lock(&queue).clear();
                return Err(e);
            }
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(outcomes.into_iter().map(|(_, o)| o).collect())
}

fn lock(queue: &Queue) -> std::sync::MutexGuard<'_, VecDeque<(usize, Work)>> {
    queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// A lane: bind to `cpu`, then run scenarios from `queue` until it is empty.
fn lane_main(
    cpu: Option<usize>,
    queue: &Queue,
    tx: &tokio::sync::mpsc::UnboundedSender<Report>,
    seed: Option<u64>,
    transport: Transport,
    lanes: Lanes,
) {
    if let Some(cpu) = cpu {
        if let Err(e) = bind_to(cpu) {
            tracing::debug!("running scenarios unbound: cannot bind a lane to CPU {cpu}: {e}");
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = tx.send(Err(
                anyhow::Error::new(e).context("cannot start a runtime to run scenarios on")
            ));
            return;
        }
    };
    loop {
        let next = lock(queue).pop_front();
        let Some((index, (file, scenario))) = next else {
            return;
        };
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(runner::run_keeping(
                &scenario,
                &file,
                seed,
                transport,
                lanes.keep_logs,
                lanes.catalog,
            ))
        }));
        let report = ran.map(|outcome| (index, outcome)).map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            anyhow::anyhow!("the scenario in {file} panicked: {what}")
        });
        let failed = report.is_err();
        if tx.send(report).is_err() || failed {
            return;
        }
    }
}

/// The CPUs the calling thread may run on (those of the process, unless it was bound), in
/// order; empty where that cannot be known.
#[cfg(target_os = "linux")]
fn usable_cpus() -> Vec<usize> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&i| set.is_set(i)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(not(target_os = "linux"))]
fn usable_cpus() -> Vec<usize> {
    Vec::new()
}

/// Binds the calling thread, and the threads it starts from now on, to `cpu`.
#[cfg(target_os = "linux")]
fn bind_to(cpu: usize) -> std::io::Result<()> {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn bind_to(_cpu: usize) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_bound_lane_and_the_threads_it_starts_run_on_its_one_cpu() {
        let usable = usable_cpus();
        assert!(!usable.is_empty());
        let last = *usable.last().unwrap();
        let (lane, started) = std::thread::spawn(move || {
            bind_to(last).unwrap();
            let started = std::thread::spawn(usable_cpus).join().unwrap();
            (usable_cpus(), started)
        })
        .join()
        .unwrap();
        assert_eq!(lane, vec![last]);
        assert_eq!(started, vec![last]);
        // The caller's own thread is left as it was.
        assert_eq!(usable_cpus(), usable);
    }
}
