//! One stream's messages: what it missed (after the client's position, or for a new stream after
//! where the store stands, up to the hub's position when it subscribed: from the store up to what
//! is stored, then from the hub's messages not yet stored), then what the hub releases, each with
//! the stream's new position as its id. A message at or below the position is never sent again,
//! so the seams and a resume on another replica carry no duplicate; nothing above it is skipped,
//! so no gap.

use std::sync::Arc;

use futures::Stream;
use wiber_common::stored::Position;

use super::event::{End, Event, Pushed};
use super::hub::Subscription;
use crate::producer::MessageProducer;
use crate::state::AppState;
use crate::store::MessageStore;

/// Messages read from the store per query while catching up.
const REPLAY_PAGE: i64 = 500;

pub enum Item {
    /// First of every stream: where it starts, so a client that loses it before any message
    /// resumes from here.
    Ready { id: String },
    Event {
        /// The position after this record: the event id to resume from.
        id: String,
        /// Boxed: a message is much larger than the other items.
        pushed: Box<Pushed>,
        /// When this replica released it (`None` for a replayed one).
        released_at: Option<std::time::Instant>,
    },
    /// The server ended the stream (the hub, or the store failing while it caught up); the
    /// client reconnects with its last id.
    End(End),
}

/// Where a stream starts: the client's position where it has one; elsewhere where the store
/// stands (never above the hub), so that a new stream first carries what is pushed but not yet
/// stored, and a client that opens its stream and then reads the history misses nothing. A
/// resuming client's position lacks only partitions the topic gained since: those from their
/// beginning.
fn starting_position(hub: &Position, stored: &Position, client: Option<&Position>) -> Position {
    let mut start = hub.clone();
    for (p, o) in &mut start.0 {
        if let Some(stored) = stored.get(*p) {
            *o = (*o).min(stored);
        }
        if client.is_some_and(|c| c.get(*p).is_none()) {
            *o = -1;
        }
    }
    if let Some(client) = client {
        for (&p, &o) in &client.0 {
            start.0.insert(p, o);
        }
    }
    start
}

/// `event` as the stream's next item, its position moved past it; `None` for one at or below the
/// position, which the stream has had (or passed) already.
fn advance(
    position: &mut Position,
    event: &Event,
    released_at: Option<std::time::Instant>,
) -> Option<Item> {
    if position
        .get(event.partition)
        .is_some_and(|p| event.offset <= p)
    {
        return None;
    }
    position.pass(event.partition, event.offset);
    Some(Item::Event {
        id: position.encode(),
        pushed: Box::new(event.pushed.clone()),
        released_at,
    })
}

pub fn items<P: MessageProducer, S: MessageStore>(
    state: Arc<AppState<P, S>>,
    mut subscription: Subscription,
    user: String,
    with: Option<String>,
    after: Option<Position>,
    mut until: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) -> impl Stream<Item = Item> {
    async_stream::stream! {
        let upto = subscription.position.clone();
        let mut position = starting_position(&upto, &subscription.stored, after.as_ref());
        yield Item::Ready { id: position.encode() };
        for (&partition, &last) in &upto.0 {
            let stored_upto = subscription.stored.get(partition).map_or(last, |s| s.min(last));
            loop {
                let from = position.get(partition).unwrap_or(-1);
                if from >= stored_upto {
                    break;
                }
                // Boxed: the store's query future is large, and held inline it would size every
                // stream's state for the whole of its life, idle or not.
                let query =
                    state.store.stream_range(&user, partition, from, stored_upto, REPLAY_PAGE);
                let page = match Box::pin(query).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "push stream: store failed while catching up");
                        subscription.end(End::StoreFailed);
                        yield Item::End(End::StoreFailed);
                        return;
                    }
                };
                let full = page.len() as i64 == REPLAY_PAGE;
                for stored in page {
                    position.pass(partition, stored.offset);
                    let Some(event) = Event::from_stored(&stored, std::time::Instant::now()) else {
                        continue;
                    };
                    if event.is_for(&user, with.as_deref()) {
                        yield Item::Event {
                            id: position.encode(),
                            pushed: Box::new(event.pushed),
                            released_at: None,
                        };
                    }
                }
                if !full {
                    position.pass(partition, stored_upto);
                }
            }
        }
        // Already this stream's only: the hub picked them for its user and peer.
        for event in std::mem::take(&mut subscription.unstored) {
            if let Some(item) = advance(&mut position, &event, None) {
                yield item;
            }
        }
        position = position.max(&upto);
        // A stream lives no longer than its token is accepted; a WebSocket client may hand over a
        // fresh token, which moves that end (`until` changes).
        let mut deadline = *until.borrow_and_update();
        let expired = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::pin!(expired);
        loop {
            let event = tokio::select! {
                event = subscription.events.recv() => event,
                () = &mut expired, if deadline.is_some() => {
                    subscription.end(End::TokenExpired);
                    yield Item::End(End::TokenExpired);
                    return;
                }
                Ok(()) = until.changed() => {
                    deadline = *until.borrow_and_update();
                    expired.as_mut().reset(deadline.unwrap_or_else(far_future));
                    continue;
                }
            };
            let Some(event) = event else { break };
            if let Some(item) = advance(&mut position, &event, Some(event.released_at)) {
                yield item;
            }
        }
        if let Some(ended) = subscription.ended() {
            yield Item::End(ended);
        }
    }
}

/// A deadline never reached (a year off), for a stream whose token does not expire.
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_at_or_below_the_position_is_skipped_and_one_above_moves_it() {
        let mut position = Position::decode("0:5,1:-1").unwrap();
        for offset in [4, 5] {
            let event = crate::push::hub::tests::event(0, offset, "alice", "bob");
            assert!(advance(&mut position, &event, None).is_none(), "{offset}");
        }
        let event = crate::push::hub::tests::event(0, 6, "alice", "bob");
        let Some(Item::Event { id, .. }) = advance(&mut position, &event, None) else {
            panic!("offset 6 is new");
        };
        assert_eq!(id, "0:6,1:-1");
        assert_eq!(position.encode(), id);
    }

    #[test]
    fn a_client_position_overrides_where_the_store_stands_and_a_partition_it_lacks_starts_at_its_beginning()
     {
        let hub = Position::decode("0:10,1:20,2:30").unwrap();
        let stored = Position::decode("0:8,1:20,2:25").unwrap();
        let client = Position::decode("1:5,2:40").unwrap();
        assert_eq!(
            starting_position(&hub, &stored, Some(&client)).encode(),
            "0:-1,1:5,2:40",
            "partition 0 is newer than the client's id: the topic grew"
        );
        assert_eq!(
            starting_position(&hub, &stored, None).encode(),
            "0:8,1:20,2:25",
            "a new stream starts where the store stands"
        );
        let ahead = Position::decode("0:12").unwrap();
        assert_eq!(
            starting_position(&hub, &ahead, None).encode(),
            "0:10,1:20,2:30",
            "never above the hub"
        );
    }
}
