//! IP routing tables: longest-prefix match on ordered maps keyed by CIDR
//! networks (feature `ip`).
//!
//! A routing table is a [`SnapOrdMap`](crate::SnapOrdMap) keyed by
//! [`Ipv4Net`], [`Ipv6Net`] or [`IpNet`] (the [`RouteKey`] types). Its
//! snapshots answer "which is the most specific network containing this
//! address?" with [`Snapshot::longest_match`]. Every answer comes from the
//! snapshot's one version, and a route set committed in one transaction
//! appears and disappears in one piece, so request threads can route while
//! a control plane swaps route sets in and out.
//!
//! ```
//! use ipnet::Ipv4Net;
//! use snapmap::{route, SnapOrdMap};
//! use std::net::Ipv4Addr;
//!
//! let table = SnapOrdMap::<Ipv4Net, &str>::builder()
//!     // Index every version before it is published (and refuse keys
//!     // with host bits set, which could never match).
//!     .validator(route::index_at_commit)
//!     .build();
//! table.update(|txn| {
//!     txn.insert("0.0.0.0/0".parse().unwrap(), "default");
//!     txn.insert("10.0.0.0/8".parse().unwrap(), "corp");
//!     txn.insert("10.1.0.0/16".parse().unwrap(), "lab");
//! })?;
//!
//! let snap = table.load();
//! let hit = |a: Ipv4Addr| snap.longest_match(a).map(|(_, v)| *v);
//! assert_eq!(hit(Ipv4Addr::new(10, 1, 2, 3)), Some("lab"));
//! assert_eq!(hit(Ipv4Addr::new(10, 2, 0, 1)), Some("corp"));
//! assert_eq!(hit(Ipv4Addr::new(192, 0, 2, 1)), Some("default"));
//! # Ok::<(), snapmap::CommitError>(())
//! ```
//!
//! # Keys are networks
//!
//! A key matches an address when it is the address's network at the key's
//! prefix length, that is when the key equals `Net::new(addr, len).trunc()`.
//! A key with host bits set (`10.1.2.3/16` rather than `10.1.0.0/16`, as
//! `ipnet` parses it) is not in that form and **never matches**; insert
//! `net.trunc()`, or let the [`index_at_commit`] validator refuse such keys.
//!
//! In an [`IpNet`] table, IPv4 addresses match only IPv4 networks and IPv6
//! addresses only IPv6 networks. An IPv4-mapped IPv6 address
//! (`::ffff:10.0.0.1`) is an IPv6 address: it matches `::ffff:0:0/96` or
//! `::/0`, never `10.0.0.0/8`. Pass `addr.to_canonical()` to route mapped
//! addresses as IPv4.
//!
//! # `longest_match` versus `longest_match_probing`
//!
//! [`longest_match`](Snapshot::longest_match) searches a per-version
//! *route index*: each family's address space cut into at most 2r + 1
//! intervals for r routes, each with its most specific route, in a flat
//! sorted array, plus a bucket table over the top address bits. A lookup
//! reads its bucket and binary-searches the few intervals starting in it:
//! O(log r) in the worst case, a handful of cache misses in practice, with
//! no dependence on how many prefix lengths the table uses. The index is
//! built once per version in O(r) time and holds a copy of every route
//! (`size_of::<(K, V)>()` each), 8 bytes per IPv4 interval and 20 per IPv6
//! interval, and a bucket table of about 4 bytes per interval (at most
//! 256 KiB per family); keep values cheap to clone (`Arc<T>`, small ids).
//!
//! [`longest_match_probing`](Snapshot::longest_match_probing) keeps only the
//! set of prefix lengths present in the version (24 bytes per family) and
//! probes the map once per present length, longest first: O(L × log n) for
//! L present lengths (exact lookups use the version's flat
//! [read index](crate::ReadIndex) when it has one, making each probe O(1)
//! expected). It costs less memory and less work per version and more per
//! lookup.
//!
//! Prefer `longest_match` for tables that are read far more often than
//! they change (the usual routing table); `longest_match_probing` for
//! tables that change so often that most versions see few lookups.
//!
//! # Per-version data and its cost
//!
//! Both structures are derived from one version's contents and cached in
//! that version. Each is computed by the first lookup that needs it (an
//! O(n) scan of the version), so the first request on a fresh version pays
//! for it; threads racing on that first lookup each compute it and one
//! result is kept, nobody waits. To take the cost off the request path,
//! build it before publishing with the [`index_at_commit`] validator, or
//! call [`prepare_routes`](Snapshot::prepare_routes) on each new version
//! from the control plane. Old versions drop their data with their last
//! snapshot.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::backend::Ordered;
use crate::error::BoxError;
use crate::published::{SnapKey, SnapValue};
use crate::snapshot::Snapshot;

