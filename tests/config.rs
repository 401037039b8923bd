//! The config store without the watcher: flattening, layering, environment
//! overrides, typed reads and their errors, reloads (publish only changes,
//! content-hash labels, last good kept), bad inputs, rollback. Real files in
//! temporary directories throughout.

#![cfg(feature = "config")]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use snapmap::config::{
    ConfigError, ConfigSnapshot, ConfigStore, EnvSource, FileSource, Format, Origin,
};
use snapmap::{Change, Version};
use tempfile::TempDir;

fn write(path: &Path, text: impl AsRef<[u8]>) {
    fs::write(path, text).unwrap();
}

/// A temporary directory holding `name` with `text`.
fn file(name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    write(&path, text);
    (dir, path)
}

fn store(path: &Path) -> ConfigStore {
    ConfigStore::builder().file(path).build().unwrap()
}

fn v(n: u64) -> Version {
    Version::new(n)
}

const APP: &str = r#"
name = "svc"

[http]
timeout_ms = 500
host = "example"
hosts = ["a", "b"]

[http.tls]
cert = "/etc/cert.pem"

[empty]

[[servers]]
name = "one"
port = 80

[[servers]]
name = "two"
port = 81
"#;

#[test]
fn handles_are_send_sync_static() {
    fn check<T: Send + Sync + 'static>() {}
    check::<ConfigStore>();
    check::<ConfigSnapshot>();
    check::<ConfigError>();
    check::<snapmap::config::WatchGuard>();
}

#[test]
fn nested_tables_flatten_to_dotted_keys() {
    let (_dir, path) = file("app.toml", APP);
    let store = store(&path);
    let snap = store.snapshot();

    assert_eq!(snap.value("http.timeout_ms"), Some(&json!(500)));
    assert_eq!(snap.value("http.tls.cert"), Some(&json!("/etc/cert.pem")));
    assert_eq!(
        snap.value("http.hosts"),
        Some(&json!(["a", "b"])),
        "arrays are values"
    );
    assert_eq!(
        snap.value("empty"),
        Some(&json!({})),
        "an empty table is kept"
    );
    assert_eq!(
        snap.value("servers")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(snap.value("http"), None, "a table is not an entry");
    assert!(snap.contains("http") && snap.contains("http.tls") && !snap.contains("htt"));

    let keys: Vec<&str> = snap.entries("http").map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "http.host",
            "http.hosts",
            "http.timeout_ms",
            "http.tls.cert"
        ]
    );
    assert_eq!(snap.entries("").count(), snap.len());
    assert_eq!(snap.len(), 7);

    // The whole document, and any table, is reachable by its prefix.
    let doc: Value = snap.extract("").unwrap();
    assert_eq!(doc["http"]["tls"], json!({ "cert": "/etc/cert.pem" }));
    assert_eq!(doc["servers"][1], json!({ "name": "two", "port": 81 }));
    assert_eq!(doc["empty"], json!({}));
    let tls: Value = store.get("http.tls").unwrap();
    assert_eq!(tls, json!({ "cert": "/etc/cert.pem" }));
}

#[test]
fn prefix_reads_do_not_leak_into_sibling_keys() {
    let (_dir, path) = file(
        "app.toml",
        "http = 1\n[http-x]\na = 2\n[https]\nb = 3\n[http2]\nc = 4\n",
    );
    let snap = store(&path).snapshot();
    let keys: Vec<&str> = snap.entries("http").map(|(k, _)| k).collect();
    assert_eq!(keys, ["http"]);
    assert_eq!(snap.get::<u32>("http").unwrap(), 1);
    assert_eq!(snap.entries("https").count(), 1);
}

#[test]
fn json_files_and_stated_formats() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("app.json");
    write(
        &json_path,
        r#"{ "http": { "timeout_ms": 700, "tags": [{"b": 1, "a": 2}] } }"#,
    );
    let conf = dir.path().join("app.conf");
    write(&conf, "[http]\nretries = 3\n");

    let store = ConfigStore::builder()
        .file(&json_path)
        .file(FileSource::new(&conf).format(Format::Toml))
        .build()
        .unwrap();
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 700);
    assert_eq!(store.get::<u8>("http.retries").unwrap(), 3);

    let error = ConfigStore::builder().file(&conf).build().unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownFormat { path } if *path == conf),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("app.conf") && error.to_string().contains("FileSource::format")
    );
}

