//! A small "service" reads its config on every request, from several
//! threads, while this program edits the config file under it: a valid
//! edit, an invalid edit that is rejected, a value the validator refuses,
//! a rollback, and a final fix. It prints each version and each rejection,
//! and checks that no request ever saw a mix of two versions.
//!
//! ```text
//! cargo run --example config_reload --features config
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use snapmap::config::{ConfigSnapshot, ConfigStore};
use snapmap::{Change, Version};

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // reason: the struct is the schema; the service reads `http`
struct AppConfig {
    greeting: String,
    http: Http,
}

#[derive(Debug, Deserialize)]
struct Http {
    timeout_ms: u64,
    retries: u32,
}

/// Every file this example writes keeps `timeout_ms == retries * 100`, so a
/// request that saw half of one version and half of another would notice.
fn config(timeout_ms: u64) -> String {
    format!(
        "greeting = \"hello\"\n\n[http]\ntimeout_ms = {timeout_ms}\nretries = {}\n",
        timeout_ms / 100
    )
}

/// Saves as editors do: write a temporary file, rename it over the original.
fn save(path: &Path, text: &str) -> std::io::Result<()> {
    let temp = path.with_extension("toml.tmp");
    fs::write(&temp, text)?;
    fs::rename(&temp, path)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Result<(), Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn describe(snap: &ConfigSnapshot) -> String {
    format!(
        "v{} [{}] http.timeout_ms = {}, http.retries = {}",
        snap.version(),
        snap.content_hash().unwrap_or("-"),
        snap.value("http.timeout_ms")
            .map_or("-".into(), ToString::to_string),
        snap.value("http.retries")
            .map_or("-".into(), ToString::to_string),
    )
}

fn changes(new: &ConfigSnapshot, old: &ConfigSnapshot) -> String {
    let parts: Vec<String> = new
        .diff(old)
        .into_iter()
        .map(|change| match change {
            Change::Added(k, v) => format!("+{k} = {v}"),
            Change::Removed(k, _) => format!("-{k}"),
            Change::Updated(k, old, new) => format!("{k}: {old} -> {new}"),
        })
        .collect();
    parts.join(", ")
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("app.toml");
    save(&path, &config(500))?;

    let store = ConfigStore::builder()
        .defaults(serde_json::json!({ "http": { "retries": 1 } }))
        .file(&path)
        .env("CONFIG_RELOAD_EXAMPLE") // e.g. CONFIG_RELOAD_EXAMPLE__HTTP__TIMEOUT_MS=800
        .schema::<AppConfig>()
        .validator(|candidate| {
            let http: Http = candidate.extract("http")?;
            if !(100..=60_000).contains(&http.timeout_ms) {
                return Err(format!(
                    "http.timeout_ms = {} is outside 100..=60000",
                    http.timeout_ms
                )
                .into());
            }
            Ok(())
        })
        .debounce(Duration::from_millis(50))
        .build()?;
    let watcher = store.watch()?;
    let first = store.snapshot();
    println!("loaded   {}", describe(&first));

    // The service: four workers, each request reads the config it needs
    // from one snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let stop = Arc::clone(&stop);
            thread::spawn(move || -> Result<BTreeMap<Version, u64>, String> {
                let mut served = BTreeMap::new();
                while !stop.load(Ordering::Relaxed) {
                    let snap = store.snapshot();
                    let http: Http = snap.extract("http").map_err(|e| e.to_string())?;
                    if http.timeout_ms != u64::from(http.retries) * 100 {
                        return Err(format!("torn read in {}: {http:?}", snap.version()));
                    }
                    *served.entry(snap.version()).or_insert(0) += 1;
                    thread::sleep(Duration::from_micros(200));
                }
                Ok(served)
            })
        })
        .collect();

    let mut updates = store.subscribe();
    let mut last = first.clone();
    let mut next_version = |label: &str| -> Result<(), Box<dyn Error>> {
        let snap = ConfigSnapshot::from(
            updates
                .wait_timeout(Duration::from_secs(10))
                .ok_or("no new version")?,
        );
        println!(
            "{label}\n         published {}\n         changes: {}",
            describe(&snap),
            changes(&snap, &last)
        );
        last = snap;
        Ok(())
    };

    thread::sleep(Duration::from_millis(100));
    save(&path, &config(700))?;
    next_version("edit 1:  a valid edit (saved by rename)")?;

    let rejected = |n: u64| {
        let store = store.clone();
        move || store.stats().rejected >= n
    };
    thread::sleep(Duration::from_millis(100));
    fs::write(&path, "greeting = \"hello\"\n\n[http\ntimeout_ms = 900\n")?;
    wait_for("the invalid edit to be rejected", rejected(1))?;
    println!(
        "edit 2:  invalid TOML (written in place)\n         rejected: {}",
        store
            .last_error()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    println!("         still serving {}", describe(&store.snapshot()));

    thread::sleep(Duration::from_millis(100));
    save(&path, &config(0))?;
    wait_for("the out-of-range edit to be rejected", rejected(2))?;
    println!(
        "edit 3:  timeout_ms = 0\n         rejected: {}",
        store
            .last_error()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );

    thread::sleep(Duration::from_millis(100));
    store.rollback_to(first.version())?;
    next_version(&format!(
        "rollback: back to the content of v{}",
        first.version()
    ))?;

    thread::sleep(Duration::from_millis(100));
    save(&path, &config(900))?;
    next_version("edit 4:  the file is fixed (saved by rename)")?;
    thread::sleep(Duration::from_millis(100));

    stop.store(true, Ordering::Relaxed);
    let mut served: BTreeMap<Version, u64> = BTreeMap::new();
    for worker in workers {
        for (version, n) in worker.join().map_err(|_| "a worker panicked")?? {
            *served.entry(version).or_insert(0) += n;
        }
    }
    drop(watcher);

    let per_version: Vec<String> = served.iter().map(|(v, n)| format!("v{v}: {n}")).collect();
    println!(
        "requests served per version (none torn): {}",
        per_version.join(", ")
    );
    let stats = store.stats();
    println!(
        "reloads: {}, published: {}, rejected: {}, history: {:?}",
        stats.reloads,
        stats.published,
        stats.rejected,
        store.history().iter().map(|v| v.get()).collect::<Vec<_>>()
    );
    Ok(())
}
