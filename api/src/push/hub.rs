//! This replica's open streams, by user, and the one place messages are handed to them. A stream
//! subscribes and learns the hub's position in one step under the lock that releases messages,
//! so every message released later is above that position and every one before it is at or below:
//! the seam between what a stream replays and what it receives live.
//!
//! Messages are released as the feed reads them, before the consumer has stored them, so the hub
//! also keeps, per partition, the released messages not yet announced stored. A stream catching
//! up replays the store below them and these above it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use wiber_common::stored::Position;

use super::PushMetrics;
use super::event::{End, Event};
use super::unstored::Unstored;

struct Subscriber {
    id: u64,
    with: Option<String>,
    events: mpsc::Sender<Arc<Event>>,
    ended: Arc<AtomicU8>,
}

#[derive(Default)]
struct State {
    /// Every message at or below this, per partition, has been released (`None` until the feed
    /// has found where it starts).
    position: Option<Position>,
    /// What was released and is not yet stored, for streams catching up.
    unstored: Unstored,
    by_user: HashMap<String, Vec<Subscriber>>,
    next_id: u64,
    open: usize,
    closing: bool,
}

pub struct Hub {
    state: Mutex<State>,
    config: PushConfig,
    pub metrics: PushMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushConfig {
    /// API_PUSH_BUFFER (256): messages a stream may have waiting; one more and it is cut off.
    pub buffer: usize,
    /// API_PUSH_MAX_STREAMS (10000): streams open at once on this replica; more get 503.
    pub max_streams: usize,
    /// API_PUSH_HEARTBEAT_SECONDS (15): an idle stream gets a heartbeat this often, which keeps
    /// proxies from closing it and finds clients that are gone.
    pub heartbeat: std::time::Duration,
}

/// A stream's end of the hub: its live messages, and its place, given back when dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    user: String,
    id: u64,
    pub events: mpsc::Receiver<Arc<Event>>,
    ended: Arc<AtomicU8>,
    /// The hub's position when the stream subscribed.
    pub position: Position,
    /// Per partition, the last offset stored when the stream subscribed: it replays the store
    /// up to here (or `position`, if lower)...
    pub stored: Position,
    /// ...then these: its messages released above `stored`, by partition, in offset order.
    pub unstored: Vec<Arc<Event>>,
}

impl Subscription {
    /// Why the hub ended this stream, once `events` has run dry.
    pub fn ended(&self) -> Option<End> {
        End::from_code(self.ended.load(Ordering::SeqCst))
    }

    /// Ends the stream for `why` (the store failed it): counted as that, not as the client's
    /// going, when it is dropped.
    pub fn end(&self, why: End) {
        self.ended.store(why as u8, Ordering::SeqCst);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(&self.user, self.id);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The feed has not found its start yet (just after start-up, or Kafka is unreachable).
    NotReady,
    /// API_PUSH_MAX_STREAMS are open.
    Full,
    ShuttingDown,
}

impl Hub {
    pub fn new(config: PushConfig, metrics: PushMetrics) -> Arc<Self> {
        metrics
            .push_streams_max
            .set(i64::try_from(config.max_streams).unwrap_or(i64::MAX));
        Arc::new(Self {
            state: Mutex::new(State::default()),
            config,
            metrics,
        })
    }

    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    pub fn subscribe(
        self: &Arc<Self>,
        user: &str,
        with: Option<&str>,
    ) -> Result<Subscription, Refused> {
        let mut state = self.state.lock().expect("hub lock");
        if state.closing {
            return Err(Refused::ShuttingDown);
        }
        let position = state.position.clone().ok_or(Refused::NotReady)?;
        if state.open >= self.config.max_streams {
            return Err(Refused::Full);
        }
        let stored = state.unstored.stored_upto();
        let unstored = state.unstored.of(user, with);
        let (tx, rx) = mpsc::channel(self.config.buffer);
        let ended = Arc::new(AtomicU8::new(0));
        state.next_id += 1;
        let id = state.next_id;
        state.open += 1;
        state
            .by_user
            .entry(user.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                with: with.map(str::to_owned),
                events: tx,
                ended: ended.clone(),
            });
        self.metrics.push_streams.set(state.open as i64);
        Ok(Subscription {
            hub: self.clone(),
            user: user.to_owned(),
            id,
            events: rx,
            ended,
            position,
            stored,
            unstored,
        })
    }