#[derive(Debug, Deserialize, PartialEq)]
struct Http {
    timeout_ms: u64,
    host: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Server {
    name: String,
    port: u16,
}

#[test]
fn typed_reads() {
    let (_dir, path) = file("app.toml", APP);
    let store = store(&path);
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 500);
    assert_eq!(store.get::<Vec<String>>("http.hosts").unwrap(), ["a", "b"]);
    assert_eq!(
        store.extract::<Http>("http").unwrap(),
        Http {
            timeout_ms: 500,
            host: "example".into()
        }
    );
    assert_eq!(
        store.get::<Http>("http").unwrap().timeout_ms,
        500,
        "get reads tables too"
    );
    let servers: Vec<Server> = store.get("servers").unwrap();
    assert_eq!(
        servers[1],
        Server {
            name: "two".into(),
            port: 81
        }
    );
    assert_eq!(store.get::<Option<u64>>("http.nope").unwrap(), None);
    assert_eq!(
        store.get::<Option<u64>>("http.timeout_ms").unwrap(),
        Some(500)
    );
    assert_eq!(
        store.get::<String>("http.timeout_ms").unwrap(),
        "500",
        "numbers fill strings"
    );
    assert_eq!(store.value("name"), Some(json!("svc")));

    // An absent table extracts as an empty one: serde defaults fill it.
    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Cache {
        size: u32,
        enabled: bool,
    }
    assert_eq!(store.extract::<Cache>("cache").unwrap(), Cache::default());
    // ... while `get` says it is missing.
    let error = store.get::<Cache>("cache").unwrap_err();
    assert!(
        matches!(&error, ConfigError::MissingKey { key, .. } if key == "cache"),
        "{error:?}"
    );
}

