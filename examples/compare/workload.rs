//! The workloads: what each thread does, how it is timed and how each
//! adapter's answers are checked while it runs.
//!
//! Every thread runs a pre-generated stream of operations (no RNG in the
//! timed loop) and keeps its counters in locals (no shared counters, no
//! false sharing). The main thread sleeps for the run's duration and then
//! raises a stop flag that threads check every [`CHECK_EVERY`] operations.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::adapters::{Adapter, MapHandle};
use crate::keys::{BenchHasher, BenchKey, KeySet, CHURN_PER_THREAD};

/// Operations between two looks at the stop flag.
const CHECK_EVERY: usize = 16;
/// Most churn keys one thread has inserted and not yet removed.
pub const CHURN_WINDOW: u64 = 1024;
/// Churn keys the end-of-run check looks up.
const END_CHECKS: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    ReadOnly,
    Read999,
    Read99,
    Mix98,
    WriteHeavy,
    Config,
    WriteCost,
}

/// An operation mix in parts per 10,000.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub update: u32,
    pub insert: u32,
    pub remove: u32,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::ReadOnly,
        Workload::Read999,
        Workload::Read99,
        Workload::Mix98,
        Workload::WriteHeavy,
        Workload::Config,
        Workload::WriteCost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::ReadOnly => "read-only",
            Workload::Read999 => "read-99.9",
            Workload::Read99 => "read-99",
            Workload::Mix98 => "mix-98",
            Workload::WriteHeavy => "write-heavy",
            Workload::Config => "config",
            Workload::WriteCost => "write-cost",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            Workload::ReadOnly => "100% get of present keys",
            Workload::Read999 => "99.9% get, 0.05% insert, 0.05% remove",
            Workload::Read99 => "99% get, 1% overwrite of a present key",
            Workload::Mix98 => "98% get, 1% insert, 1% remove (libcuckoo/bustle read-heavy)",
            Workload::WriteHeavy => "50% get, 25% insert, 25% remove",
            Workload::Config => "N readers + 1 writer committing a small batch every T µs",
            Workload::WriteCost => "latency of a 1-key and a 1,000-key commit, one thread",
        }
    }

    pub fn mix(self) -> Option<Mix> {
        let (update, insert, remove) = match self {
            Workload::ReadOnly | Workload::Config => (0, 0, 0),
            Workload::Read999 => (0, 5, 5),
            Workload::Read99 => (100, 0, 0),
            Workload::Mix98 => (0, 100, 100),
            Workload::WriteHeavy => (0, 2500, 2500),
            Workload::WriteCost => return None,
        };
        Some(Mix {
            update,
            insert,
            remove,
        })
    }

    pub fn writes(self) -> bool {
        self.mix()
            .is_some_and(|m| m.update + m.insert + m.remove > 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Read,
    Update,
    Insert,
    Remove,
}

/// One pre-generated operation: reads and updates name a stable key by
/// index; inserts and removes take the thread's next churn key.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    kind: Kind,
    key: u32,
}

/// A thread's stream of operations, cycled through while the run lasts.
/// Inserts and removes balance over one cycle and never leave more than
/// [`CHURN_WINDOW`] churn keys outstanding, so the map's size stays near
/// its initial size however long the run.
pub fn op_stream(mix: Mix, stable_len: usize, seed: u64) -> Vec<Op> {
    let len = stable_len.next_power_of_two().clamp(1 << 16, 1 << 20);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ops = Vec::with_capacity(len + CHURN_WINDOW as usize);
    let mut outstanding = 0u64;
    for _ in 0..len {
        let r = rng.random_range(0..10_000u32);
        let mut kind = if r < mix.update {
            Kind::Update
        } else if r < mix.update + mix.insert {
            Kind::Insert
        } else if r < mix.update + mix.insert + mix.remove {
            Kind::Remove
        } else {
            Kind::Read
        };
        if kind == Kind::Insert && outstanding == CHURN_WINDOW {
            kind = Kind::Remove;
        } else if kind == Kind::Remove && outstanding == 0 {
            kind = Kind::Insert;
        }
        match kind {
            Kind::Insert => outstanding += 1,
            Kind::Remove => outstanding -= 1,
            _ => {}
        }
        let key = rng.random_range(0..stable_len as u32);
        ops.push(Op { kind, key });
    }
    ops.extend((0..outstanding).map(|_| Op {
        kind: Kind::Remove,
        key: 0,
    }));
    ops
}

