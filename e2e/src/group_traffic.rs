//! A group's traffic for the fault scenarios: messages from its members with members added and
//! removed, and messages edited and deleted, along the way, so a scenario's faults (a consumer
//! killed, a rebalance) hit membership changes and message changes too. The read-model check (`tallies`) then replays the group from its stored changes and
//! checks that every message reached exactly the members of its moment.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use crate::stack::{Wiber, message_id};

/// What the traffic left: its acknowledged messages, and the members it ended with.
pub struct GroupRun {
    pub group: String,
    pub acknowledged: HashSet<String>,
    /// The membership changes, acknowledged by Kafka like messages and stored among them.
    pub changes: HashSet<String>,
    pub members: Vec<String>,
    /// Messages edited (to the content given) and deleted, each accepted (200 or 202).
    pub edited: Vec<(String, String)>,
    pub deleted: Vec<String>,
}

impl GroupRun {
    /// Every edit and delete accepted is applied, once: the edited content (and only that) and
    /// no content at all where deleted.
    pub async fn assert_changes_applied(&self, wiber: &Wiber, within: std::time::Duration) {
        let messages = wiber.collection().await;
        let expected: Vec<(String, String, bool)> = self
            .edited
            .iter()
            .filter(|(id, _)| !self.deleted.contains(id))
            .map(|(id, content)| (id.clone(), content.clone(), false))
            .chain(
                self.deleted
                    .iter()
                    .map(|id| (id.clone(), String::new(), true)),
            )
            .collect();
        crate::wait::eventually("every accepted edit and delete applied", within, || async {
            for (id, content, deleted) in &expected {
                let stored = messages
                    .find_one(mongodb::bson::doc! { "_id": id })
                    .await
                    .ok()??;
                let flag = if *deleted { "deleted" } else { "edited" };
                if stored.get_str("content").ok()? != content
                    || !stored.get_bool(flag).unwrap_or(false)
                {
                    return None;
                }
            }
            Some(())
        })
        .await;
    }
}

fn change_id(answer: &Value) -> String {
    answer["change"]["messageId"]
        .as_str()
        .expect("a change's messageId")
        .to_owned()
}

async fn call(
    wiber: &Wiber,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = wiber
        .http
        .request(method, format!("{}{path}", wiber.api_url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("group request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// How long a group accepted with 202 may take to be applied.
const GROUP_APPLIED_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// A group made for `group_traffic`, applied by the consumer.
pub struct MadeGroup {
    prefix: String,
    group: String,
    change: String,
}

/// Makes a group of `<prefix>-g0` (its owner) to `<prefix>-g4` and waits until the consumer has
/// applied it (it must be up), so that the group exists before its first message: make it before
/// a fault that stops the consumers.
pub async fn make_group(wiber: &Wiber, prefix: &str) -> MadeGroup {
    let user = |i: usize| format!("{prefix}-g{i}");
    let owner = user(0);
    let (status, made) = call(
        wiber,
        reqwest::Method::POST,
        &format!("/conversations?user={owner}"),
        Some(json!({"members": (1..5).map(user).collect::<Vec<_>>(), "title": prefix})),
    )
    .await;
    // 202: made, but not yet applied by the consumer within the API's wait (a busy machine); the
    // group is there once it is.
    assert!(
        status == 201 || status == 202,
        "the group made: {status} {made}"
    );
    let group = made["change"]["conversationId"]
        .as_str()
        .expect("group id")
        .to_owned();
    if status == 202 {
        let path = format!("/conversations/{group}?user={owner}");
        crate::wait::eventually("the group applied", GROUP_APPLIED_WITHIN, || async {
            let (status, _) = call(wiber, reqwest::Method::GET, &path, None).await;
            (status == 200).then_some(())
        })
        .await;
    }
    MadeGroup {
        prefix: prefix.to_owned(),
        group,
        change: change_id(&made),
    }
}

/// Sends `messages` messages to a group `make_group` made, one at a time, adding a member every
/// 40 and removing `<prefix>-g1` halfway. Senders are the first members still in it, so nothing
/// acknowledged can be refused in Kafka's order.
pub async fn group_traffic(wiber: &Wiber, made: MadeGroup, messages: usize) -> GroupRun {
    let MadeGroup {
        prefix,
        group,
        change,
    } = made;
    let user = |i: usize| format!("{prefix}-g{i}");
    let owner = user(0);
    let mut changes = HashSet::from([change]);
    let mut members: Vec<String> = (0..5).map(user).collect();
    let senders = [user(0), user(2), user(3), user(4)];
    let mut acknowledged = HashSet::new();
    // Sent messages to change later (by their sender), once stored: (id, sender, index).
    let mut to_change: Vec<(String, String, usize)> = Vec::new();
    let (mut edited, mut deleted) = (Vec::new(), Vec::new());
    for i in 0..messages {
        // Every tenth message is edited, and every thirtieth then deleted, when the store has it
        // (while the consumer is down, it waits for a later turn).
        if let Some(at) = to_change.iter().position(|_| true) {
            let (id, sender, n) = to_change[at].clone();
            let path = format!("/messages/{id}?user={sender}");
            let (method, body) = if edited.iter().any(|(e, _)| *e == id) {
                (reqwest::Method::DELETE, None)
            } else {
                let content = format!("group message {n}, edited");
                (reqwest::Method::PATCH, Some(json!({ "content": content })))
            };
            let (status, answer) = call(wiber, method.clone(), &path, body.clone()).await;
            match status {
                200 | 202 if method == reqwest::Method::DELETE => {
                    deleted.push(id);
                    to_change.remove(at);
                }
                200 | 202 => {
                    edited.push((id.clone(), format!("group message {n}, edited")));
                    if n % 30 != 0 {
                        to_change.remove(at);
                    }
                }
                404 => {}
                _ => panic!("a change of {id} refused: {status} {answer}"),
            }
        }
        if i > 0 && i % 40 == 0 {
            let added = user(4 + i / 40);
            let (status, answer) = call(
                wiber,
                reqwest::Method::POST,
                &format!("/conversations/{group}/members?user={owner}"),
                Some(json!({"users": [added]})),
            )
            .await;
            assert!(
                matches!(status, 200 | 202),
                "an addition accepted: {answer}"
            );
            changes.insert(change_id(&answer));
            members.push(added);
        }
        if i == messages / 2 {
            let (status, answer) = call(
                wiber,
                reqwest::Method::DELETE,
                &format!("/conversations/{group}/members/{}?user={owner}", user(1)),
                None,
            )
            .await;
            assert!(matches!(status, 200 | 202), "a removal accepted: {answer}");
            changes.insert(change_id(&answer));
            members.retain(|m| *m != user(1));
        }
        let body = json!({
            "fromUser": senders[i % senders.len()],
            "conversationId": group,
            "content": format!("group message {i}"),
        });
        let started = Instant::now();
        let response = wiber.post(&body).await;
        let answered = Instant::now();
        if response.status() == 200 {
            let answer: Value = response.json().await.expect("JSON answer");
            let id = message_id(&answer);
            wiber.history.record(&id, started, answered);
            if i % 10 == 0 {
                to_change.push((id.clone(), senders[i % senders.len()].clone(), i));
            }
            acknowledged.insert(id);
        }
    }
    members.sort();
    GroupRun {
        group,
        acknowledged,
        changes,
        members,
        edited,
        deleted,
    }
}
