//! Path routing on the ordered face: `longest_prefix` and
//! `longest_segment_prefix` on hand-checked tables and against a
//! brute-force oracle that scans every route.

use proptest::prelude::*;
use snapmap::{SnapOrdMap, Snapshot};

type Table = SnapOrdMap<String, &'static str>;

fn table(routes: &[(&str, &'static str)]) -> Table {
    routes.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

fn plain<'a>(
    snap: &'a Snapshot<String, &'static str, snapmap::Ordered>,
    q: &str,
) -> Option<&'a str> {
    snap.longest_prefix(q).map(|(k, v)| {
        assert!(q.starts_with(k.as_str()), "{k:?} is not a prefix of {q:?}");
        *v
    })
}

fn segment<'a>(
    snap: &'a Snapshot<String, &'static str, snapmap::Ordered>,
    q: &str,
) -> Option<&'a str> {
    snap.longest_segment_prefix(q, '/').map(|(_, v)| *v)
}

#[test]
fn overlapping_prefixes_and_the_default_route() {
    let map = table(&[
        ("/", "root"),
        ("/api", "api"),
        ("/api/v1", "v1"),
        ("/api/v1/users", "users"),
        ("/apix", "apix"),
        ("/static/", "static"),
    ]);
    let snap = map.load();

    // Plain prefixes: byte-wise, so "/api" prefixes "/apix..." too.
    assert_eq!(plain(&snap, "/api/v1/users/7"), Some("users"));
    assert_eq!(plain(&snap, "/api/v1/user"), Some("v1"));
    assert_eq!(plain(&snap, "/api/v2"), Some("api"));
    assert_eq!(plain(&snap, "/apixel"), Some("apix"));
    assert_eq!(plain(&snap, "/apiy"), Some("api"));
    assert_eq!(plain(&snap, "/ap"), Some("root"));
    assert_eq!(
        plain(&snap, "/static"),
        Some("root"),
        "a key longer than the query never matches"
    );
    assert_eq!(plain(&snap, "/static/app.css"), Some("static"));
    assert_eq!(plain(&snap, "/"), Some("root"));
    assert_eq!(plain(&snap, ""), None);
    assert_eq!(
        plain(&snap, "api"),
        None,
        "no route is a prefix of a relative path"
    );

    // Segment-aware: "/api" matches "/api" and "/api/x", never "/apix".
    assert_eq!(segment(&snap, "/api"), Some("api"));
    assert_eq!(segment(&snap, "/api/"), Some("api"));
    assert_eq!(segment(&snap, "/api/x"), Some("api"));
    assert_eq!(segment(&snap, "/apiy"), Some("root"));
    assert_eq!(segment(&snap, "/apix"), Some("apix"));
    assert_eq!(segment(&snap, "/apix/1"), Some("apix"));
    assert_eq!(
        segment(&snap, "/apixel"),
        Some("root"),
        "\"/apix\" ends mid-segment"
    );
    assert_eq!(segment(&snap, "/api/v1/users"), Some("users"));
    assert_eq!(segment(&snap, "/api/v1/usersx"), Some("v1"));
    assert_eq!(segment(&snap, "/api/v1x/users"), Some("api"));
    // A key ending with the separator matches what follows it.
    assert_eq!(segment(&snap, "/static/app.css"), Some("static"));
    assert_eq!(segment(&snap, "/static"), Some("root"));
    assert_eq!(segment(&snap, "/"), Some("root"));
    assert_eq!(segment(&snap, ""), None);
}

#[test]
fn no_default_route_and_empty_tables() {
    let empty = table(&[]);
    assert_eq!(plain(&empty.load(), "/anything"), None);
    assert_eq!(segment(&empty.load(), "/anything"), None);

    let map = table(&[("/a/b", "ab"), ("/c", "c")]);
    let snap = map.load();
    assert_eq!(segment(&snap, "/a"), None);
    assert_eq!(segment(&snap, "/a/bc"), None);
    assert_eq!(segment(&snap, "/a/b/c"), Some("ab"));
    assert_eq!(segment(&snap, "/b"), None);
    assert_eq!(segment(&snap, "/d"), None);
    assert_eq!(plain(&snap, "/cat"), Some("c"));

    // The empty key is a catch-all for both forms.
    let catch_all = table(&[("", "any"), ("/x", "x")]);
    let snap = catch_all.load();
    assert_eq!(segment(&snap, "relative"), Some("any"));
    assert_eq!(segment(&snap, "/xy"), Some("any"));
    assert_eq!(plain(&snap, "/xy"), Some("x"));
    assert_eq!(plain(&snap, ""), Some("any"));
}