mod sealed {
    pub trait Sealed {}
    impl Sealed for ipnet::Ipv4Net {}
    impl Sealed for ipnet::Ipv6Net {}
    impl Sealed for ipnet::IpNet {}
}

/// Key types of IP routing tables: [`Ipv4Net`], [`Ipv6Net`] and [`IpNet`].
/// Sealed.
///
/// `Addr` is the address type looked up: [`Ipv4Addr`], [`Ipv6Addr`] and
/// [`IpAddr`] respectively. Every route key converts into an [`IpNet`].
pub trait RouteKey:
    SnapKey + Ord + Copy + fmt::Debug + fmt::Display + Into<IpNet> + sealed::Sealed
{
    /// The address type this key's networks contain.
    type Addr: Copy + fmt::Debug;

    #[doc(hidden)]
    fn from_net(net: IpNet) -> Option<Self>;
    #[doc(hidden)]
    fn to_ip(addr: Self::Addr) -> IpAddr;
}

impl RouteKey for Ipv4Net {
    type Addr = Ipv4Addr;

    #[inline]
    fn from_net(net: IpNet) -> Option<Self> {
        match net {
            IpNet::V4(net) => Some(net),
            IpNet::V6(_) => None,
        }
    }
    #[inline]
    fn to_ip(addr: Ipv4Addr) -> IpAddr {
        IpAddr::V4(addr)
    }
}

impl RouteKey for Ipv6Net {
    type Addr = Ipv6Addr;

    #[inline]
    fn from_net(net: IpNet) -> Option<Self> {
        match net {
            IpNet::V6(net) => Some(net),
            IpNet::V4(_) => None,
        }
    }
    #[inline]
    fn to_ip(addr: Ipv6Addr) -> IpAddr {
        IpAddr::V6(addr)
    }
}

impl RouteKey for IpNet {
    type Addr = IpAddr;

    #[inline]
    fn from_net(net: IpNet) -> Option<Self> {
        Some(net)
    }
    #[inline]
    fn to_ip(addr: IpAddr) -> IpAddr {
        addr
    }
}

impl<K: RouteKey, V: SnapValue> Snapshot<K, V, Ordered> {
    /// The most specific route containing `addr`: the key with the longest
    /// prefix length among the keys that contain it, with its value.
    /// `None` when no route contains it (add `0.0.0.0/0` or `::/0` for a
    /// default route).
    ///
    /// Keys with host bits set never match, and IPv4-mapped IPv6 addresses
    /// are IPv6 (see the [module docs](crate::route#keys-are-networks)).
    ///
    /// Cost: one bucket read and a binary search over the few intervals of
    /// the version's route index starting in that bucket; O(log r) for r
    /// routes in the worst case, allocation-free. The index is built by the
    /// first call on each version, O(r) time and memory (see
    /// [`prepare_routes`](Self::prepare_routes) and
    /// [`index_at_commit`] to build it off the request path).
    ///
    /// ```
    /// use ipnet::IpNet;
    /// use snapmap::SnapOrdMap;
    /// use std::net::IpAddr;
    ///
    /// let table: SnapOrdMap<IpNet, u32> = [("0.0.0.0/0", 1), ("192.168.0.0/16", 2), ("2001:db8::/32", 3)]
    ///     .map(|(net, hop)| (net.parse().unwrap(), hop))
    ///     .into_iter()
    ///     .collect();
    /// let snap = table.load();
    /// let hop = |a: &str| snap.longest_match(a.parse::<IpAddr>().unwrap()).map(|(_, hop)| *hop);
    /// assert_eq!(hop("192.168.7.7"), Some(2));
    /// assert_eq!(hop("8.8.8.8"), Some(1));
    /// assert_eq!(hop("2001:db8::1"), Some(3));
    /// assert_eq!(hop("2001:db9::1"), None); // no IPv6 default route
    /// ```
    pub fn longest_match(&self, addr: K::Addr) -> Option<(&K, &V)> {
        let index = self.route_index();
        let slot = match K::to_ip(addr) {
            IpAddr::V4(a) => index.v4.find(u32::from(a)),
            IpAddr::V6(a) => index.v6.find(u128::from(a)),
        };
        index.routes.get(slot as usize).map(|(k, v)| (k, v))
    }

