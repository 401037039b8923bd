//! Which maps run in which workload, with which key sets, and the loop
//! that measures one map: build it, settle it, time it `runs` times, report
//! the median.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use indicatif::ProgressBar;

use crate::adapters::*;
use crate::cli::{KeyKind, KeySpec, Options};
use crate::keys::{BenchHasher, BenchKey, KeySet};
use crate::report::{median, Metric, Row};
use crate::workload::{self, panic_message, ChurnState, Commit, Sample, Workload, WriterPlan};

/// A map the driver knows.
#[derive(Debug)]
pub struct MapInfo {
    pub name: &'static str,
    pub about: &'static str,
}

/// The reference every ratio is taken against.
pub const REFERENCE: &str = "snapmap-reader";

pub const MAPS: &[MapInfo] = &[
    MapInfo {
        name: "snapmap-reader",
        about: "snapmap, reads through a per-thread Reader, one commit per write",
    },
    MapInfo {
        name: "snapmap-load",
        about: "snapmap, reads through map.load().get(), one commit per write",
    },
    MapInfo {
        name: "snapmap-batch",
        about: "snapmap, Reader reads, each thread commits its writes 64 at a time",
    },
    MapInfo {
        name: "std-rwlock",
        about: "std::sync::RwLock<HashMap>",
    },
    MapInfo {
        name: "pl-rwlock",
        about: "parking_lot::RwLock<HashMap>",
    },
    MapInfo {
        name: "std-mutex",
        about: "std::sync::Mutex<HashMap>",
    },
    MapInfo {
        name: "dashmap",
        about: "dashmap::DashMap (sharded RwLocks)",
    },
    MapInfo {
        name: "papaya",
        about: "papaya::HashMap (lock-free, pin per operation)",
    },
    MapInfo {
        name: "scc-hashindex",
        about: "scc::HashIndex (read-optimized)",
    },
    MapInfo {
        name: "evmap",
        about: "evmap (left-right: two copies + oplog), publish after every write",
    },
    MapInfo {
        name: "evmap-batch",
        about: "evmap, publish once per 64 writes",
    },
    MapInfo {
        name: "arcswap-clone",
        about: "ArcSwap<HashMap>, the whole map cloned on every write",
    },
    MapInfo {
        name: "actor",
        about: "HashMap owned by one thread, every operation a channel message",
    },
    MapInfo {
        name: "floor-hashmap",
        about: "floor: a private std HashMap per thread, no synchronization (read-only)",
    },
    MapInfo {
        name: "floor-imbl",
        about: "floor: a private imbl HashMap per thread, no synchronization",
    },
];

/// Whether `map` means anything in `workload`.
pub fn supports(workload: Workload, map: &str) -> bool {
    match map {
        "floor-hashmap" => workload == Workload::ReadOnly,
        "floor-imbl" => matches!(workload, Workload::ReadOnly | Workload::WriteCost),
        "snapmap-batch" | "evmap-batch" => workload.writes(),
        // Same write path as snapmap-reader.
        "snapmap-load" => workload != Workload::WriteCost,
        _ => true,
    }
}

/// The maps a workload runs when `--maps` is not given.
fn default_maps(workload: Workload) -> Vec<&'static str> {
    match workload {
        Workload::WriteCost => vec![
            "snapmap-reader",
            "floor-imbl",
            "arcswap-clone",
            "std-rwlock",
            "pl-rwlock",
        ],
        _ => MAPS
            .iter()
            .map(|m| m.name)
            .filter(|name| supports(workload, name))
            .collect(),
    }
}

/// The key sets a workload runs when `--keys` is not given.
fn default_keys(workload: Workload) -> Vec<KeySpec> {
    match workload {
        Workload::ReadOnly => vec![
            KeySpec::u64s(49_000),
            KeySpec::u64s(1_000_000),
            KeySpec {
                kind: KeyKind::Str,
                len: 49_000,
            },
        ],
        Workload::WriteCost => vec![
            KeySpec::u64s(1_000),
            KeySpec::u64s(100_000),
            KeySpec::u64s(1_000_000),
        ],
        _ => vec![KeySpec::u64s(49_000)],
    }
}

/// The default suite.
pub const DEFAULT_WORKLOADS: [Workload; 5] = [
    Workload::ReadOnly,
    Workload::Read99,
    Workload::Mix98,
    Workload::Config,
    Workload::WriteCost,
];

/// One (workload, key set) and the maps to run on it.
#[derive(Debug)]
pub struct Group {
    pub workload: Workload,
    pub keys: KeySpec,
    pub maps: Vec<&'static str>,
}