#[test]
fn typed_read_errors_name_key_expected_and_found() {
    let (_dir, path) = file(
        "app.toml",
        r#"
[http]
timeout_ms = "fast"
host = "example"
small = 300
mode = "turbo"

[[servers]]
name = "one"
port = 80

[[servers]]
name = "two"
port = "eighty-one"
"#,
    );
    let store = store(&path);
    let version = store.version();

    let error = store.get::<u64>("http.timeout_ms").unwrap_err();
    match &error {
        ConfigError::WrongType {
            key,
            expected,
            found,
            version: at,
        } => {
            assert_eq!(key, "http.timeout_ms");
            assert_eq!(expected, "u64");
            assert_eq!(found, "string \"fast\"");
            assert_eq!(*at, version);
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "config key \"http.timeout_ms\": expected u64, found string \"fast\" (in version 0)"
    );
    assert_eq!(error.key(), Some("http.timeout_ms"));

    // Inside a struct: the field's full key.
    let error = store.extract::<Http>("http").unwrap_err();
    assert_eq!(error.key(), Some("http.timeout_ms"), "{error}");
    assert!(
        error
            .to_string()
            .contains("expected u64, found string \"fast\""),
        "{error}"
    );

    // Inside an array of tables: the element's index.
    let error = store.get::<Vec<Server>>("servers").unwrap_err();
    assert_eq!(error.key(), Some("servers[1].port"), "{error}");
    assert!(error.to_string().contains("expected u16"), "{error}");

    // Out of range.
    let error = store.get::<u8>("http.small").unwrap_err();
    assert!(
        matches!(&error, ConfigError::WrongType { expected, found, .. }
        if expected == "u8" && found == "integer `300`"),
        "{error:?}"
    );

    // Unknown enum variant.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }
    let error = store.get::<Mode>("http.mode").unwrap_err();
    assert!(
        matches!(&error, ConfigError::WrongType { key, expected, found, .. }
        if key == "http.mode" && expected == "one of `fast`, `slow`" && found == "variant `turbo`"),
        "{error:?}"
    );

    // Missing key, and missing field of a struct.
    let error = store.get::<u64>("http.retries").unwrap_err();
    assert!(
        matches!(&error, ConfigError::MissingKey { key, .. } if key == "http.retries"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "config key \"http.retries\" is missing (in version 0)"
    );
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // reason: only deserialized, to provoke a missing-field error
    struct Strict {
        host: String,
        retries: u32,
    }
    let error = store.extract::<Strict>("http").unwrap_err();
    assert_eq!(error.key(), Some("http.retries"), "{error:?}");

    // A key the struct does not have.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // reason: only deserialized, to provoke an unknown-field error
    struct Narrow {
        name: String,
    }
    let error = store.extract::<Narrow>("").unwrap_err();
    assert!(
        error.key().is_some_and(|k| k == "http" || k == "servers"),
        "{error:?}"
    );
    assert!(error.to_string().contains("`name`"), "{error}");

    // A table where a scalar is expected, and the reverse.
    let error = store.get::<u64>("http").unwrap_err();
    assert!(
        matches!(&error, ConfigError::WrongType { key, found, .. } if key == "http" && found == "map"),
        "{error:?}"
    );
    let error = store.get::<Http>("http.host").unwrap_err();
    assert!(
        matches!(&error, ConfigError::WrongType { expected, .. } if expected == "struct Http"),
        "{error:?}"
    );
}

#[test]
fn enums_read_from_strings_and_tables() {
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Backoff {
        None,
        Fixed { ms: u64 },
        Exponential(u32),
    }
    let (_dir, path) = file(
        "app.toml",
        "a = \"none\"\n[b.fixed]\nms = 5\n[c]\nexponential = 3\n[d.fixed]\nms = \"x\"\n",
    );
    let snap = store(&path).snapshot();
    assert_eq!(snap.get::<Backoff>("a").unwrap(), Backoff::None);
    assert_eq!(snap.get::<Backoff>("b").unwrap(), Backoff::Fixed { ms: 5 });
    assert_eq!(snap.get::<Backoff>("c").unwrap(), Backoff::Exponential(3));
    assert_eq!(
        snap.get::<Backoff>("d").unwrap_err().key(),
        Some("d.fixed.ms")
    );
}

#[derive(Serialize)]
struct Defaults {
    name: String,
    http: DefaultHttp,
    log: DefaultLog,
}

#[derive(Serialize)]
struct DefaultHttp {
    timeout_ms: u64,
    retries: u32,
}

#[derive(Serialize)]
struct DefaultLog {
    level: String,
    json: bool,
}

fn defaults() -> Defaults {
    Defaults {
        name: "default".into(),
        http: DefaultHttp {
            timeout_ms: 100,
            retries: 1,
        },
        log: DefaultLog {
            level: "info".into(),
            json: false,
        },
    }
}

#[test]
fn layers_apply_in_order_defaults_files_env() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("base.toml");
    let second = dir.path().join("site.json");
    write(
        &first,
        "[http]\ntimeout_ms = 200\n[log]\nlevel = \"warn\"\n",
    );
    write(&second, r#"{ "http": { "timeout_ms": 300 } }"#);

    // The environment is given first here: the order is fixed regardless.
    let store = ConfigStore::builder()
        .env(
            EnvSource::new("APP")
                .vars([("APP__HTTP__RETRIES", "9"), ("APP__FEATURE__FLAG", "true")]),
        )
        .defaults(defaults())
        .file(&first)
        .file(&second)
        .file(FileSource::new(dir.path().join("absent.toml")).optional())
        .build()
        .unwrap();
    let snap = store.snapshot();
    assert_eq!(
        snap.get::<u64>("http.timeout_ms").unwrap(),
        300,
        "the last file wins"
    );
    assert_eq!(
        snap.get::<u32>("http.retries").unwrap(),
        9,
        "the environment wins"
    );
    assert_eq!(
        snap.get::<String>("log.level").unwrap(),
        "warn",
        "a file beats the defaults"
    );
    assert!(
        !snap.get::<bool>("log.json").unwrap(),
        "tables merge: untouched defaults stay"
    );
    assert_eq!(snap.get::<String>("name").unwrap(), "default");
    assert!(
        snap.get::<bool>("feature.flag").unwrap(),
        "the environment can add keys"
    );

    // A later layer replaces a table with a scalar, and the reverse.
    write(&second, r#"{ "log": "plain", "name": { "first": "x" } }"#);
    store.reload().unwrap();
    let snap = store.snapshot();
    assert_eq!(snap.get::<String>("log").unwrap(), "plain");
    assert!(!snap.contains("log.level"));
    assert_eq!(snap.get::<String>("name.first").unwrap(), "x");
    assert_eq!(snap.get::<u64>("http.timeout_ms").unwrap(), 200);

    // Defaults from a document, layered over struct defaults.
    let store = ConfigStore::builder()
        .defaults(defaults())
        .defaults_text(Format::Toml, "[http]\nretries = 4\n")
        .defaults(json!({ "log": { "json": true } }))
        .build()
        .unwrap();
    assert_eq!(store.get::<u32>("http.retries").unwrap(), 4);
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 100);
    assert!(store.get::<bool>("log.json").unwrap());
}

#[test]
fn environment_values_are_json_scalars_else_strings() {
    let vars = [
        ("APP__A", "700"),
        ("APP__B", "2.5"),
        ("APP__C", "true"),
        ("APP__D", "fast"),
        ("APP__E", "\"quoted\""),
        ("APP__F", "007"),
        ("APP__G", "[1,2]"),
        ("APP__H", "null"),
        ("APP__NESTED__DEEP__KEY", "-1"),
        ("APP__MIXED_Case", "x"),
        ("APPX__IGNORED", "1"),
        ("APP_SINGLE", "1"),
        ("OTHER", "1"),
    ];
    let store = ConfigStore::builder()
        .env(EnvSource::new("APP").vars(vars))
        .build()
        .unwrap();
    let snap = store.snapshot();
    assert_eq!(snap.value("a"), Some(&json!(700)));
    assert_eq!(snap.value("b"), Some(&json!(2.5)));
    assert_eq!(snap.value("c"), Some(&json!(true)));
    assert_eq!(snap.value("d"), Some(&json!("fast")));
    assert_eq!(snap.value("e"), Some(&json!("quoted")));
    assert_eq!(
        snap.value("f"),
        Some(&json!("007")),
        "not valid JSON: a string"
    );
    assert_eq!(
        snap.value("g"),
        Some(&json!("[1,2]")),
        "not a scalar: a string"
    );
    assert_eq!(
        snap.value("h"),
        Some(&json!("null")),
        "null is not an override: a string"
    );
    assert_eq!(snap.value("nested.deep.key"), Some(&json!(-1)));
    assert_eq!(snap.value("mixed_case"), Some(&json!("x")));
    assert_eq!(snap.len(), 10, "{snap:?}");

    // A custom separator.
    let store = ConfigStore::builder()
        .env(
            EnvSource::new("SVC")
                .separator("_")
                .vars([("SVC_HTTP_PORT", "8080")]),
        )
        .build()
        .unwrap();
    assert_eq!(store.get::<u16>("http.port").unwrap(), 8080);

    // A malformed name is an error that names the variable.
    let error = ConfigStore::builder()
        .env(EnvSource::new("APP").vars([("APP__HTTP____X", "1")]))
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::Shape { origin: Origin::Env(name), .. } if name == "APP__HTTP____X"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("environment variable APP__HTTP____X:"),
        "{error}"
    );
}

#[test]
fn process_environment_is_read_at_each_reload() {
    const VAR: &str = "SNAPMAP_CFG_TEST_7F3A__HTTP__TIMEOUT_MS";
    std::env::set_var(VAR, "700");
    let store = ConfigStore::builder()
        .defaults(json!({ "http": { "timeout_ms": 500 } }))
        .env("SNAPMAP_CFG_TEST_7F3A")
        .build()
        .unwrap();
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 700);
    std::env::set_var(VAR, "900");
    assert_eq!(store.reload().unwrap(), v(1));
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 900);
    std::env::remove_var(VAR);
    store.reload().unwrap();
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 500);
}

