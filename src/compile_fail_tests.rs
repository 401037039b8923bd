//! Compile-time guarantees, checked as doctests. Each `compile_fail` case
//! has a twin that compiles, so a case cannot pass by failing for an
//! unrelated reason.
//!
//! A `WriteTxn` holds the writer lock's guard and cannot cross threads:
//!
//! ```compile_fail,E0277
//! let map: snapmap::SnapMap<u32, u32> = snapmap::SnapMap::new();
//! std::thread::scope(|s| {
//!     let mut txn = map.write();
//!     s.spawn(move || {
//!         txn.insert(1, 1);
//!         txn.commit().unwrap();
//!     });
//! });
//! ```
//!
//! Its twin: the same transaction committed on the thread that opened it.
//!
//! ```
//! let map: snapmap::SnapMap<u32, u32> = snapmap::SnapMap::new();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         let mut txn = map.write();
//!         txn.insert(1, 1);
//!         txn.commit().unwrap();
//!     });
//! });
//! assert_eq!(map.get(&1), Some(1));
//! ```
//!
//! A `Snapshot` is `Send + 'static`: it moves to another thread and outlives
//! the map.
//!
//! ```
//! let map: snapmap::SnapMap<u32, u32> = [(1, 1)].into_iter().collect();
//! let snap = map.load();
//! drop(map);
//! let got = std::thread::spawn(move || snap.get(&1).copied()).join().unwrap();
//! assert_eq!(got, Some(1));
//! ```
//!
//! ...and so do `SnapMap`, `Reader` and `Subscriber` handles:
//!
//! ```
//! fn is_send_static<T: Send + Sync + 'static>(_: &T) {}
//! let map: snapmap::SnapMap<u32, u32> = snapmap::SnapMap::new();
//! is_send_static(&map.load());
//! is_send_static(&map.reader());
//! is_send_static(&map.subscribe());
//! is_send_static(&map);
//! ```
//!
//! But not when the values are not thread-safe:
//!
//! ```compile_fail,E0277
//! let map: snapmap::SnapMap<u32, std::rc::Rc<u32>> = snapmap::SnapMap::new();
//! ```
//!
//! A `Snapshot` cannot be mutated: there is no way to write through it.
//!
//! ```compile_fail,E0594
//! let map: snapmap::SnapMap<u32, u32> = [(1, 1)].into_iter().collect();
//! let snap = map.load();
//! *snap.get(&1).unwrap() = 2;
//! ```
//!
//! Its twin: writes go through a transaction.
//!
//! ```
//! let map: snapmap::SnapMap<u32, u32> = [(1, 1)].into_iter().collect();
//! let mut txn = map.write();
//! txn.insert(1, 2);
//! txn.commit().unwrap();
//! assert_eq!(map.load().get(&1), Some(&2));
//! ```
//!
//! A reference into a snapshot cannot outlive the snapshot:
//!
//! ```compile_fail,E0597
//! let map: snapmap::SnapMap<u32, u32> = [(1, 1)].into_iter().collect();
//! let value: &u32 = {
//!     let snap = map.load();
//!     snap.get(&1).unwrap()
//! };
//! assert_eq!(*value, 1);
//! ```
//!
//! Its twin: keep the snapshot, or take an owned value with `SnapMap::get`.
//!
//! ```
//! let map: snapmap::SnapMap<u32, u32> = [(1, 1)].into_iter().collect();
//! let snap = map.load();
//! let value: &u32 = snap.get(&1).unwrap();
//! let owned: Option<u32> = map.get(&1);
//! assert_eq!((*value, owned), (1, Some(1)));
//! ```
//!
//! A `WriteTxn` borrows its map: the map cannot be dropped while it is open.
//!
//! ```compile_fail,E0505
//! let map: snapmap::SnapMap<u32, u32> = snapmap::SnapMap::new();
//! let txn = map.write();
//! drop(map);
//! txn.commit().unwrap();
//! ```
//!
//! Its twin:
//!
//! ```
//! let map: snapmap::SnapMap<u32, u32> = snapmap::SnapMap::new();
//! let txn = map.write();
//! txn.commit().unwrap();
//! drop(map);
//! ```
