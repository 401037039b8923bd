//! Model test: random operation sequences against a `BTreeMap` oracle, on
//! both faces and under every read-index policy. Every snapshot taken along
//! the way is re-checked at the end against the oracle state of its version
//! (snapshots never change), and diffs between any two of them are checked
//! against a diff of the oracle states.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use snapmap::{Backend, Change, Lookup, ReadIndex, SnapMap, Snapshot, Version};

mod support;

type K = u16;
type V = u16;
type Oracle = BTreeMap<K, V>;

#[derive(Clone, Debug)]
enum Op {
    Insert(K, V),
    Remove(K),
    /// A multi-op transaction, committed or dropped.
    Txn {
        ops: Vec<(K, Option<V>)>,
        commit: bool,
        clear_first: bool,
    },
    Update(Vec<(K, Option<V>)>),
    ReplaceAll(Vec<(K, V)>),
    Rollback(u8),
    /// Let the current version stay current until a background index is
    /// built for it.
    Settle,
}

fn key() -> impl Strategy<Value = K> {
    0..48u16
}

fn txn_ops() -> impl Strategy<Value = Vec<(K, Option<V>)>> {
    prop::collection::vec((key(), prop::option::weighted(0.7, any::<V>())), 0..12)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key(), any::<V>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key().prop_map(Op::Remove),
        3 => (txn_ops(), any::<bool>(), prop::bool::weighted(0.1))
            .prop_map(|(ops, commit, clear_first)| Op::Txn { ops, commit, clear_first }),
        2 => txn_ops().prop_map(Op::Update),
        1 => prop::collection::vec((key(), any::<V>()), 0..20).prop_map(Op::ReplaceAll),
        1 => any::<u8>().prop_map(Op::Rollback),
        1 => Just(Op::Settle),
    ]
}

const HISTORY: usize = 6;

fn apply_ops<S>(
    txn: &mut snapmap::WriteTxn<'_, K, V, S>,
    oracle: &mut Oracle,
    ops: &[(K, Option<V>)],
) where
    S: Backend<K, V> + Lookup<K, V, K>,
{
    for (k, v) in ops {
        match v {
            Some(v) => assert_eq!(txn.insert(*k, *v), oracle.insert(*k, *v)),
            None => assert_eq!(txn.remove(k), oracle.remove(k)),
        }
        assert_eq!(
            txn.get(k),
            oracle.get(k),
            "a transaction reads its own writes"
        );
    }
    assert_eq!(txn.len(), oracle.len());
}

fn check<S>(snap: &Snapshot<K, V, S>, oracle: &Oracle, ordered: bool)
where
    S: Backend<K, V> + Lookup<K, V, K>,
{
    support::assert_lookups_match(snap, oracle, 0..50u16);
    let mut entries: Vec<(K, V)> = snap.iter().map(|(k, v)| (*k, *v)).collect();
    if ordered {
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "ordered iteration"
        );
    } else {
        entries.sort_unstable();
    }
    assert_eq!(
        entries,
        oracle.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>()
    );
}

fn oracle_diff(new: &Oracle, old: &Oracle) -> Vec<Change<K, V>> {
    let mut out = Vec::new();
    for (k, v) in old {
        match new.get(k) {
            None => out.push(Change::Removed(*k, *v)),
            Some(n) if n != v => out.push(Change::Updated(*k, *v, *n)),
            _ => {}
        }
    }
    for (k, v) in new {
        if !old.contains_key(k) {
            out.push(Change::Added(*k, *v));
        }
    }
    out.sort_by_key(|c| *c.key());
    out
}

