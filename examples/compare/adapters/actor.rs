//! An actor owning a plain `HashMap`: every operation is a message on one
//! channel to the owning thread, answered on the caller's reply channel
//! (Go's `chan mapOp` pattern). Every operation waits for its answer.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::{Adapter, BuildSpec, MapHandle};
use crate::keys::{BenchHasher, BenchKey};

enum Op<K> {
    Get(K),
    Insert(K, u64),
    Remove(K),
    InsertBatch(Vec<(K, u64)>),
}

struct Request<K> {
    op: Op<K>,
    reply: Sender<Option<u64>>,
}

pub struct Actor<K> {
    requests: Mutex<Option<Sender<Request<K>>>>,
    owner: Option<JoinHandle<()>>,
}

pub struct ActorHandle<K> {
    requests: Sender<Request<K>>,
    reply: Sender<Option<u64>>,
    replies: Receiver<Option<u64>>,
}

fn serve<K: BenchKey, S: BenchHasher>(mut map: HashMap<K, u64, S>, requests: Receiver<Request<K>>) {
    for Request { op, reply } in requests {
        let answer = match op {
            Op::Get(k) => map.get(&k).copied(),
            Op::Insert(k, v) => map.insert(k, v),
            Op::Remove(k) => map.remove(&k),
            Op::InsertBatch(items) => {
                map.extend(items);
                None
            }
        };
        // A caller that went away no longer needs the answer.
        let _ = reply.send(answer);
    }
}

impl<K: BenchKey, S: BenchHasher> Adapter<K, S> for Actor<K> {
    type Handle<'a> = ActorHandle<K>;

    fn build(spec: &BuildSpec<'_, K, S>) -> Self {
        let mut map = HashMap::with_capacity_and_hasher(spec.entries.len(), spec.hasher.clone());
        map.extend(spec.entries.iter().cloned());
        let (requests, inbox) = channel();
        let owner = std::thread::Builder::new()
            .name("actor-map".into())
            .spawn(move || serve(map, inbox))
            .expect("spawn the actor thread");
        Self {
            requests: Mutex::new(Some(requests)),
            owner: Some(owner),
        }
    }
    fn handle(&self) -> ActorHandle<K> {
        let requests = self.requests.lock().clone().expect("actor already stopped");
        let (reply, replies) = channel();
        ActorHandle {
            requests,
            reply,
            replies,
        }
    }
}

impl<K> Drop for Actor<K> {
    fn drop(&mut self) {
        // The owner stops once every sender (ours and the handles') is gone.
        self.requests.lock().take();
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

impl<K: BenchKey> ActorHandle<K> {
    fn call(&mut self, op: Op<K>) -> Option<u64> {
        let request = Request {
            op,
            reply: self.reply.clone(),
        };
        self.requests.send(request).expect("actor thread stopped");
        self.replies.recv().expect("actor thread stopped")
    }
}

impl<K: BenchKey> MapHandle<K> for ActorHandle<K> {
    fn get(&mut self, key: &K) -> Option<u64> {
        self.call(Op::Get(key.clone()))
    }
    fn insert(&mut self, key: K, value: u64) {
        self.call(Op::Insert(key, value));
    }
    fn remove(&mut self, key: &K) {
        self.call(Op::Remove(key.clone()));
    }
    fn insert_batch(&mut self, items: &[(K, u64)]) {
        self.call(Op::InsertBatch(items.to_vec()));
    }
}