    /// [`longest_match`](Self::longest_match) without a route index: probes
    /// this version's map once for each prefix length present in it,
    /// longest first, for the exact network `Net::new(addr, len).trunc()`,
    /// and returns the first hit. Same answers as `longest_match`.
    ///
    /// Cost: at most L exact lookups for the L prefix lengths present among
    /// `addr`'s family in this version, each O(log n) on the persistent map
    /// or O(1) expected on the version's [read index](crate::ReadIndex) when
    /// it has one; allocation-free. The set of present lengths is computed
    /// by the first call on each version with one O(n) scan of the keys and
    /// takes 48 bytes. See the
    /// [module docs](crate::route#longest_match-versus-longest_match_probing)
    /// for when to prefer it.
    pub fn longest_match_probing(&self, addr: K::Addr) -> Option<(&K, &V)> {
        let lengths = self.derived(|snap| PresentLengths::scan(snap.keys()));
        match K::to_ip(addr) {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                lengths.v4.descending().find_map(|len| {
                    let net =
                        Ipv4Net::new_assert(Ipv4Addr::from(bits & u32::prefix_mask(len)), len);
                    self.get_key_value(&K::from_net(IpNet::V4(net))?)
                })
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                lengths.v6.descending().find_map(|len| {
                    let net =
                        Ipv6Net::new_assert(Ipv6Addr::from(bits & u128::prefix_mask(len)), len);
                    self.get_key_value(&K::from_net(IpNet::V6(net))?)
                })
            }
        }
    }

    /// Builds this version's route index (and its set of prefix lengths)
    /// now, if no lookup has yet, so that no request pays for it. O(r) time
    /// and memory for r routes, once per version; later calls on any
    /// snapshot of the version cost one pointer check.
    ///
    /// Call it from the control plane right after each commit, or use the
    /// [`index_at_commit`] validator to build it before the version is
    /// published.
    pub fn prepare_routes(&self) {
        self.route_index();
    }

    /// Routes whose key has host bits set in this version, which never
    /// match (see the [module docs](crate::route#keys-are-networks)): how
    /// many, and the smallest one. Builds the route index if needed.
    pub fn unmatchable_routes(&self) -> (usize, Option<&K>) {
        let index = self.route_index();
        (index.host_bits, index.first_host_bits.as_ref())
    }

    fn route_index(&self) -> &RouteIndex<K, V> {
        self.derived(|snap| {
            let index = RouteIndex::build(snap);
            // The probing path's length set falls out of the same scan:
            // hand it over so that path does not scan again.
            snap.derived(|_| index.lengths.clone());
            index
        })
    }
}

/// A validator for [`Builder::validator`](crate::Builder::validator) that
/// builds each candidate version's route index before it is published (so
/// no request thread pays for it: see
/// [`prepare_routes`](Snapshot::prepare_routes)) and rejects a candidate
/// holding a key with host bits set, which could never match. O(r) per
/// commit for r routes.
///
/// To combine it with checks of your own, call it from your validator:
/// `.validator(|c| { route::index_at_commit(c)?; my_check(c) })`.
///
/// ```
/// use ipnet::Ipv4Net;
/// use snapmap::{route, SnapOrdMap};
///
/// let table = SnapOrdMap::<Ipv4Net, u32>::builder().validator(route::index_at_commit).build();
/// table.insert("10.0.0.0/8".parse().unwrap(), 1)?;
/// let err = table.insert("10.1.2.3/16".parse().unwrap(), 2).unwrap_err();
/// assert!(err.to_string().contains("10.1.2.3/16"), "{err}");
/// assert_eq!(table.len(), 1);
/// # Ok::<(), snapmap::CommitError>(())
/// ```
pub fn index_at_commit<K: RouteKey, V: SnapValue>(
    candidate: &Snapshot<K, V, Ordered>,
) -> Result<(), BoxError> {
    match candidate.unmatchable_routes() {
        (0, _) => Ok(()),
        (n, first) => {
            let first = first
                .map(|&k| -> IpNet { k.into() })
                .expect("a count above zero names a route");
            Err(format!(
                "{n} route(s) have host bits set and could never match, first {first} (its network is {})",
                first.trunc()
            )
            .into())
        }
    }
}

/// The route index of one version: the address space of each family cut
/// into intervals, each labelled with its most specific route.
struct RouteIndex<K, V> {
    /// Clones of the matchable routes, in key order.
    routes: Vec<(K, V)>,
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    lengths: PresentLengths,
    host_bits: usize,
    first_host_bits: Option<K>,
}