/// A thread's churn position, carried from one run to the next on the
/// same map: churn keys `inserted - removed` are outstanding.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChurnState {
    inserted: u64,
    removed: u64,
}

/// The config workload's writer: commits `batches` in turn (values
/// rewritten each time so every commit changes something), one every
/// `interval` (back to back if zero).
#[derive(Debug)]
pub struct WriterPlan<K> {
    pub batches: Vec<Vec<(K, u64)>>,
    pub interval: Duration,
}

impl<K: BenchKey> WriterPlan<K> {
    pub fn new(keys: &KeySet<K>, batch: usize, interval: Duration, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let batches = (0..256)
            .map(|_| {
                (0..batch)
                    .map(|_| {
                        (
                            keys.stable[rng.random_range(0..keys.stable.len())].clone(),
                            0,
                        )
                    })
                    .collect()
            })
            .collect();
        Self { batches, interval }
    }
}

/// One timed run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Operations per second, all reader/worker threads together.
    pub ops_per_s: f64,
    /// Commits per second of the config writer, if there was one.
    pub commits_per_s: f64,
}

struct ThreadOut {
    ops: u64,
    elapsed: Duration,
    state: ChurnState,
    error: Option<String>,
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs every thread's stream on `adapter` for `duration`, with the config
/// writer alongside if `writer` is given. Fails if any thread panicked or
/// saw a wrong answer.
pub fn run<K: BenchKey, S: BenchHasher, A: Adapter<K, S>>(
    adapter: &A,
    keys: &KeySet<K>,
    streams: &[Vec<Op>],
    states: &mut [ChurnState],
    writer: Option<&mut WriterPlan<K>>,
    duration: Duration,
) -> Result<Sample, String> {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(streams.len() + 1 + usize::from(writer.is_some()));
    let (outs, commits) = std::thread::scope(|scope| {
        let workers: Vec<_> = streams
            .iter()
            .zip(states.iter())
            .enumerate()
            .map(|(t, (ops, &state))| {
                let (stop, barrier) = (&stop, &barrier);
                scope.spawn(move || {
                    let handle = catch_unwind(AssertUnwindSafe(|| adapter.handle()));
                    barrier.wait();
                    let mut handle = handle.map_err(|p| panic_message(&*p))?;
                    catch_unwind(AssertUnwindSafe(|| {
                        worker(&mut handle, &keys.stable, keys.churn(t), ops, state, stop)
                    }))
                    .map_err(|p| panic_message(&*p))
                })
            })
            .collect();
        let writer = writer.map(|plan| {
            let (stop, barrier) = (&stop, &barrier);
            scope.spawn(move || {
                let handle = catch_unwind(AssertUnwindSafe(|| adapter.handle()));
                barrier.wait();
                let mut handle = handle.map_err(|p| panic_message(&*p))?;
                catch_unwind(AssertUnwindSafe(|| config_writer(&mut handle, plan, stop)))
                    .map_err(|p| panic_message(&*p))
            })
        });
        barrier.wait();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let outs: Vec<Result<ThreadOut, String>> = workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| Err(panic_message(&*p))))
            .collect();
        let commits = writer.map(|w| w.join().unwrap_or_else(|p| Err(panic_message(&*p))));
        (outs, commits)
    });
    let mut sample = Sample::default();
    for (out, state) in outs.into_iter().zip(states.iter_mut()) {
        let out = out?;
        if let Some(error) = out.error {
            return Err(error);
        }
        sample.ops_per_s += out.ops as f64 / out.elapsed.as_secs_f64();
        *state = out.state;
    }
    if let Some(commits) = commits {
        sample.commits_per_s = commits?;
    }
    Ok(sample)
}