#[test]
fn multibyte_keys_queries_and_separators() {
    let map = table(&[
        ("/é", "e-acute"),
        ("/éa", "ea"),
        ("/e", "e"),
        ("/日本", "nihon"),
        ("", "any"),
    ]);
    let snap = map.load();
    assert_eq!(plain(&snap, "/éa/x"), Some("ea"));
    assert_eq!(plain(&snap, "/éb"), Some("e-acute"));
    // "/e" is a byte prefix of neither "/é" nor "/ê"; cutting between the
    // bytes of a character must not panic.
    assert_eq!(plain(&snap, "/ê"), Some("any"));
    assert_eq!(plain(&snap, "/日"), Some("any"));
    assert_eq!(plain(&snap, "/日本語"), Some("nihon"));
    assert_eq!(segment(&snap, "/é/x"), Some("e-acute"));
    assert_eq!(segment(&snap, "/éb"), Some("any"));

    // A multi-byte separator.
    let dots = table(&[("a", "a"), ("a→b", "ab")]);
    let snap = dots.load();
    assert_eq!(
        snap.longest_segment_prefix("a→b→c", '→').map(|(_, v)| *v),
        Some("ab")
    );
    assert_eq!(
        snap.longest_segment_prefix("a→bc", '→').map(|(_, v)| *v),
        Some("a")
    );
    assert_eq!(
        snap.longest_segment_prefix("ab", '→').map(|(_, v)| *v),
        None
    );
}

#[test]
fn keys_ending_mid_segment_are_skipped() {
    // Every prefix of the long first segment is a key; none can match a
    // segment-aware query beyond it, and the search cuts straight back to
    // the previous boundary.
    let mut routes: Vec<(String, &'static str)> = (2..12)
        .map(|n| ("/abcdefghijk"[..n].to_string(), "mid"))
        .collect();
    routes.push(("/".to_string(), "root"));
    routes.push(("/abcdefghijk/x".to_string(), "deep"));
    let map: Table = routes.into_iter().collect();
    let snap = map.load();
    assert_eq!(segment(&snap, "/abcdefghijkl/x"), Some("root"));
    assert_eq!(segment(&snap, "/abcdefghijk/y"), Some("root"));
    assert_eq!(segment(&snap, "/abcdefghijk/x/y"), Some("deep"));
    assert_eq!(segment(&snap, "/abcde/x"), Some("mid"));
    assert_eq!(plain(&snap, "/abcdefghijkl/x"), Some("mid"));
}

#[test]
fn each_snapshot_answers_from_its_own_version() {
    let map = table(&[("/", "root"), ("/api", "api-v1")]);
    let before = map.load();
    map.update(|txn| {
        txn.insert("/api".to_string(), "api-v2");
        txn.insert("/api/users".to_string(), "users");
        txn.remove("/");
    })
    .unwrap();
    let after = map.load();
    assert_eq!(segment(&before, "/api/users/1"), Some("api-v1"));
    assert_eq!(segment(&before, "/other"), Some("root"));
    assert_eq!(segment(&after, "/api/users/1"), Some("users"));
    assert_eq!(segment(&after, "/api/x"), Some("api-v2"));
    assert_eq!(segment(&after, "/other"), None);
}

/// The longest route that prefixes `query` and passes `accept`, by scanning
/// every route.
fn oracle<'a>(routes: &'a [String], query: &str, accept: impl Fn(&str) -> bool) -> Option<&'a str> {
    routes
        .iter()
        .map(String::as_str)
        .filter(|k| query.starts_with(k) && accept(k))
        .max_by_key(|k| k.len())
}

fn at_boundary(query: &str, key: &str, sep: char) -> bool {
    key.is_empty()
        || key.len() == query.len()
        || key.ends_with(sep)
        || query[key.len()..].starts_with(sep)
}

/// Short strings over a small alphabet, so keys share prefixes and
/// separators often; 'é' and '→' are multi-byte.
fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop::sample::select(vec!['/', 'a', 'b', 'é', '→']), 0..7)
        .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn longest_prefixes_match_a_brute_force_scan(
        routes in proptest::collection::vec(path(), 0..24),
        extra in proptest::collection::vec(path(), 0..8),
        suffixes in proptest::collection::vec(path(), 8),
    ) {
        let map: SnapOrdMap<String, usize> = routes.iter().cloned().enumerate().map(|(i, k)| (k, i)).collect();
        let snap = map.load();
        let mut stored: Vec<String> = snap.keys().cloned().collect();
        stored.dedup();
        // Queries: random paths, and routes followed by random suffixes
        // (these hit many routes at once).
        let queries = extra.iter().cloned().chain(
            routes.iter().zip(suffixes.iter().cycle()).map(|(r, s)| format!("{r}{s}")),
        );
        for query in queries {
            let got = snap.longest_prefix(&query).map(|(k, _)| k.as_str());
            prop_assert_eq!(got, oracle(&stored, &query, |_| true), "plain, query {:?}", query);
            for sep in ['/', '→'] {
                let got = snap.longest_segment_prefix(&query, sep).map(|(k, _)| k.as_str());
                let want = oracle(&stored, &query, |k| at_boundary(&query, k, sep));
                prop_assert_eq!(got, want, "segment {:?}, query {:?}", sep, query);
            }
            if let Some((k, v)) = snap.longest_prefix(&query) {
                prop_assert_eq!(snap.get(k.as_str()), Some(v));
            }
        }
    }
}