impl<K: RouteKey, V: SnapValue> RouteIndex<K, V> {
    /// One pass over the version in key order. For canonical keys that
    /// order is (family, network address, prefix length): every network
    /// comes after the networks containing it, which is what
    /// [`IntervalBuilder`] needs.
    fn build(snap: &Snapshot<K, V, Ordered>) -> Self {
        let mut routes = Vec::with_capacity(snap.len());
        let mut v4 = IntervalBuilder::default();
        let mut v6 = IntervalBuilder::default();
        let mut lengths = PresentLengths::default();
        let (mut host_bits, mut first_host_bits) = (0, None);
        for (key, value) in snap.iter() {
            let net: IpNet = (*key).into();
            if net != net.trunc() {
                host_bits += 1;
                first_host_bits.get_or_insert(*key);
                continue;
            }
            let slot = u32::try_from(routes.len())
                .ok()
                .filter(|&slot| slot != NO_ROUTE)
                .expect("a route index holds fewer than 2^32 - 1 routes");
            match net {
                IpNet::V4(net) => v4.push(u32::from(net.network()), net.prefix_len(), slot),
                IpNet::V6(net) => v6.push(u128::from(net.network()), net.prefix_len(), slot),
            }
            lengths.insert(&net);
            routes.push((*key, value.clone()));
        }
        Self {
            routes,
            v4: v4.finish(),
            v6: v6.finish(),
            lengths,
            host_bits,
            first_host_bits,
        }
    }
}

/// The slot of "no route".
const NO_ROUTE: u32 = u32::MAX;

/// Address bits of one family: `u32` for IPv4, `u128` for IPv6.
trait Bits: Copy + Ord + Send + Sync + 'static {
    const ZERO: Self;
    const BITS: u32;
    /// The bucket number: the bits above `shift` (0 when `shift` is the
    /// width).
    fn bucket(self, shift: u32) -> usize;
    /// The mask keeping the first `len` bits.
    fn prefix_mask(len: u8) -> Self;
    /// The last address of the network starting at `self` with `len` bits.
    fn last_of(self, len: u8) -> Self;
    /// `self + 1`, or `None` past the end of the address space.
    fn successor(self) -> Option<Self>;
}

macro_rules! bits {
    ($t:ty) => {
        impl Bits for $t {
            const ZERO: Self = 0;
            const BITS: u32 = <$t>::BITS;
            #[inline]
            fn bucket(self, shift: u32) -> usize {
                // At most 16 bits remain after the shift.
                self.checked_shr(shift).unwrap_or(0) as usize
            }
            #[inline]
            fn prefix_mask(len: u8) -> Self {
                <$t>::MAX
                    .checked_shl(<$t>::BITS - u32::from(len))
                    .unwrap_or(0)
            }
            #[inline]
            fn last_of(self, len: u8) -> Self {
                self | !Self::prefix_mask(len)
            }
            #[inline]
            fn successor(self) -> Option<Self> {
                self.checked_add(1)
            }
        }
    };
}
bits!(u32);
bits!(u128);

/// One family's address space as sorted interval starts (the first is
/// always 0), each with the slot of the most specific route covering the
/// whole interval, or [`NO_ROUTE`].
///
/// A bucket table over the addresses' top bits narrows each search to the
/// intervals starting in the address's bucket: about one or two when
/// starts spread evenly (the table has about one bucket per interval, at
/// most 2^16).
struct Intervals<B> {
    starts: Box<[B]>,
    slots: Box<[u32]>,
    /// `buckets[b]`: the number of starts below bucket `b`'s first
    /// address; one more entry than buckets, the last is `starts.len()`.
    buckets: Box<[u32]>,
    /// Address bits below the bucket number.
    shift: u32,
}

impl<B: Bits> Intervals<B> {
    fn new(starts: Vec<B>, slots: Vec<u32>) -> Self {
        let bits = starts.len().ilog2().min(16);
        let shift = B::BITS - bits;
        let count = 1usize << bits;
        let mut buckets = Vec::with_capacity(count + 1);
        let mut below = 0;
        for b in 0..count {
            while below < starts.len() && starts[below].bucket(shift) < b {
                below += 1;
            }
            buckets.push(u32::try_from(below).expect("fewer than 2^32 intervals"));
        }
        buckets.push(u32::try_from(starts.len()).expect("fewer than 2^32 intervals"));
        Self {
            starts: starts.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            buckets: buckets.into_boxed_slice(),
            shift,
        }
    }