pub fn plan(options: &Options) -> Vec<Group> {
    let workloads = options
        .workloads
        .clone()
        .unwrap_or_else(|| DEFAULT_WORKLOADS.to_vec());
    let mut groups = Vec::new();
    for workload in workloads {
        let maps: Vec<&'static str> = match &options.maps {
            Some(maps) => maps
                .iter()
                .copied()
                .filter(|m| supports(workload, m))
                .collect(),
            None => default_maps(workload),
        };
        if maps.is_empty() {
            continue;
        }
        for keys in options
            .keys
            .clone()
            .unwrap_or_else(|| default_keys(workload))
        {
            groups.push(Group {
                workload,
                keys,
                maps: maps.clone(),
            });
        }
    }
    groups
}

/// Rows a group will produce (for the progress bar).
pub fn rows_in(group: &Group, options: &Options) -> u64 {
    let per_map = match group.workload {
        Workload::WriteCost => 2,
        _ => options.threads.len(),
    };
    (group.maps.len() * per_map) as u64
}

/// Everything one measurement needs besides the map.
pub struct Ctx<'a> {
    pub options: &'a Options,
    pub progress: &'a ProgressBar,
    pub rows: Vec<Row>,
}

/// Runs every map of `group`: snapmap's variants hashing with `SS`, every
/// other map with `SP` (the same type, except for `--hasher default`).
pub fn run_group<K: BenchKey, SS: BenchHasher, SP: BenchHasher>(ctx: &mut Ctx<'_>, group: &Group) {
    ctx.progress.set_message(format!(
        "{} {}: generating keys",
        group.workload.name(),
        group.keys
    ));
    let keys = KeySet::<K>::new(group.keys.len, 0x5eed ^ group.keys.len as u64);
    let entries: Vec<(K, u64)> = keys.entries().collect();
    // One hasher instance (one seed) for every map when SS and SP are the
    // same type.
    let snap_hasher = SS::default();
    let peer_hasher = (&snap_hasher as &dyn std::any::Any)
        .downcast_ref::<SP>()
        .cloned()
        .unwrap_or_default();
    for &map in &group.maps {
        ctx.progress
            .set_message(format!("{} {} {map}", group.workload.name(), group.keys));
        let snap_spec = BuildSpec {
            entries: &entries,
            hasher: snap_hasher.clone(),
            index: ctx.options.index,
        };
        let peer_spec = BuildSpec {
            entries: &entries,
            hasher: peer_hasher.clone(),
            index: ctx.options.index,
        };
        let s = Measure {
            group,
            map,
            keys: &keys,
            spec: &snap_spec,
        };
        let p = Measure {
            group,
            map,
            keys: &keys,
            spec: &peer_spec,
        };
        match map {
            "snapmap-reader" => s.run::<SnapReader<K, SS>>(ctx),
            "snapmap-load" => s.run::<SnapLoad<K, SS>>(ctx),
            "snapmap-batch" => s.run::<SnapBatch<K, SS>>(ctx),
            "std-rwlock" => p.run::<StdRwLock<K, SP>>(ctx),
            "pl-rwlock" => p.run::<PlRwLock<K, SP>>(ctx),
            "std-mutex" => p.run::<StdMutex<K, SP>>(ctx),
            "dashmap" => p.run::<DashMapAdapter<K, SP>>(ctx),
            "papaya" => p.run::<Papaya<K, SP>>(ctx),
            "scc-hashindex" => p.run::<SccHashIndex<K, SP>>(ctx),
            "evmap" => p.run::<Evmap<K, SP, false>>(ctx),
            "evmap-batch" => p.run::<Evmap<K, SP, true>>(ctx),
            "arcswap-clone" => p.run::<ArcSwapClone<K, SP>>(ctx),
            "actor" => p.run::<Actor<K>>(ctx),
            "floor-hashmap" => p.run::<FlatFloor<K, SP>>(ctx),
            "floor-imbl" => p.run::<ImblFloor<K, SP>>(ctx),
            other => unreachable!("map `{other}` is in MAPS but not dispatched"),
        }
    }
}

struct Measure<'a, K, S> {
    group: &'a Group,
    map: &'static str,
    keys: &'a KeySet<K>,
    spec: &'a BuildSpec<'a, K, S>,
}

