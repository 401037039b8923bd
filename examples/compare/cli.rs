//! Command-line flags (lexopt). Bad flags are reported with a clear message
//! and exit code 2 by `main`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lexopt::prelude::*;

use crate::adapters::IndexPolicy;
use crate::suite::MAPS;
use crate::workload::Workload;

pub const USAGE: &str = "\
compare: snapmap against the maps you would otherwise pick, on read-heavy workloads

USAGE:
    cargo run --release --example compare -- [FLAGS]

With no flags, runs the default suite (about a minute on 2 cores) and prints a table.

FLAGS:
    --workload LIST   comma-separated: read-only, read-99.9, read-99, mix-98, write-heavy,
                      config, write-cost, or `all` (default: the default suite)
    --maps LIST       comma-separated map names, `snapmap` (all snapmap variants),
                      `peers`, `floors` or `all` (default: each workload's usual set)
    --threads LIST    worker threads, e.g. 1,2 (default: the core count)
    --keys LIST       key sets TYPE:COUNT, TYPE u64 (random) or str (config-like dotted
                      keys), COUNT with k/m suffixes, e.g. u64:49k,u64:1m,str:10k
                      (default: each workload's usual sets; write-cost uses the counts
                      as map sizes)
    --duration D      length of one timed run: 250ms, 1s, 1.5 (seconds) (default 200ms)
    --runs N          timed runs per measurement; the median is reported (default 3)
    --rounds N        run the whole suite N times and pool each measurement's runs, so a
                      slow phase of a noisy machine hits every map alike (default 1)
    --hasher H        fold (foldhash, the default) or sip (std SipHash) for every map, or
                      default: each map's own default (snapmap foldhash, all others SipHash)
    --index P         snapmap's read index: off, eager, background, default (default:
                      the crate's ReadIndex::default())
    --config-batch N  keys per commit of the config workload's writer (default 8)
    --config-interval-us T
                      µs between the config writer's commits, 0 = back to back (default 1000)
    --csv PATH        results table as CSV (default target/compare/results.csv)
    --svg PATH        chart as SVG, or `none` (default target/compare/results.svg)
    --list            list the maps and workloads and exit
    -h, --help        this help
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    U64,
    Str,
}

/// One key set: type and number of present keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub kind: KeyKind,
    pub len: usize,
}

impl KeySpec {
    pub const fn u64s(len: usize) -> Self {
        Self {
            kind: KeyKind::U64,
            len,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            KeyKind::U64 => "u64",
            KeyKind::Str => "str",
        };
        write!(f, "{kind}:{}", count(self.len))
    }
}

/// 49000 -> `49k`, 1000000 -> `1m`, 1500 -> `1500`.
pub fn count(n: usize) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}m", n / 1_000_000)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn parse_count(s: &str) -> Result<usize, String> {
    let (digits, scale) = match s.to_ascii_lowercase() {
        l if l.ends_with('k') => (l[..l.len() - 1].to_string(), 1000),
        l if l.ends_with('m') => (l[..l.len() - 1].to_string(), 1_000_000),
        l => (l, 1),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a count (e.g. 1000, 49k, 1m)"))?;
    if n == 0 {
        return Err("a key count must be at least 1".into());
    }
    Ok(n * scale)
}

impl FromStr for KeySpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, n) = match s.split_once(':') {
            Some(("u64", n)) => (KeyKind::U64, n),
            Some(("str", n)) => (KeyKind::Str, n),
            Some((other, _)) => {
                return Err(format!(
                    "unknown key type `{other}` in `{s}` (use u64 or str)"
                ))
            }
            None => (KeyKind::U64, s),
        };
        Ok(KeySpec {
            kind,
            len: parse_count(n)?,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasherChoice {
    /// foldhash for every map.
    Fold,
    /// std SipHash for every map.
    Sip,
    /// Each map's own default: foldhash for snapmap, SipHash for the rest.
    Default,
}

#[derive(Debug)]
pub struct Options {
    /// `None`: the default suite.
    pub workloads: Option<Vec<Workload>>,
    /// `None`: each workload's usual maps.
    pub maps: Option<Vec<&'static str>>,
    pub threads: Vec<usize>,
    /// `None`: each workload's usual key sets.
    pub keys: Option<Vec<KeySpec>>,
    pub duration: Duration,
    pub runs: usize,
    /// Passes over the whole suite; each measurement pools its runs.
    pub rounds: usize,
    pub hasher: HasherChoice,
    pub index: IndexPolicy,
    pub config_batch: usize,
    pub config_interval: Duration,
    pub csv: PathBuf,
    pub svg: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
    List,
}

fn list<T>(s: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    let items: Vec<T> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(item)
        .collect::<Result<_, _>>()?;
    if items.is_empty() {
        return Err("empty list".into());
    }
    Ok(items)
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (e.g. 250ms, 1s, 1.5)");
    let (number, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let secs: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs * unit))
}

fn workload(s: &str) -> Result<Vec<Workload>, String> {
    if s == "all" {
        return Ok(Workload::ALL.to_vec());
    }
    Workload::ALL
        .into_iter()
        .find(|w| w.name() == s)
        .map(|w| vec![w])
        .ok_or_else(|| {
            let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
            format!("unknown workload `{s}` (one of: {}, all)", names.join(", "))
        })
}

fn maps(s: &str) -> Result<Vec<&'static str>, String> {
    let picked: Vec<&'static str> = match s {
        "all" => MAPS.iter().map(|m| m.name).collect(),
        "snapmap" => MAPS
            .iter()
            .filter(|m| m.name.starts_with("snapmap"))
            .map(|m| m.name)
            .collect(),
        "floors" => MAPS
            .iter()
            .filter(|m| m.name.starts_with("floor-"))
            .map(|m| m.name)
            .collect(),
        "peers" => MAPS
            .iter()
            .filter(|m| !m.name.starts_with("snapmap") && !m.name.starts_with("floor-"))
            .map(|m| m.name)
            .collect(),
        name => match MAPS.iter().find(|m| m.name == name) {
            Some(m) => vec![m.name],
            None => {
                let names: Vec<_> = MAPS.iter().map(|m| m.name).collect();
                return Err(format!(
                    "unknown map `{name}` (one of: {}, or snapmap, peers, floors, all)",
                    names.join(", ")
                ));
            }
        },
    };
    Ok(picked)
}