#[test]
fn reload_publishes_only_changed_content_labelled_by_hash() {
    let (_dir, path) = file("app.toml", "a = 1\nb = 2\n");
    let store = store(&path);
    let first = store.snapshot();
    assert_eq!(first.version(), v(0));
    let label = first.content_hash().unwrap().to_owned();
    assert!(
        label.starts_with("fnv1a64:") && label.len() == 24,
        "{label}"
    );

    // Nothing changed: nothing published.
    assert_eq!(store.reload().unwrap(), v(0));
    // Same content, other bytes (comments, order, spacing): still nothing.
    write(&path, "# edited\nb=2\na   = 1\n");
    assert_eq!(store.reload().unwrap(), v(0));
    let stats = store.stats();
    assert_eq!(
        (
            stats.reloads,
            stats.published,
            stats.unchanged,
            stats.rejected
        ),
        (2, 0, 2, 0)
    );

    // A change: one version whose commit holds exactly the changed keys.
    write(&path, "a = 1\nb = 3\nc = 4\n");
    assert_eq!(store.reload().unwrap(), v(1));
    let second = store.snapshot();
    assert_ne!(second.content_hash(), first.content_hash());
    assert_eq!(
        second.diff(&first),
        [
            Change::Updated("b".to_string(), json!(2), json!(3)),
            Change::Added("c".to_string(), json!(4)),
        ]
    );
    assert!(
        first.get::<u64>("b").unwrap() == 2,
        "old snapshots never change"
    );

    // Back to the first content: a new version with the first label.
    write(&path, "a = 1\nb = 2\n");
    assert_eq!(store.reload().unwrap(), v(2));
    assert_eq!(store.snapshot().content_hash(), Some(label.as_str()));
    assert_eq!(store.history(), [v(0), v(1), v(2)]);
    assert_eq!(store.stats().published, 2);
}

