//! `cargo run --release --example compare`: snapmap against the maps you
//! would otherwise pick, on read-heavy workloads, in one command.
//!
//! Prints a table (workload, keys, map, threads, ops/s as the median of
//! several runs, speed relative to snapmap), checks the DESIGN.md
//! performance targets it has cells for, and writes
//! `target/compare/results.csv` and `target/compare/results.svg`.
//! Every adapter's answers are checked while it runs; a map that gives a
//! wrong answer or panics is reported as FAILED in the table and in a
//! summary on stderr. The exit code is 1 when a snapmap variant failed (or
//! a file could not be written): a peer's failure is a finding about that
//! peer, reported, not an error of the run. Bad flags exit with code 2.
//! See `--help` and BENCHMARKS.md.

mod adapters;
mod chart;
mod cli;
mod keys;
mod report;
mod suite;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Command, HasherChoice, KeyKind, Options};
use crate::suite::{Ctx, MAPS};
use crate::workload::Workload;

/// Where `cargo` put this binary's target directory
/// (`<target>/release/examples/compare`), else `./target`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let examples = exe.parent()?;
            (examples.file_name()? == "examples")
                .then(|| examples.parent()?.parent().map(PathBuf::from))?
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args_os().skip(1), target_dir()) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::List) => {
            println!("maps:");
            for m in MAPS {
                println!("  {:15} {}", m.name, m.about);
            }
            println!("workloads:");
            for w in Workload::ALL {
                println!("  {:15} {}", w.name(), w.about());
            }
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("compare: {message}\n\nUsage: cargo run --release --example compare -- [FLAGS]  (--help for the flags)");
            return ExitCode::from(2);
        }
    };
    run(&options)
}

fn run(options: &Options) -> ExitCode {
    let groups = suite::plan(options);
    if groups.is_empty() {
        eprintln!("compare: no map selected by --maps runs in the selected workloads (see --list)");
        return ExitCode::from(2);
    }
    let hasher = match options.hasher {
        HasherChoice::Fold => "fold",
        HasherChoice::Sip => "sip",
        HasherChoice::Default => "default (snapmap fold, others sip)",
    };
    let threads: Vec<String> = options.threads.iter().map(ToString::to_string).collect();
    eprintln!(
        "compare: {} round(s) of {} runs of {:?} per measurement, threads {}, hasher {hasher}, snapmap index {}",
        options.rounds,
        options.runs,
        options.duration,
        threads.join(","),
        options.index
    );
    let per_round: u64 = groups.iter().map(|g| suite::rows_in(g, options)).sum();
    let total = per_round * options.rounds as u64;
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut pooled = report::Pool::default();
    for _ in 0..options.rounds {
        let rows = run_round(options, &groups, &progress);
        pooled.add(rows);
    }
    progress.finish_and_clear();
    let mut rows = pooled.rows();
    report::group_rows(&mut rows);
    print_and_write(options, hasher, &rows, started)
}

/// One pass over every group of the suite.
fn run_round(
    options: &Options,
    groups: &[suite::Group],
    progress: &ProgressBar,
) -> Vec<report::Row> {
    let mut ctx = Ctx {
        options,
        progress,
        rows: Vec::new(),
    };
    for group in groups {
        type Fold = foldhash::fast::RandomState;
        type Sip = std::hash::RandomState;
        match (group.keys.kind, options.hasher) {
            (KeyKind::U64, HasherChoice::Fold) => {
                suite::run_group::<u64, Fold, Fold>(&mut ctx, group)
            }
            (KeyKind::U64, HasherChoice::Sip) => suite::run_group::<u64, Sip, Sip>(&mut ctx, group),
            (KeyKind::U64, HasherChoice::Default) => {
                suite::run_group::<u64, Fold, Sip>(&mut ctx, group)
            }
            (KeyKind::Str, HasherChoice::Fold) => {
                suite::run_group::<String, Fold, Fold>(&mut ctx, group)
            }
            (KeyKind::Str, HasherChoice::Sip) => {
                suite::run_group::<String, Sip, Sip>(&mut ctx, group)
            }
            (KeyKind::Str, HasherChoice::Default) => {
                suite::run_group::<String, Fold, Sip>(&mut ctx, group)
            }
        }
    }
    ctx.rows
}

fn print_and_write(
    options: &Options,
    hasher: &str,
    rows: &[report::Row],
    started: Instant,
) -> ExitCode {
    let rows = rows.to_vec();
    println!(
        "snapmap compare: hasher {hasher}, snapmap read index {}, {} x {:?} runs (median){}, {:.0} s\n",
        options.index,
        options.runs * options.rounds,
        options.duration,
        if options.rounds > 1 {
            format!(" pooled over {} rounds", options.rounds)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    print!("{}", report::table(&rows));
    let targets = report::targets(&rows);
    if !targets.is_empty() {
        println!("\n{}", report::targets_table(&targets));
    }

    let mut code = ExitCode::SUCCESS;
    let index = options.index.to_string();
    match report::write_csv(&options.csv, &rows, hasher, &index) {
        Ok(()) => println!("wrote {}", options.csv.display()),
        Err(e) => {
            eprintln!("compare: could not write {}: {e}", options.csv.display());
            code = ExitCode::FAILURE;
        }
    }
    if let Some(svg) = &options.svg {
        match chart::write_svg(svg, &rows) {
            Ok(()) => println!("wrote {}", svg.display()),
            Err(e) => {
                eprintln!("compare: could not write {}: {e}", svg.display());
                code = ExitCode::FAILURE;
            }
        }
    }
    let failed: Vec<&report::Row> = rows.iter().filter(|r| r.failure.is_some()).collect();
    for row in &failed {
        eprintln!(
            "compare: FAILED {} {} {} {}thr: {}",
            row.workload,
            row.keys,
            row.map,
            row.threads,
            row.failure.as_deref().unwrap_or_default()
        );
    }
    if failed.iter().any(|r| r.map.starts_with("snapmap")) {
        code = ExitCode::FAILURE;
    }
    code
}