fn with<T>(flag: &str, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{flag}: {e}"))
}

fn positive(s: &str, what: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{what} must be a positive integer, not `{s}`")),
    }
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub fn parse(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    target_dir: PathBuf,
) -> Result<Command, String> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut options = Options {
        workloads: None,
        maps: None,
        threads: vec![default_threads()],
        keys: None,
        duration: Duration::from_millis(200),
        runs: 3,
        rounds: 1,
        hasher: HasherChoice::Fold,
        index: IndexPolicy::Default,
        config_batch: 8,
        config_interval: Duration::from_micros(1000),
        csv: target_dir.join("compare/results.csv"),
        svg: Some(target_dir.join("compare/results.svg")),
    };
    let err = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(err)? {
        let flag = match arg {
            Long(f) => format!("--{f}"),
            Short(c) => format!("-{c}"),
            Value(v) => {
                return Err(format!(
                    "unexpected argument `{}` (flags start with --)",
                    v.to_string_lossy()
                ))
            }
        };
        let mut value = || -> Result<String, String> {
            parser
                .value()
                .map_err(|_| format!("{flag} needs a value"))?
                .into_string()
                .map_err(|v| format!("{flag}: `{}` is not UTF-8", v.to_string_lossy()))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list" => return Ok(Command::List),
            "--workload" | "--workloads" => {
                let mut picked: Vec<Workload> = with(&flag, list(&value()?, workload))?.concat();
                picked.sort();
                picked.dedup();
                options.workloads = Some(picked);
            }
            "--maps" | "--map" => {
                let mut picked: Vec<&'static str> = with(&flag, list(&value()?, maps))?.concat();
                picked.dedup();
                options.maps = Some(picked);
            }
            "--threads" => {
                options.threads = with(&flag, list(&value()?, |s| positive(s, "a thread count")))?
            }
            "--keys" => options.keys = Some(with(&flag, list(&value()?, KeySpec::from_str))?),
            "--duration" => options.duration = with(&flag, parse_duration(&value()?))?,
            "--runs" => options.runs = with(&flag, positive(&value()?, "the run count"))?,
            "--rounds" => options.rounds = with(&flag, positive(&value()?, "the round count"))?,
            "--hasher" => {
                options.hasher = match value()?.as_str() {
                    "fold" | "foldhash" => HasherChoice::Fold,
                    "sip" | "siphash" | "std" => HasherChoice::Sip,
                    "default" => HasherChoice::Default,
                    other => {
                        return Err(format!(
                            "--hasher: unknown hasher `{other}` (fold, sip or default)"
                        ))
                    }
                }
            }
            "--index" => {
                options.index = match value()?.as_str() {
                    "off" => IndexPolicy::Off,
                    "eager" => IndexPolicy::Eager,
                    "background" => IndexPolicy::Background,
                    "default" => IndexPolicy::Default,
                    other => {
                        return Err(format!(
                            "--index: unknown policy `{other}` (off, eager, background or default)"
                        ))
                    }
                }
            }
            "--config-batch" => {
                options.config_batch = with(&flag, positive(&value()?, "the batch size"))?
            }
            "--config-interval-us" => {
                let v = value()?;
                let us: u64 = v
                    .parse()
                    .map_err(|_| format!("{flag}: `{v}` is not a whole number of microseconds"))?;
                options.config_interval = Duration::from_micros(us);
            }
            "--csv" => options.csv = PathBuf::from(value()?),
            "--svg" => {
                let v = value()?;
                options.svg = (v != "none").then(|| PathBuf::from(v));
            }
            _ => return Err(format!("unknown flag {flag} (see --help)")),
        }
    }
    if options
        .threads
        .iter()
        .any(|&t| t > crate::keys::MAX_THREADS)
    {
        return Err(format!(
            "--threads: at most {} threads",
            crate::keys::MAX_THREADS
        ));
    }
    Ok(Command::Run(Box::new(options)))
}
