//! A group's traffic for the fault scenarios: messages from its members with members added and
//! removed along the way, so a scenario's faults (a consumer killed, a rebalance) hit membership
//! changes too. The read-model check (`tallies`) then replays the group from its stored changes and
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

/// Makes a group of `<prefix>-g0` (its owner) to `<prefix>-g4` (the consumer must be up, so that
/// it exists before its first message), then sends `messages` messages to it one at a time,
/// adding a member every 40 and removing `<prefix>-g1` halfway. Senders are the first members
/// still in it, so nothing acknowledged can be refused in Kafka's order.
pub async fn group_traffic(wiber: &Wiber, prefix: &str, messages: usize) -> GroupRun {
    let user = |i: usize| format!("{prefix}-g{i}");
    let owner = user(0);
    let (status, made) = call(
        wiber,
        reqwest::Method::POST,
        &format!("/conversations?user={owner}"),
        Some(json!({"members": (1..5).map(user).collect::<Vec<_>>(), "title": prefix})),
    )
    .await;
    assert_eq!(status, 201, "the group made and applied: {made}");
    let group = made["group"]["conversationId"]
        .as_str()
        .expect("group id")
        .to_owned();
    let mut changes = HashSet::from([change_id(&made)]);
    let mut members: Vec<String> = (0..5).map(user).collect();
    let senders = [user(0), user(2), user(3), user(4)];
    let mut acknowledged = HashSet::new();
    for i in 0..messages {
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
            acknowledged.insert(id);
        }
    }
    members.sort();
    GroupRun {
        group,
        acknowledged,
        changes,
        members,
    }
}
