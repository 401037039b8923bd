//! The results: the table printed at the end, the CSV file, and the
//! DESIGN.md performance targets read off the table.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::suite::REFERENCE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Throughput, all threads together; higher is better.
    OpsPerSec,
    /// Mean latency of one commit; lower is better.
    NanosPerCommit,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub workload: String,
    pub keys: String,
    pub map: &'static str,
    pub threads: usize,
    pub metric: Metric,
    /// Median over the runs; `None` if the map failed.
    pub value: Option<f64>,
    pub runs: Vec<f64>,
    /// Config workload: reader throughput without the writer.
    pub no_writer_ops: Option<f64>,
    /// Config workload: the writer's commits per second.
    pub writer_commits: Option<f64>,
    pub note: Option<String>,
    pub failure: Option<String>,
}

/// Rows of several rounds of the same suite, pooled per measurement: the
/// runs of every round together, the median recomputed over all of them.
/// A failure in any round fails the measurement.
#[derive(Default)]
pub struct Pool {
    rows: Vec<Pooled>,
}

struct Pooled {
    row: Row,
    no_writer: Vec<f64>,
    commits: Vec<f64>,
}

impl Pool {
    pub fn add(&mut self, rows: Vec<Row>) {
        for row in rows {
            let same = |p: &&mut Pooled| {
                p.row.workload == row.workload
                    && p.row.keys == row.keys
                    && p.row.map == row.map
                    && p.row.threads == row.threads
            };
            match self.rows.iter_mut().find(same) {
                Some(pooled) => {
                    pooled.row.runs.extend(&row.runs);
                    pooled.no_writer.extend(row.no_writer_ops);
                    pooled.commits.extend(row.writer_commits);
                    if pooled.row.failure.is_none() {
                        pooled.row.failure = row.failure;
                    }
                }
                None => self.rows.push(Pooled {
                    no_writer: row.no_writer_ops.into_iter().collect(),
                    commits: row.writer_commits.into_iter().collect(),
                    row,
                }),
            }
        }
    }

