//! In-memory stand-ins for Kafka and MongoDB, and helpers to call the router.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use serde_json::Value;
use tower::ServiceExt;
use wiber_api::auth::{Access, Auth};
use wiber_api::metrics::Metrics;
use wiber_api::producer::{MessageProducer, ProduceError, Produced};
use wiber_api::push::{Hub, PushConfig, PushMetrics};
use wiber_api::store::{ConversationPage, CountScope, Cursor, KeyHolder, MessageStore, StoreError};
use wiber_api::{AppState, app};
use wiber_common::group::GroupState;
use wiber_common::message::{MessageRecord, StoredMessage};
use wiber_common::readmodel::{InboxEntry, TallyState};

pub const BROKER_TIME: i64 = 1_790_000_000_000;

/// How the fake broker fails a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The message never left the client.
    NotSent,
    /// Sent, then timed out: the broker may have it.
    Unknown,
}

#[derive(Default)]
pub struct FakeProducer {
    pub failure: Mutex<Option<Failure>>,
    pub sent: Mutex<Vec<(String, MessageRecord)>>,
}

impl FakeProducer {
    pub fn failing(failure: Failure) -> Self {
        Self {
            failure: Mutex::new(Some(failure)),
            ..Default::default()
        }
    }
}

impl MessageProducer for FakeProducer {
    async fn send(&self, key: &str, record: &MessageRecord) -> Result<Produced, ProduceError> {
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        match *self.failure.lock().unwrap() {
            Some(Failure::NotSent) => {
                return Err(ProduceError::NotSent {
                    category: "timeout",
                    source: timed_out,
                });
            }
            Some(Failure::Unknown) => {
                return Err(ProduceError::OutcomeUnknown {
                    category: "timeout",
                    source: timed_out,
                });
            }
            None => {}
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((key.to_owned(), record.clone()));
        Ok(Produced {
            timestamp: BROKER_TIME + sent.len() as i64,
            partition: 0,
            offset: sent.len() as i64 - 1,
        })
    }

    async fn ready(&self) -> bool {
        self.failure.lock().unwrap().is_none()
    }
}

#[derive(Default)]
pub struct FakeStore {
    pub down: bool,
    /// How long each conversation read takes: a store slower than the request timeout.
    pub delay: Option<std::time::Duration>,
    pub messages: Vec<StoredMessage>,
    pub pages: Mutex<Vec<ConversationPage>>,
    pub counts: Mutex<Vec<CountScope>>,
    pub keys: Mutex<HashMap<String, Reservation>>,
    pub inbox: Mutex<Vec<InboxEntry>>,
    /// Each inbox page asked for: whose, before what, how many.
    pub inbox_pages: Mutex<Vec<(String, Option<Cursor>, i64)>>,
    /// Groups as the consumer applied them, by id.
    pub groups: Mutex<HashMap<String, GroupState>>,
}

/// A reserved key's message id, and the offset and timestamp of its first acknowledgement.
pub type Reservation = (String, Option<(i64, i64)>);

pub fn unavailable() -> StoreError {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "down");
    StoreError::from(mongodb::error::Error::from(io))
}

impl MessageStore for FakeStore {
    async fn inbox(
        &self,
        user: &str,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        if self.down {
            return Err(unavailable());
        }
        self.inbox_pages
            .lock()
            .unwrap()
            .push((user.to_owned(), before, limit));
        let mut mine: Vec<InboxEntry> = (self.inbox.lock().unwrap().iter())
            .filter(|e| e.user == user)
            .cloned()
            .collect();
        mine.sort_by_key(|e| std::cmp::Reverse(e.last_timestamp));
        Ok(mine.into_iter().take(limit as usize).collect())
    }

    async fn mark_read(
        &self,
        user: &str,
        conversation_id: &str,
        message_id: &str,
        _until: Option<i64>,
    ) -> Result<Option<InboxEntry>, StoreError> {
        let Some(m) = self
            .messages
            .iter()
            .find(|m| m.message_id == message_id && m.conversation_id == conversation_id)
        else {
            return Ok(None);
        };
        let mut inbox = self.inbox.lock().unwrap();
        let entry = inbox
            .iter_mut()
            .find(|e| e.user == user && e.conversation_id == conversation_id)
            .expect("the test's inbox has the entry");
        entry.read_seq = entry.read_seq.max(m.seq.unwrap_or(0));
        Ok(Some(entry.clone()))
    }