    fn remove(&self, user: &str, id: u64) {
        let mut state = self.state.lock().expect("hub lock");
        let Some(subs) = state.by_user.get_mut(user) else {
            return;
        };
        let Some(at) = subs.iter().position(|s| s.id == id) else {
            return;
        };
        let gone = subs.remove(at);
        if subs.is_empty() {
            state.by_user.remove(user);
        }
        state.open -= 1;
        // Still listed, so not the hub's doing: the client went away, unless the stream said why.
        let why = End::from_code(gone.ended.load(Ordering::SeqCst)).unwrap_or(End::Client);
        self.metrics.ended(why, 1);
        self.metrics.push_streams.set(state.open as i64);
    }

    /// Where the feed starts: every message at or below `position` is stored, and was pushed by
    /// whichever replica was running then, or predates this one's streams.
    pub fn start(&self, position: Position) {
        let mut state = self.state.lock().expect("hub lock");
        state.unstored = Unstored::starting_at(&position);
        state.position = Some(position);
    }

    /// Every offset of `partition` below `below` is stored: its messages are no longer kept for
    /// streams catching up, which read them from the store. Returns how many are still kept.
    pub fn stored(&self, partition: i32, below: i64) -> usize {
        let mut state = self.state.lock().expect("hub lock");
        let history_lag = &self.metrics.appended_to_stored;
        state.unstored.stored(partition, below, |event| {
            history_lag.observe(since_epoch_ms(event.timestamp));
        })
    }

    /// The topic grew: `partition` is new, read from its beginning, so every stream gets all of
    /// it. Streams that opened before it have no position there, and take everything.
    pub fn grow(&self, partition: i32) {
        let mut state = self.state.lock().expect("hub lock");
        if let Some(position) = state.position.as_mut() {
            position.pass(partition, -1);
        }
        state.unstored.grow(partition);
    }

    /// Whether streams can be opened.
    pub fn ready(&self) -> bool {
        self.state.lock().expect("hub lock").position.is_some()
    }

    /// Hands `events` (acknowledged by Kafka, in offset order) to their users' streams, keeps them
    /// until they are stored, and moves the position of `partition` to `upto`, which also covers
    /// offsets that carried no message for anyone. Returns how many of the partition's released
    /// messages are not yet stored.
    pub fn release(&self, partition: i32, upto: i64, events: &[Arc<Event>]) -> usize {
        let mut state = self.state.lock().expect("hub lock");
        // What this release cuts, counted as it goes: the cost follows the events' recipients'
        // streams, never everyone connected.
        let (mut slow, mut gone) = (0, Vec::new());
        for event in events {
            for user in &event.users {
                let Some(subs) = state.by_user.get_mut(user.as_str()) else {
                    continue;
                };
                subs.retain(|s| {
                    if !event.is_for(user, s.with.as_deref()) {
                        return true;
                    }
                    match s.events.try_send(event.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            s.ended.store(End::SlowReader as u8, Ordering::SeqCst);
                            slow += 1;
                            false
                        }
                        // Its receiver is gone: let go as `remove` would have.
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            gone.push(End::from_code(s.ended.load(Ordering::SeqCst)));
                            false
                        }
                    }
                });
                if subs.is_empty() {
                    state.by_user.remove(user.as_str());
                }
            }
        }
        let cut = slow + gone.len();
        if cut > 0 {
            state.open -= cut;
            self.metrics.ended(End::SlowReader, slow);
            for why in gone {
                self.metrics.ended(why.unwrap_or(End::Client), 1);
            }
            self.metrics.push_streams.set(state.open as i64);
        }
        if let Some(position) = state.position.as_mut() {
            position.pass(partition, upto);
        }
        state.unstored.keep(partition, events)
    }

    /// Ends every stream (SIGTERM): each tells its client to reconnect, and no new one opens.
    pub fn close_all(&self) {
        let mut state = self.state.lock().expect("hub lock");
        state.closing = true;
        for subs in state.by_user.values() {
            for s in subs {
                s.ended.store(End::ShuttingDown as u8, Ordering::SeqCst);
            }
        }
        let cut = state.open;
        state.by_user.clear();
        state.open = 0;
        self.metrics.ended(End::ShuttingDown, cut);
        self.metrics.push_streams.set(0);
    }
}

/// Seconds from `appended` (milliseconds since the epoch) to now; 0 for a clock behind it.
pub fn since_epoch_ms(appended: i64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (now - appended).max(0) as f64 / 1000.0
}

#[cfg(test)]
#[path = "hub_tests.rs"]
pub(crate) mod tests;