#[test]
fn content_hash_is_stable() {
    // A fixed document has a fixed label, in every build and process (the
    // value was computed independently of this crate, from the encoding
    // documented in src/config/hash.rs).
    let (_dir, path) = file(
        "app.toml",
        "name = \"svc\"\n[http]\ntimeout_ms = 500\nhosts = [\"a\", \"b\"]\n",
    );
    let label = store(&path).snapshot().content_hash().unwrap().to_owned();
    assert_eq!(label, "fnv1a64:e3747119b42f6759");

    // Key order inside arrays of tables does not change it; kinds do.
    let (_d1, p1) = file("a.json", r#"{ "x": [{ "a": 1, "b": 2 }] }"#);
    let (_d2, p2) = file("b.json", r#"{ "x": [{ "b": 2, "a": 1 }] }"#);
    let (_d3, p3) = file("c.json", r#"{ "x": [{ "b": 2, "a": 1.0 }] }"#);
    let hash = |p: &Path| store(p).snapshot().content_hash().unwrap().to_owned();
    assert_eq!(hash(&p1), hash(&p2));
    assert_ne!(hash(&p1), hash(&p3));
}

#[test]
fn subscribers_are_woken_by_each_new_version() {
    let (_dir, path) = file("app.toml", "a = 1\n");
    let store = store(&path);
    let mut sub = store.subscribe();
    write(&path, "a = 2\n");
    let published = store.reload().unwrap();
    let seen = ConfigSnapshot::from(sub.wait_timeout(Duration::from_secs(5)).expect("woken"));
    assert_eq!(seen.version(), published);
    assert_eq!(seen.get::<u32>("a").unwrap(), 2);
    // An unchanged reload wakes nobody.
    store.reload().unwrap();
    assert!(!sub.has_changed());
}

#[test]
fn validator_rejection_keeps_the_last_good_version() {
    let (_dir, path) = file("app.toml", "[http]\ntimeout_ms = 500\n");
    let store = ConfigStore::builder()
        .file(&path)
        .validator(|c| match c.get::<u64>("http.timeout_ms")? {
            0 => Err("http.timeout_ms must be positive".into()),
            _ => Ok(()),
        })
        .build()
        .unwrap();

    write(&path, "[http]\ntimeout_ms = 0\n");
    let error = store.reload().unwrap_err();
    assert!(
        matches!(&error, ConfigError::Rejected { kept: Some(k), .. } if *k == v(0)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "config rejected by the validator: http.timeout_ms must be positive; version 0 stays current"
    );
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 500);
    let stats = store.stats();
    assert_eq!(
        (stats.version, stats.rejected, stats.stale),
        (v(0), 1, true)
    );
    assert_eq!(
        store.last_error().map(|e| e.to_string()),
        Some(error.to_string())
    );

    // The validator sees the key missing, too.
    write(&path, "[http]\n");
    let error = store.reload().unwrap_err();
    assert!(
        error.to_string().contains("\"http.timeout_ms\" is missing"),
        "{error}"
    );

    write(&path, "[http]\ntimeout_ms = 900\n");
    assert_eq!(store.reload().unwrap(), v(1));
    let stats = store.stats();
    assert!(!stats.stale, "a good reload ends staleness");
    assert!(stats.last_error.is_some(), "the last error stays readable");

    // A validator that refuses the startup config fails the build.
    let error = ConfigStore::builder()
        .file(&path)
        .validator(|_| Err("never".into()))
        .build()
        .unwrap_err();
    assert_eq!(error.kept(), None);
    assert!(
        error
            .to_string()
            .ends_with("never; nothing was published (no config loaded yet)"),
        "{error}"
    );
}

#[test]
fn a_panicking_validator_publishes_nothing() {
    let (_dir, path) = file("app.toml", "a = 1\n");
    let store = ConfigStore::builder()
        .file(&path)
        .validator(|c| {
            if c.contains("boom") {
                panic!("validator exploded");
            }
            Ok(())
        })
        .build()
        .unwrap();
    write(&path, "a = 2\nboom = true\n");
    let error = store.reload().unwrap_err();
    assert!(
        matches!(&error, ConfigError::ValidatorPanicked { message, kept: Some(k) }
        if message == "validator exploded" && *k == v(0)),
        "{error:?}"
    );
    assert!(error.to_string().contains("version 0 stays current"));
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
    write(&path, "a = 3\n");
    assert_eq!(store.reload().unwrap(), v(1), "the store stays usable");
}

#[test]
fn schema_type_checks_candidates() {
    #[derive(Deserialize)]
    #[allow(dead_code)] // reason: only deserialized, as a schema
    struct App {
        http: Http,
    }
    let (_dir, path) = file("app.toml", "[http]\ntimeout_ms = 5\nhost = \"h\"\n");
    let store = ConfigStore::builder()
        .file(&path)
        .schema::<App>()
        .build()
        .unwrap();

    // A file of the wrong shape: a scalar where the table should be.
    write(&path, "http = 5\n");
    let error = store.reload().unwrap_err();
    assert_eq!(
        error.to_string(),
        "config rejected by the validator: config key \"http\": expected struct Http, found integer `5` \
         (in version 1); version 0 stays current"
    );
    write(&path, "[http]\ntimeout_ms = \"soon\"\nhost = \"h\"\n");
    let error = store.reload().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("\"http.timeout_ms\": expected u64, found string \"soon\""),
        "{error}"
    );
    assert_eq!(store.version(), v(0));
    assert_eq!(store.get::<u64>("http.timeout_ms").unwrap(), 5);
}

/// Loads `good`, then replaces the file with `bad` bytes: the reload must
/// fail, name the file, say version 0 stays, and keep serving `good`.
fn assert_rejected(name: &str, good: &str, bad: &[u8]) -> ConfigError {
    let (_dir, path) = file(name, good);
    let store = store(&path);
    write(&path, bad);
    let error = store.reload().unwrap_err();
    assert_eq!(error.path(), Some(path.as_path()), "{error:?}");
    assert_eq!(error.kept(), Some(v(0)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(message.ends_with("; version 0 stays current"), "{message}");
    assert_eq!(store.version(), v(0));
    assert_eq!(
        store.get::<u32>("a").unwrap(),
        1,
        "the last good version keeps serving"
    );
    assert_eq!(store.stats().rejected, 1);
    error
}

#[test]
fn bad_inputs_are_rejected_with_clear_errors() {
    let error = assert_rejected("app.toml", "a = 1\n", b"a = 1\nb = [1, 2\nc = 3\n");
    assert!(
        matches!(
            &error,
            ConfigError::Parse {
                format: Format::Toml,
                line: Some(3),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(": invalid TOML at line 3, column"),
        "{error}"
    );

    let error = assert_rejected("app.json", "{\"a\": 1}", b"{\"a\": 1,\n \"b\": }");
    assert!(
        matches!(
            &error,
            ConfigError::Parse {
                format: Format::Json,
                line: Some(2),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains(": invalid JSON at line 2, column"),
        "{error}"
    );

    let error = assert_rejected("app.toml", "a = 1\n", b"a = 1\nname = \"\xff\xfe\"\n");
    assert!(
        matches!(
            &error,
            ConfigError::NotUtf8 {
                line: 2,
                offset: 14,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not valid UTF-8 at line 2"),
        "{error}"
    );

    for empty in [&b""[..], b"  \n\t\n"] {
        let error = assert_rejected("app.toml", "a = 1\n", empty);
        assert!(matches!(&error, ConfigError::EmptyFile { .. }), "{error:?}");
    }

    // Parsed, but of the wrong shape.
    let error = assert_rejected("app.json", "{\"a\": 1}", b"[1, 2]");
    assert!(
        error
            .to_string()
            .contains("the top level is an array, expected an object"),
        "{error}"
    );
    let error = assert_rejected(
        "app.json",
        "{\"a\": 1}",
        b"{\"hosts\": {\"example.com\": 1}}",
    );
    assert!(
        error
            .to_string()
            .contains("key \"example.com\" in table \"hosts\""),
        "{error}"
    );
    let error = assert_rejected("app.toml", "a = 1\n", b"x = nan\n");
    assert!(error.to_string().contains("not finite"), "{error}");
}

#[test]
fn a_missing_file_fails_startup_and_is_survived_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    let error = ConfigStore::builder().file(&path).build().unwrap_err();
    assert!(
        matches!(&error, ConfigError::FileNotFound { kept: None, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: file not found; nothing was published (no config loaded yet)",
            path.display()
        )
    );

    write(&path, "a = 1\n");
    let store = store(&path);
    fs::remove_file(&path).unwrap();
    let error = store.reload().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: file not found; version 0 stays current",
            path.display()
        )
    );
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
    assert!(store.stats().stale);

    // An optional file may come and go.
    let extra = dir.path().join("extra.toml");
    write(&path, "a = 1\n");
    let store = ConfigStore::builder()
        .file(&path)
        .file(FileSource::new(&extra).optional())
        .build()
        .unwrap();
    write(&extra, "a = 2\n");
    store.reload().unwrap();
    assert_eq!(store.get::<u32>("a").unwrap(), 2);
    fs::remove_file(&extra).unwrap();
    store.reload().unwrap();
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
}

#[test]
fn a_huge_file_is_refused_without_being_read() {
    let (_dir, path) = file("app.toml", "a = 1\n");
    let store = store(&path);
    // 50 MB (sparse: costs no disk).
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(50_000_000)
        .unwrap();
    let error = store.reload().unwrap_err();
    assert!(
        matches!(&error, ConfigError::FileTooLarge { size: 50_000_000, limit, kept: Some(k), .. }
        if *limit == snapmap::config::DEFAULT_MAX_FILE_SIZE && *k == v(0)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: file is 50000000 bytes, over the 8388608-byte limit (see max_file_size); not loaded; \
             version 0 stays current",
            path.display()
        )
    );
    assert_eq!(store.get::<u32>("a").unwrap(), 1);

    // The limit is configurable, and applies at startup too.
    write(&path, "a = 1\nb = 2\n");
    let error = ConfigStore::builder()
        .file(&path)
        .max_file_size(8)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::FileTooLarge {
                size: 12,
                limit: 8,
                kept: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn unreadable_files_are_reported() {
    // A directory where the file should be: the same I/O error path as
    // permission denied, and testable as root.
    let (dir, path) = file("app.toml", "a = 1\n");
    let store = store(&path);
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let error = store.reload().unwrap_err();
    assert!(
        matches!(&error, ConfigError::FileUnreadable { kept: Some(k), .. } if *k == v(0)),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read the file: ", path.display())),
        "{error}"
    );
    assert!(
        error.to_string().ends_with("; version 0 stays current"),
        "{error}"
    );
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
    drop(dir);

    permission_denied();
}

#[cfg(unix)]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = file("app.toml", "a = 1\n");
    let store = store(&path);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&path).is_ok() {
        // Root (or CAP_DAC_OVERRIDE) reads whatever the mode says: there is
        // no way to be denied here. The directory case above covers the
        // same error path.
        eprintln!(
            "note: running with privileges that ignore file modes; permission-denied case skipped"
        );
        return;
    }
    let error = store.reload().unwrap_err();
    match &error {
        ConfigError::FileUnreadable {
            error: io, kept, ..
        } => {
            assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
            assert_eq!(*kept, Some(v(0)));
        }
        other => panic!("expected FileUnreadable, got {other:?}"),
    }
    assert!(error.to_string().contains("ermission denied"), "{error}");
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
}

#[cfg(not(unix))]
fn permission_denied() {
    eprintln!("note: permission-denied case needs Unix file modes; skipped");
}

#[test]
fn startup_errors_name_the_source() {
    let error = ConfigStore::builder().defaults(5).build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "built-in defaults: serialized to a number, expected a table (a struct or a map); \
         nothing was published (no config loaded yet)"
    );
    let error = ConfigStore::builder()
        .defaults_text(Format::Toml, "a = \n")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ConfigError::Parse {
                origin: Origin::Defaults,
                line: Some(1),
                ..
            }
        ),
        "{error:?}"
    );
    let (_dir, path) = file("app.toml", "[http]\n\"a.b\" = 1\n");
    let error = ConfigStore::builder().file(&path).build().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("key \"a.b\" in table \"http\" is empty or contains '.'"),
        "{error}"
    );
}

#[test]
fn toml_datetimes_read_as_strings() {
    let (_dir, path) = file("app.toml", "at = 1979-05-27T07:32:00Z\nday = 1979-05-27\n");
    let store = store(&path);
    assert_eq!(store.get::<String>("at").unwrap(), "1979-05-27T07:32:00Z");
    assert_eq!(store.get::<String>("day").unwrap(), "1979-05-27");
}

#[test]
fn rollback_publishes_an_old_version_until_the_sources_change() {
    let (_dir, path) = file("app.toml", "a = 1\n");
    let store = ConfigStore::builder()
        .file(&path)
        .history(3)
        .build()
        .unwrap();
    write(&path, "a = 2\n");
    assert_eq!(store.reload().unwrap(), v(1));

    assert_eq!(store.rollback_to(v(0)).unwrap(), v(2));
    assert_eq!(store.get::<u32>("a").unwrap(), 1);
    assert_eq!(
        store.snapshot().content_hash(),
        store.at(v(0)).unwrap().content_hash()
    );
    // An explicit reload publishes the sources again.
    assert_eq!(store.reload().unwrap(), v(3));
    assert_eq!(store.get::<u32>("a").unwrap(), 2);

    // A version the history no longer keeps.
    let error = store.rollback_to(v(0)).unwrap_err();
    assert!(matches!(error, ConfigError::Commit { .. }), "{error:?}");
    assert_eq!(error.kept(), Some(v(3)));
    assert!(error.to_string().contains("not in the history"), "{error}");
    assert!(
        !store.stats().stale,
        "a failed rollback says nothing about the sources"
    );
}

#[test]
fn readers_see_whole_versions_during_reloads() {
    let (_dir, path) = file("app.toml", "[pair]\na = 0\nb = 0\n");
    let store = store(&path);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut last = Version::INITIAL;
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = store.snapshot();
                    let (a, b): (u64, u64) =
                        (snap.get("pair.a").unwrap(), snap.get("pair.b").unwrap());
                    assert_eq!(a, b, "a snapshot mixes two versions");
                    assert!(snap.version() >= last, "versions went backwards");
                    last = snap.version();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 1..=100u64 {
        write(&path, format!("[pair]\na = {i}\nb = {i}\n"));
        assert_eq!(store.reload().unwrap(), v(i));
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
}