    /// The slot of the interval containing `addr`: one bucket read, then a
    /// binary search over the intervals starting in the bucket, O(log
    /// intervals) in the worst case. There are at most 2r + 1 intervals for
    /// r routes.
    #[inline]
    fn find(&self, addr: B) -> u32 {
        let b = addr.bucket(self.shift);
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        // The interval containing `addr` is the last one starting at or
        // before it: in this bucket, or else the one before the bucket
        // (there is one: starts[0] == 0 opens bucket 0).
        let in_bucket = self.starts[lo..hi].partition_point(|&start| start <= addr);
        self.slots[lo + in_bucket - 1]
    }
}

/// Builds [`Intervals`] from networks pushed in preorder (by network
/// address, then prefix length), with a stack of the networks containing
/// the current one.
struct IntervalBuilder<B> {
    starts: Vec<B>,
    slots: Vec<u32>,
    /// Enclosing networks, outermost first: (last address, slot).
    open: Vec<(B, u32)>,
}

impl<B: Bits> Default for IntervalBuilder<B> {
    fn default() -> Self {
        Self {
            starts: vec![B::ZERO],
            slots: vec![NO_ROUTE],
            open: Vec::new(),
        }
    }
}

impl<B: Bits> IntervalBuilder<B> {
    fn push(&mut self, start: B, len: u8, slot: u32) {
        self.close_before(Some(start));
        self.begin(start, slot);
        self.open.push((start.last_of(len), slot));
    }

    fn finish(mut self) -> Intervals<B> {
        self.close_before(None);
        Intervals::new(self.starts, self.slots)
    }

    /// Closes every open network that ends before `start` (all of them for
    /// `None`): past its end, the enclosing network (or no route) applies.
    fn close_before(&mut self, start: Option<B>) {
        while let Some(&(last, _)) = self.open.last() {
            if start.is_some_and(|start| last >= start) {
                break;
            }
            self.open.pop();
            if let Some(after) = last.successor() {
                let enclosing = self.open.last().map_or(NO_ROUTE, |&(_, slot)| slot);
                self.begin(after, enclosing);
            }
        }
    }

    /// Starts an interval at `start` owned by `slot`. A later interval at
    /// the same start is more specific (or follows a closed network) and
    /// replaces the earlier one; an interval with the same owner as the
    /// previous one merges into it.
    fn begin(&mut self, start: B, slot: u32) {
        let last = self.starts.len() - 1;
        if self.starts[last] == start {
            self.slots[last] = slot;
            if last > 0 && self.slots[last - 1] == slot {
                self.starts.pop();
                self.slots.pop();
            }
        } else if self.slots[last] != slot {
            self.starts.push(start);
            self.slots.push(slot);
        }
    }
}

/// The prefix lengths present in one version, per family.
#[derive(Clone, Default)]
struct PresentLengths {
    v4: LengthSet,
    v6: LengthSet,
}

impl PresentLengths {
    /// One O(n) scan; keys with host bits set are skipped (they never match).
    fn scan<'a, K: RouteKey>(keys: impl Iterator<Item = &'a K>) -> Self {
        let mut lengths = Self::default();
        for key in keys {
            let net: IpNet = (*key).into();
            if net == net.trunc() {
                lengths.insert(&net);
            }
        }
        lengths
    }

    fn insert(&mut self, net: &IpNet) {
        match net {
            IpNet::V4(_) => self.v4.insert(net.prefix_len()),
            IpNet::V6(_) => self.v6.insert(net.prefix_len()),
        }
    }
}

/// A set of prefix lengths 0..=128 as a bitmap.
#[derive(Clone, Copy, Default)]
struct LengthSet {
    words: [u64; 3],
}

impl LengthSet {
    fn insert(&mut self, len: u8) {
        self.words[usize::from(len / 64)] |= 1 << (len % 64);
    }

    /// The lengths, longest first.
    fn descending(self) -> impl Iterator<Item = u8> {
        let mut words = self.words;
        let mut word = words.len();
        std::iter::from_fn(move || loop {
            let current = words.get_mut(word.checked_sub(1)?)?;
            if *current == 0 {
                word -= 1;
                continue;
            }
            let bit = 63 - current.leading_zeros();
            *current &= !(1 << bit);
            // word <= 3 and bit < 64: the length fits in a u8.
            return Some(((word - 1) * 64) as u8 + bit as u8);
        })
    }
}