fn run_model<S>(
    map: SnapMap<K, V, S>,
    ops: Vec<Op>,
    ordered: bool,
    policy: ReadIndex,
) -> Result<(), TestCaseError>
where
    S: Backend<K, V> + Lookup<K, V, K>,
{
    let mut oracle = Oracle::new();
    let mut states: BTreeMap<Version, Oracle> = BTreeMap::from([(Version::INITIAL, Oracle::new())]);
    let mut kept: Vec<(Snapshot<K, V, S>, Oracle)> = vec![(map.load(), Oracle::new())];
    for op in ops {
        let before = map.version();
        let mut next = oracle.clone();
        let result = match &op {
            Op::Insert(k, v) => {
                next.insert(*k, *v);
                map.insert(*k, *v)
            }
            Op::Remove(k) => {
                next.remove(k);
                map.remove(k)
            }
            Op::Txn {
                ops,
                commit,
                clear_first,
            } => {
                let mut txn = map.write();
                if *clear_first {
                    txn.clear();
                    next.clear();
                }
                apply_ops(&mut txn, &mut next, ops);
                if *commit {
                    txn.commit()
                } else {
                    drop(txn);
                    next = oracle.clone();
                    Ok(before)
                }
            }
            Op::Update(ops) => map.update(|txn| apply_ops(txn, &mut next, ops)),
            Op::ReplaceAll(entries) => {
                next = entries.iter().copied().collect();
                map.replace_all(entries.iter().copied())
            }
            Op::Rollback(back) => {
                let target = Version::new(before.get().saturating_sub(u64::from(*back % 8)));
                match states.get(&target) {
                    Some(state) if map.history().contains(&target) => next = state.clone(),
                    _ => {}
                }
                map.rollback_to(target)
            }
            Op::Settle => {
                if policy != ReadIndex::Off {
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while !map.load().has_read_index() {
                        prop_assert!(
                            std::time::Instant::now() < deadline,
                            "index never built for a quiet version"
                        );
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(before)
            }
        };
        match result {
            Ok(version) => {
                // A version is published exactly when something was written.
                let wrote = !matches!(&op, Op::Txn { commit: false, .. }) && version != before;
                prop_assert_eq!(version, map.version());
                if wrote {
                    prop_assert_eq!(version, Version::new(before.get() + 1));
                    states.insert(version, next.clone());
                }
                oracle = next;
            }
            Err(snapmap::CommitError::NotInHistory { .. }) => {
                prop_assert_eq!(map.version(), before)
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
        }
        let snap = map.load();
        if policy == ReadIndex::Eager {
            prop_assert!(
                snap.has_read_index(),
                "eager versions are published with their index"
            );
        }
        check(&snap, &oracle, ordered);
        prop_assert_eq!(states.get(&snap.version()), Some(&oracle));
        // History holds the last HISTORY versions, each with its own state.
        let history = map.history();
        prop_assert!(history.len() <= HISTORY);
        prop_assert_eq!(history.last(), Some(&snap.version()));
        for version in history {
            check(&map.at(version).unwrap(), &states[&version], ordered);
        }
        kept.push((snap, oracle.clone()));
    }
    // Snapshots never change, and diffs between any two match the oracle.
    for (snap, state) in &kept {
        check(snap, state, ordered);
    }
    for (i, (new, new_state)) in kept.iter().enumerate().step_by(3) {
        for (old, old_state) in kept.iter().skip(i / 2).step_by(5) {
            let mut got = new.diff(old);
            if !ordered {
                got.sort_by_key(|c| *c.key());
            }
            prop_assert_eq!(
                got,
                oracle_diff(new_state, old_state),
                "diff {} -> {}",
                old.version(),
                new.version()
            );
        }
    }
    Ok(())
}

fn policies() -> impl Strategy<Value = ReadIndex> {
    prop_oneof![
        Just(ReadIndex::Off),
        Just(ReadIndex::Eager),
        Just(ReadIndex::Background {
            quiet: Duration::ZERO
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn hash_face_matches_the_oracle(ops in prop::collection::vec(op(), 1..60), policy in policies()) {
        let map = SnapMap::<K, V>::builder().history(HISTORY).read_index(policy).read_index_min_len(0).build();
        run_model(map, ops, false, policy)?;
    }

    #[test]
    fn ordered_face_matches_the_oracle(ops in prop::collection::vec(op(), 1..60), policy in policies()) {
        let map = snapmap::SnapOrdMap::<K, V>::builder().history(HISTORY).read_index(policy).read_index_min_len(0).build();
        run_model(map, ops, true, policy)?;
    }
}