    pub fn rows(self) -> Vec<Row> {
        self.rows
            .into_iter()
            .map(|mut p| {
                if p.row.failure.is_some() {
                    p.row.value = None;
                } else if !p.row.runs.is_empty() {
                    p.row.value = Some(median(&p.row.runs));
                }
                p.row.no_writer_ops = (!p.no_writer.is_empty()).then(|| median(&p.no_writer));
                p.row.writer_commits = (!p.commits.is_empty()).then(|| median(&p.commits));
                p.row
            })
            .collect()
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Row {
    pub fn new(
        workload: &str,
        keys: String,
        map: &'static str,
        threads: usize,
        metric: Metric,
    ) -> Self {
        Self {
            workload: workload.to_string(),
            keys,
            map,
            threads,
            metric,
            value: None,
            runs: Vec::new(),
            no_writer_ops: None,
            writer_commits: None,
            note: None,
            failure: None,
        }
    }

    pub fn measured(mut self, value: f64, runs: Vec<f64>) -> Self {
        self.value = Some(value);
        self.runs = runs;
        self
    }

    pub fn failed(mut self, why: String) -> Self {
        self.failure = Some(why);
        self
    }

    /// How fast this map is relative to snapmap in the same cell (>1:
    /// faster than snapmap).
    pub fn speed_vs_snapmap(&self, rows: &[Row]) -> Option<f64> {
        let reference = rows.iter().find(|r| {
            r.workload == self.workload
                && r.keys == self.keys
                && r.threads == self.threads
                && (r.map == REFERENCE
                    || (r.map == "snapmap" && self.metric == Metric::NanosPerCommit))
        })?;
        let (mine, theirs) = (self.value?, reference.value?);
        Some(match self.metric {
            Metric::OpsPerSec => mine / theirs,
            Metric::NanosPerCommit => theirs / mine,
        })
    }

    fn relative_to_no_writer(&self) -> Option<f64> {
        Some(self.value? / self.no_writer_ops?)
    }
}

/// Puts rows of one cell (workload, keys, threads) together, cells in the
/// order they first ran, maps in the order they ran.
pub fn group_rows(rows: &mut [Row]) {
    let cell = |r: &Row| (r.workload.clone(), r.keys.clone(), r.threads);
    let firsts: Vec<_> = rows.iter().map(cell).collect();
    let first_of = |r: &Row| {
        firsts
            .iter()
            .position(|c| *c == cell(r))
            .unwrap_or(usize::MAX)
    };
    rows.sort_by_cached_key(first_of);
}

pub fn ops(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn nanos(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn result(row: &Row) -> String {
    match (row.value, row.metric) {
        (None, _) => "FAILED".to_string(),
        (Some(v), Metric::OpsPerSec) => ops(v),
        (Some(v), Metric::NanosPerCommit) => nanos(v),
    }
}

fn notes(row: &Row) -> String {
    if let Some(why) = &row.failure {
        return format!("FAILED: {why}");
    }
    let mut notes = Vec::new();
    if let (Some(alone), Some(rel)) = (row.no_writer_ops, row.relative_to_no_writer()) {
        notes.push(format!("{rel:.2}x of no-writer ({})", ops(alone)));
    }
    if let Some(c) = row.writer_commits {
        notes.push(format!("writer {} commits/s", ops(c)));
    }
    notes.extend(row.note.clone());
    notes.join("; ")
}

/// The table printed at the end of a run.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "workload",
        "keys",
        "map",
        "thr",
        "result",
        "vs snapmap",
        "notes",
    ];
    let body: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.workload.clone(),
                r.keys.clone(),
                r.map.to_string(),
                r.threads.to_string(),
                result(r),
                r.speed_vs_snapmap(rows)
                    .map_or("-".into(), |x| format!("{x:.2}x")),
                notes(r),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for line in &body {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Numbers right-aligned, words left-aligned.
            if (3..=5).contains(&i) {
                let _ = write!(out, "{}{cell}  ", " ".repeat(pad));
            } else if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell}{}  ", " ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&head.map(String::from), &mut out);
    let mut last = None;
    for (row, cells) in rows.iter().zip(&body) {
        if last.is_some() && last != Some((&row.workload, &row.keys, row.threads)) {
            out.push('\n');
        }
        last = Some((&row.workload, &row.keys, row.threads));
        line(cells, &mut out);
    }
    out.push_str(&format!(
        "\nresult: ops/s of all threads (median of runs), or mean latency per commit (write-cost).\n\
         vs snapmap: this map's speed relative to {REFERENCE} in the same workload, keys and threads\n\
         (write-cost: relative to snapmap's commit); above 1.00x = faster than snapmap.\n"
    ));
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_csv(path: &Path, rows: &[Row], hasher: &str, index: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = String::from(
        "workload,keys,map,threads,metric,value,vs_snapmap,runs,no_writer_ops_per_s,\
         relative_to_no_writer,writer_commits_per_s,hasher,index,note,status,failure\n",
    );
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for r in rows {
        let runs: Vec<String> = r.runs.iter().map(|v| format!("{v:.1}")).collect();
        let fields = [
            r.workload.clone(),
            r.keys.clone(),
            r.map.to_string(),
            r.threads.to_string(),
            match r.metric {
                Metric::OpsPerSec => "ops_per_s".into(),
                Metric::NanosPerCommit => "ns_per_commit".into(),
            },
            num(r.value),
            num(r.speed_vs_snapmap(rows)),
            runs.join(";"),
            num(r.no_writer_ops),
            num(r.relative_to_no_writer()),
            num(r.writer_commits),
            hasher.to_string(),
            index.to_string(),
            r.note.clone().unwrap_or_default(),
            if r.failure.is_some() { "FAILED" } else { "ok" }.to_string(),
            r.failure.clone().unwrap_or_default(),
        ];
        let fields: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    std::fs::write(path, out)
}

/// One DESIGN.md performance target, read off the rows.
#[derive(Debug)]
pub struct Target {
    pub what: String,
    pub measured: Option<f64>,
    pub required: String,
    pub met: Option<bool>,
}

fn is_peer(map: &str) -> bool {
    !map.starts_with("snapmap") && !map.starts_with("floor-")
}

/// The DESIGN.md targets that the rows have the cells for.
pub fn targets(rows: &[Row]) -> Vec<Target> {
    let value = |w: &str, keys: &str, map: &str, t: usize| {
        rows.iter()
            .find(|r| r.workload == w && r.keys == keys && r.map == map && r.threads == t)
            .and_then(|r| r.value)
    };
    let ran = |w: &str, keys: &str, map: &str, t: usize| {
        rows.iter()
            .any(|r| r.workload == w && r.keys == keys && r.map == map && r.threads == t)
    };
    let fastest_peer = |w: &str, keys: &str, t: usize| {
        rows.iter()
            .filter(|r| r.workload == w && r.keys == keys && r.threads == t && is_peer(r.map))
            .filter_map(|r| Some((r.map, r.value?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut out = Vec::new();
    // `measured` is `None` when the cells were not run (no line), and
    // `Some(None)` when they were but a map failed.
    let mut at_least = |what: String, measured: Option<Option<f64>>, min: f64| {
        let Some(measured) = measured else { return };
        out.push(Target {
            what,
            met: measured.map(|m| m >= min),
            measured,
            required: format!(">= {min:.2}x"),
        });
    };
    let mut cells: Vec<(String, String, usize)> = rows
        .iter()
        .filter(|r| r.map == REFERENCE && r.keys.starts_with("u64"))
        .map(|r| (r.workload.clone(), r.keys.clone(), r.threads))
        .collect();
    cells.dedup();
    for (w, keys, t) in &cells {
        let reader = value(w, keys, REFERENCE, *t);
        let ratio = |other: Option<f64>| Some(reader? / other?);
        let at = format!("{w} {keys} {t}thr");
        match w.as_str() {
            "read-only" => {
                if let Some((name, v)) = fastest_peer(w, keys, *t) {
                    at_least(
                        format!("{at}: reader vs fastest peer ({name})"),
                        Some(ratio(Some(v))),
                        1.0,
                    );
                }
                at_least(
                    format!("{at}: reader vs pl-rwlock"),
                    ran(w, keys, "pl-rwlock", *t).then(|| ratio(value(w, keys, "pl-rwlock", *t))),
                    3.0,
                );
                // "within 1.25x of a flat table": snapmap >= 1/1.25 of it.
                at_least(
                    format!("{at}: reader vs floor-hashmap (within 1.25x)"),
                    ran(w, keys, "floor-hashmap", *t)
                        .then(|| ratio(value(w, keys, "floor-hashmap", *t))),
                    0.8,
                );
            }
            "read-99" => {
                at_least(
                    format!("{at}: reader vs pl-rwlock"),
                    ran(w, keys, "pl-rwlock", *t).then(|| ratio(value(w, keys, "pl-rwlock", *t))),
                    1.0,
                );
                if let Some((name, v)) = fastest_peer(w, keys, *t) {
                    at_least(
                        format!("{at}: reader vs fastest peer ({name})"),
                        Some(ratio(Some(v))),
                        0.5,
                    );
                }
            }
            "config" => {
                let row = rows.iter().find(|r| {
                    &r.workload == w && &r.keys == keys && r.map == REFERENCE && r.threads == *t
                });
                at_least(
                    format!("{at}: reader with writer vs no writer"),
                    row.map(Row::relative_to_no_writer),
                    0.8,
                );
            }
            _ => {}
        }
    }
    let cost = |w: &str, keys: &str, map: &str| value(w, keys, map, 1);
    let mut at_most = |what: String, measured: Option<Option<f64>>, max: f64| {
        let Some(measured) = measured else { return };
        out.push(Target {
            what,
            met: measured.map(|m| m <= max),
            measured,
            required: format!("<= {max:.2}x"),
        });
    };
    let (one, thousand) = ("write-cost/1-key", "write-cost/1000-key");
    if let (Some(big), Some(small)) = (
        cost(one, "u64:1m", "snapmap"),
        cost(one, "u64:1k", "snapmap"),
    ) {
        at_most(
            "write-cost: 1-key commit at 1m vs at 1k".into(),
            Some(Some(big / small)),
            2.0,
        );
    }
    let mut sizes: Vec<&str> = rows
        .iter()
        .filter(|r| r.workload == thousand && r.map == "snapmap")
        .map(|r| r.keys.as_str())
        .collect();
    sizes.dedup();
    for keys in sizes {
        if let Some(bare) = cost(thousand, keys, "floor-imbl") {
            let snap = cost(thousand, keys, "snapmap");
            at_most(
                format!("write-cost {keys}: 1000-key commit vs bare imbl inserts"),
                Some(snap.map(|s| s / bare)),
                1.25,
            );
        }
    }
    out
}

pub fn targets_table(targets: &[Target]) -> String {
    let width = targets
        .iter()
        .map(|t| t.what.chars().count())
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "{:width$}  measured  required  status\n",
        "DESIGN.md target"
    );
    for t in targets {
        let measured = t.measured.map_or("-".into(), |m| format!("{m:.2}x"));
        let status = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a (failed)",
        };
        let _ = writeln!(
            out,
            "{:width$}  {measured:>8}  {:>8}  {status}",
            t.what, t.required
        );
    }
    out
}