    async fn conversation(&self, page: ConversationPage) -> Result<Vec<StoredMessage>, StoreError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        if self.down {
            return Err(unavailable());
        }
        let out = self
            .messages
            .iter()
            .filter(|m| m.conversation_id == page.conversation_id)
            .take(page.limit as usize)
            .cloned()
            .collect();
        self.pages.lock().unwrap().push(page);
        Ok(out)
    }

    async fn user_messages(
        &self,
        _user: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self.messages.iter().take(limit as usize).cloned().collect())
    }

    async fn stream_range(
        &self,
        user: &str,
        partition: i32,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| m.participants.iter().any(|p| p == user) && m.partition == partition)
            .filter(|m| m.offset > after && m.offset <= upto)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn count(&self, scope: CountScope) -> Result<u64, StoreError> {
        self.counts.lock().unwrap().push(scope);
        Ok(self.messages.len() as u64)
    }

    async fn reserve_key(&self, key_id: &str, message_id: &str) -> Result<KeyHolder, StoreError> {
        if self.down {
            return Err(unavailable());
        }
        let mut keys = self.keys.lock().unwrap();
        Ok(match keys.get(key_id) {
            Some((held, acknowledged)) => KeyHolder::Held {
                message_id: held.clone(),
                timestamp: acknowledged.map(|(_, t)| t),
            },
            None => {
                keys.insert(key_id.to_owned(), (message_id.to_owned(), None));
                KeyHolder::Reserved
            }
        })
    }

    async fn key_acknowledged(&self, key_id: &str, produced: Produced) -> Result<i64, StoreError> {
        let mut keys = self.keys.lock().unwrap();
        let (_, acknowledged) = keys.get_mut(key_id).expect("reserved before produce");
        match acknowledged {
            Some((offset, timestamp)) if *offset < produced.offset => Ok(*timestamp),
            _ => {
                *acknowledged = Some((produced.offset, produced.timestamp));
                Ok(produced.timestamp)
            }
        }
    }

    async fn group(&self, conversation_id: &str) -> Result<Option<GroupState>, StoreError> {
        if self.down {
            return Err(unavailable());
        }
        Ok(self.groups.lock().unwrap().get(conversation_id).cloned())
    }

    /// No consumer applies anything here: every change stays on its way (202).
    async fn group_applied(
        &self,
        _conversation_id: &str,
    ) -> Result<Option<(GroupState, TallyState)>, StoreError> {
        Ok(None)
    }

    async fn read_marks(
        &self,
        conversation_id: &str,
        users: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let inbox = self.inbox.lock().unwrap();
        Ok(inbox
            .iter()
            .filter(|e| e.conversation_id == conversation_id && users.contains(&e.user))
            .map(|e| (e.user.clone(), e.read_seq))
            .collect())
    }

    async fn message(&self, message_id: &str) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .iter()
            .find(|m| m.message_id == message_id)
            .cloned())
    }

    async fn is_stored(&self, message_id: &str) -> Result<bool, StoreError> {
        Ok(self.messages.iter().any(|m| m.message_id == message_id))
    }

    async fn ready(&self) -> bool {
        !self.down
    }
}

pub type State = Arc<AppState<FakeProducer, FakeStore>>;

/// A state with `AUTH_MODE=none`, for the tests of everything but authentication.
pub fn state(producer: FakeProducer, store: FakeStore) -> State {
    state_with(producer, store, Auth::Open)
}

pub fn state_with(producer: FakeProducer, store: FakeStore, auth: Auth) -> State {
    let metrics = Metrics::new();
    let push = Hub::new(
        PushConfig {
            buffer: 16,
            max_streams: 100,
            heartbeat: std::time::Duration::from_secs(15),
        },
        PushMetrics::register(&metrics.registry),
    );
    Arc::new(AppState {
        producer,
        store,
        metrics,
        max_in_flight: 512,
        push,
        group_max_members: 4,
        stopping: Default::default(),
        body_timeout: std::time::Duration::from_secs(10),
        request_timeout: std::time::Duration::from_secs(5),
        access: Access {
            auth: Arc::new(auth),
            limits: None,
        },
    })
}

/// `request` with `Authorization: Bearer <token>`.
pub fn bearer(mut request: Request<Body>, token: &str) -> Request<Body> {
    let value = format!("Bearer {token}").parse().unwrap();
    request.headers_mut().insert(header::AUTHORIZATION, value);
    request
}

pub fn stored(id: &str, from: &str, to: &str, content: &str, offset: i64) -> StoredMessage {
    StoredMessage::new(
        MessageRecord {
            message_id: id.parse().unwrap(),
            from_user: from.into(),
            to_user: to.into(),
            content: content.into(),
            ..Default::default()
        },
        BROKER_TIME + offset,
        1,
        offset,
    )
}

pub async fn call(
    router: Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

pub fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post("/messages")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

/// A POST with an `Idempotency-Key`.
pub fn post_keyed(key: &str, body: &Value) -> Request<Body> {
    Request::post("/messages")
        .header(header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// The fields named in a problem response's `errors`.
pub fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// A router over `state`, as the binary serves it.
pub fn router(state: &State) -> Router {
    app(state.clone())
}