impl<K: BenchKey, S: BenchHasher> Measure<'_, K, S> {
    fn row(&self, workload: &str, threads: usize, metric: Metric) -> Row {
        let map = match (self.group.workload, self.map) {
            (Workload::WriteCost, "snapmap-reader") => "snapmap",
            (_, name) => name,
        };
        Row::new(workload, self.group.keys.to_string(), map, threads, metric)
    }

    fn run<A: Adapter<K, S>>(&self, ctx: &mut Ctx<'_>) {
        let options = ctx.options;
        let built = catch_unwind(AssertUnwindSafe(|| A::build(self.spec)));
        let adapter = match built {
            Ok(adapter) => adapter,
            Err(payload) => {
                let why = format!("build panicked: {}", panic_message(&*payload));
                for row in self.planned_rows(options) {
                    ctx.rows.push(row.failed(why.clone()));
                    ctx.progress.inc(1);
                }
                return;
            }
        };
        let note = adapter.note();
        let rows = match self.group.workload {
            Workload::WriteCost => self.write_cost(&adapter, options),
            Workload::Config => self.config(&adapter, options),
            workload => self.throughput(&adapter, options, workload),
        };
        for mut row in rows {
            row.note = note.clone();
            ctx.rows.push(row);
            ctx.progress.inc(1);
        }
    }

    fn planned_rows(&self, options: &Options) -> Vec<Row> {
        match self.group.workload {
            Workload::WriteCost => [Commit::One, Commit::Thousand]
                .iter()
                .map(|c| self.row(c.name(), 1, Metric::NanosPerCommit))
                .collect(),
            w => options
                .threads
                .iter()
                .map(|&t| self.row(w.name(), t, Metric::OpsPerSec))
                .collect(),
        }
    }

    fn throughput<A: Adapter<K, S>>(
        &self,
        adapter: &A,
        options: &Options,
        workload: Workload,
    ) -> Vec<Row> {
        let mix = workload.mix().expect("a throughput workload has a mix");
        options
            .threads
            .iter()
            .map(|&threads| {
                let row = self.row(workload.name(), threads, Metric::OpsPerSec);
                let streams: Vec<_> = (0..threads)
                    .map(|t| workload::op_stream(mix, self.keys.stable.len(), 0xc0ffee + t as u64))
                    .collect();
                let mut states = vec![ChurnState::default(); threads];
                let mut runs = Vec::new();
                for _ in 0..options.runs {
                    let sample = adapter.settle().and_then(|()| {
                        workload::run(
                            adapter,
                            self.keys,
                            &streams,
                            &mut states,
                            None,
                            options.duration,
                        )
                    });
                    match sample {
                        Ok(s) => runs.push(s.ops_per_s),
                        Err(why) => return row.failed(why),
                    }
                }
                row.measured(median(&runs), runs)
            })
            .collect()
    }

    /// Per run: readers alone, then readers with the writer; both settle
    /// first (snapmap's read index rebuilt), so the two phases start alike.
    fn config<A: Adapter<K, S>>(&self, adapter: &A, options: &Options) -> Vec<Row> {
        let reads = Workload::ReadOnly.mix().expect("read-only has a mix");
        options
            .threads
            .iter()
            .map(|&threads| {
                let row = self.row(Workload::Config.name(), threads, Metric::OpsPerSec);
                let streams: Vec<_> = (0..threads)
                    .map(|t| {
                        workload::op_stream(reads, self.keys.stable.len(), 0xc0ffee + t as u64)
                    })
                    .collect();
                let mut states = vec![ChurnState::default(); threads];
                let mut plan = WriterPlan::new(
                    self.keys,
                    options.config_batch,
                    options.config_interval,
                    0xba7c4,
                );
                let (mut alone, mut with_writer, mut commits) =
                    (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..options.runs {
                    let phase = |writer: Option<&mut WriterPlan<K>>,
                                 states: &mut [ChurnState]|
                     -> Result<Sample, String> {
                        adapter.settle()?;
                        workload::run(
                            adapter,
                            self.keys,
                            &streams,
                            states,
                            writer,
                            options.duration,
                        )
                    };
                    let both = phase(None, &mut states)
                        .and_then(|a| Ok((a, phase(Some(&mut plan), &mut states)?)));
                    match both {
                        Ok((a, w)) => {
                            alone.push(a.ops_per_s);
                            with_writer.push(w.ops_per_s);
                            commits.push(w.commits_per_s);
                        }
                        Err(why) => return row.failed(why),
                    }
                }
                let mut row = row.measured(median(&with_writer), with_writer);
                row.no_writer_ops = Some(median(&alone));
                row.writer_commits = Some(median(&commits));
                row
            })
            .collect()
    }

    fn write_cost<A: Adapter<K, S>>(&self, adapter: &A, options: &Options) -> Vec<Row> {
        // Each run is capped so the slowest maps (a full clone per commit
        // at 1M keys) stay within the suite's budget.
        let budget = options.duration.min(Duration::from_millis(100));
        [Commit::One, Commit::Thousand]
            .into_iter()
            .map(|commit| {
                let row = self.row(commit.name(), 1, Metric::NanosPerCommit);
                let mut runs = Vec::new();
                for run in 0..options.runs {
                    match workload::write_cost(
                        adapter,
                        self.keys,
                        commit,
                        budget,
                        0xfeed + run as u64,
                    ) {
                        Ok(ns) => runs.push(ns),
                        Err(why) => return row.failed(why),
                    }
                }
                row.measured(median(&runs), runs)
            })
            .collect()
    }
}