fn worker<K: BenchKey, H: MapHandle<K>>(
    handle: &mut H,
    stable: &[K],
    churn: &[K],
    ops: &[Op],
    mut state: ChurnState,
    stop: &AtomicBool,
) -> ThreadOut {
    let start = Instant::now();
    let churn_len = churn.len() as u64;
    let (mut done, mut misses, mut sum) = (0u64, 0u64, 0u64);
    'run: loop {
        for chunk in ops.chunks(CHECK_EVERY) {
            for op in chunk {
                match op.kind {
                    Kind::Read => match handle.get(&stable[op.key as usize]) {
                        Some(v) => sum = sum.wrapping_add(v),
                        None => misses += 1,
                    },
                    Kind::Update => handle.insert(stable[op.key as usize].clone(), done),
                    Kind::Insert => {
                        handle.insert(churn[(state.inserted % churn_len) as usize].clone(), done);
                        state.inserted += 1;
                    }
                    Kind::Remove => {
                        handle.remove(&churn[(state.removed % churn_len) as usize]);
                        state.removed += 1;
                    }
                }
            }
            done += chunk.len() as u64;
            if stop.load(Ordering::Relaxed) {
                break 'run;
            }
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(sum);
    handle.flush();
    let mut error = (misses > 0).then(|| format!("{misses} reads of present keys found nothing"));
    if error.is_none() {
        error = check_churn(handle, churn, state);
    }
    ThreadOut {
        ops: done,
        elapsed,
        state,
        error,
    }
}

/// After a run (untimed): the thread's outstanding churn keys are present
/// and the one it removed last is gone.
fn check_churn<K: BenchKey, H: MapHandle<K>>(
    handle: &mut H,
    churn: &[K],
    state: ChurnState,
) -> Option<String> {
    debug_assert!(CHURN_PER_THREAD as u64 > CHURN_WINDOW);
    let n = churn.len() as u64;
    let first = state.removed.max(state.inserted.saturating_sub(END_CHECKS));
    for i in first..state.inserted {
        let key = &churn[(i % n) as usize];
        if handle.get(key).is_none() {
            return Some(format!("inserted key {key:?} not found after the run"));
        }
    }
    if state.removed > 0 {
        let key = &churn[((state.removed - 1) % n) as usize];
        if handle.get(key).is_some() {
            return Some(format!("removed key {key:?} still found after the run"));
        }
    }
    None
}

fn config_writer<K: BenchKey, H: MapHandle<K>>(
    handle: &mut H,
    plan: &mut WriterPlan<K>,
    stop: &AtomicBool,
) -> f64 {
    let start = Instant::now();
    let mut next = start;
    let mut commits = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = plan.batches.len();
        let batch = &mut plan.batches[commits as usize % n];
        for item in batch.iter_mut() {
            item.1 = commits;
        }
        handle.insert_batch(batch);
        commits += 1;
        if !plan.interval.is_zero() {
            next += plan.interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }
    commits as f64 / start.elapsed().as_secs_f64()
}

/// What a write-cost measurement commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// One key overwritten per commit.
    One,
    /// 1,000 keys overwritten in one commit.
    Thousand,
}

impl Commit {
    pub const BATCH: usize = 1000;
    pub fn name(self) -> &'static str {
        match self {
            Commit::One => "write-cost/1-key",
            Commit::Thousand => "write-cost/1000-key",
        }
    }
}

/// Most commits one write-cost run makes.
const MAX_COMMITS: u64 = 20_000;

/// Mean latency in nanoseconds of `commit`s of present keys on one thread,
/// over about `budget` (at least one commit).
pub fn write_cost<K: BenchKey, S: BenchHasher, A: Adapter<K, S>>(
    adapter: &A,
    keys: &KeySet<K>,
    commit: Commit,
    budget: Duration,
    seed: u64,
) -> Result<f64, String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut pick = || keys.stable[rng.random_range(0..keys.stable.len())].clone();
    let singles: Vec<K> = (0..4096).map(|_| pick()).collect();
    let mut batches: Vec<Vec<(K, u64)>> = match commit {
        Commit::One => Vec::new(),
        Commit::Thousand => (0..4)
            .map(|_| (0..Commit::BATCH).map(|_| (pick(), 0)).collect())
            .collect(),
    };
    catch_unwind(AssertUnwindSafe(|| {
        let mut handle = adapter.handle();
        let start = Instant::now();
        let mut n = 0u64;
        while n == 0 || (n < MAX_COMMITS && start.elapsed() < budget) {
            match commit {
                Commit::One => handle.insert(singles[n as usize % singles.len()].clone(), n),
                Commit::Thousand => {
                    let batch = &mut batches[n as usize % 4];
                    for item in batch.iter_mut() {
                        item.1 = n;
                    }
                    handle.insert_batch(batch);
                }
            }
            n += 1;
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        // The last commit must be visible.
        let last = match commit {
            Commit::One => singles[(n as usize - 1) % singles.len()].clone(),
            Commit::Thousand => batches[(n as usize - 1) % 4][0].0.clone(),
        };
        match handle.get(&last) {
            Some(v) if v == n - 1 => Ok(ns),
            other => Err(format!(
                "after commit {} of {last:?}, read {other:?}",
                n - 1
            )),
        }
    }))
    .map_err(|p| panic_message(&*p))?
}
