//! Backup and restore as docs/operations/backup-and-restore.md gives it, run once on the local
//! store: the consumer group's offsets exported first (`kafka-consumer-groups --reset-offsets
//! --to-current --export`), then a dump of the store; more traffic; the store lost; the dump
//! restored, the group reset to the exported offsets, and the consumer replaying from there. Every
//! message ends up stored once, and the counts and inboxes are those of a store that never failed,
//! but for what the API alone writes: a read mark set after the dump goes back to the dump's.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use wiber_e2e::command::run;
use wiber_e2e::kafka::{committed_all, group_members};
use wiber_e2e::stack::{OwnStore, Wiber, message_id};
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, repo, unique_name};

use crate::STORED_WITHIN;

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const PAIRS: [(&str, &str); 3] = [("bob", "alice"), ("carol", "alice"), ("bob", "carol")];

/// The guide that gives the commands below, verbatim.
const GUIDE: &str = "docs/operations/backup-and-restore.md";
/// The guide's export of the group's committed offsets, before the dump: `--describe` works while
/// the consumers run (`--reset-offsets --export` refuses an active group); a partition with no
/// committed offset yet replays from its start.
const EXPORT: &str = r#"kafka-consumer-groups --describe --group "$GROUP" --offsets \
  | awk -v topic="$TOPIC" '$2 == topic { print $2 "," $3 "," ($4 ~ /^[0-9]+$/ ? $4 : 0) }' > offsets.csv"#;
/// The guide's reset of the group to them, after the restore (the file through stdin, so it
/// works through `kubectl exec -i` too).
const RESET: &str = r#"kafka-consumer-groups --group "$GROUP" --reset-offsets --from-file /dev/stdin --execute < offsets.csv"#;

/// Runs one of the guide's commands in `dir` for `wiber`'s group and topic, with
/// `kafka-consumer-groups` being Kafka's own tool on the test run's Kafka (dev/kafka.sh); what it
/// printed.
fn guide_command(command: &str, wiber: &Wiber, dir: &Path) -> String {
    // As written in the guide, whatever a list item indents it by.
    let unindented = |text: &str| text.lines().map(str::trim).collect::<Vec<_>>().join("\n");
    let guide = std::fs::read_to_string(repo().join(GUIDE)).expect("the backup guide");
    assert!(
        unindented(&guide).contains(&unindented(command)),
        "{GUIDE} no longer gives:\n{command}"
    );
    let bootstrap = kafka_bootstrap();
    let port = bootstrap.rsplit(':').next().expect("host:port");
    let tool = repo().join("dev/kafka.sh");
    let script = format!(
        "set -euo pipefail\nkafka-consumer-groups() {{ KAFKA_PORT={port} {} groups \"$@\"; }}\n{command}",
        tool.display()
    );
    run(
        "a backup guide command",
        Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir)
            .env("GROUP", &wiber.group)
            .env("TOPIC", &wiber.topic),
        Duration::from_secs(120),
    )
    .success(&script)
}

/// Sends `n` messages over the three conversations and waits until the store holds `total`
/// and the group has committed all of it.
async fn send_and_store(wiber: &Wiber, from: usize, n: usize, total: u64) -> Vec<Value> {
    let mut sent = Vec::new();
    for i in from..from + n {
        let (a, b) = PAIRS[i % PAIRS.len()];
        sent.push(wiber.send(a, b, &format!("message {i}")).await);
    }
    eventually(
        "the messages stored and committed",
        STORED_WITHIN,
        || async {
            (wiber.count("").await == total
                && committed_all(&wiber.bootstrap, &wiber.group, &wiber.topic))
            .then_some(())
        },
    )
    .await;
    sent
}

async fn inbox(wiber: &Wiber, user: &str) -> Vec<Value> {
    let (status, _, body) = wiber.get(&format!("/conversations?user={user}")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("an inbox").clone()
}

async fn mark_read(wiber: &Wiber, user: &str, conversation: &str, message: &Value) {
    let url = format!(
        "{}/conversations/{conversation}/read?user={user}",
        wiber.api_url
    );
    let body = json!({ "messageId": message_id(message) });
    let response = wiber
        .http
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("POST read");
    assert_eq!(response.status(), 200);
}

/// What an app shows: every user's count and inbox.
async fn shown(wiber: &Wiber) -> Vec<(String, u64, Vec<Value>)> {
    let mut out = Vec::new();
    for user in USERS {
        let count = wiber.count(&format!("?user1={user}")).await;
        out.push((user.to_owned(), count, inbox(wiber, user).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_its_dump_and_replayed_from_kafka_holds_every_message_once() {
    let mut store = OwnStore::start().await;
    let wiber = Wiber::start_with_store(store.uri()).await;
    let consumer = wiber.consumer().await;
    send_and_store(&wiber, 0, 30, 30).await;

    // The backup: the group's offsets first, so that all before them is in the dump.
    let dir = std::env::temp_dir().join(unique_name("wiber-backup"));
    std::fs::create_dir_all(&dir).expect("a backup directory");
    guide_command(EXPORT, &wiber, &dir);
    let offsets = std::fs::read_to_string(dir.join("offsets.csv")).expect("offsets.csv");
    let lines: Vec<&str> = offsets.lines().collect();
    assert_eq!(lines.len(), 3, "one line per partition:\n{offsets}");
    assert!(
        lines.iter().all(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells.len() == 3 && cells[0] == wiber.topic && cells[2].parse::<u64>().is_ok()
        }),
        "{offsets}"
    );
    // Stored after the export and before the dump: in the dump, and redelivered by the replay.
    let before_dump = send_and_store(&wiber, 30, 12, 42).await;
    mark_read(&wiber, "alice", "alice:bob", &before_dump[9]).await;
    let dump = dir.join("store.dump");
    store.dump(&dump);

    // After the backup: only Kafka has these, and the API alone this read mark.
    let after_dump = send_and_store(&wiber, 42, 18, 60).await;
    let carol_last = after_dump
        .iter()
        .rev()
        .find(|m| m["fromUser"] == "carol")
        .expect("one from carol");
    mark_read(&wiber, "alice", "alice:carol", carol_last).await;
    let expected_ids: BTreeSet<String> = wiber.stored_ids().await.into_iter().collect();
    assert_eq!(expected_ids.len(), 60);
    let expected = shown(&wiber).await;

    // The store lost; the consumers stopped (and gone from the group, which a reset needs); the
    // dump restored; the group back at the exported offsets.
    let mut consumer = consumer;
    consumer.process.terminate(Duration::from_secs(30));
    eventually("the group empty", STORED_WITHIN, || async {
        (group_members(&wiber.bootstrap, &wiber.group) == 0).then_some(())
    })
    .await;
    store.restore(&dump).await;
    assert_eq!(
        wiber.count("").await,
        42,
        "the dump holds what was stored before it"
    );
    let said = guide_command(RESET, &wiber, &dir);
    for line in &lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(
            said.lines()
                .any(|l| l.split_whitespace().skip(1).eq(cells.iter().copied())),
            "the reset did not set {line}:\n{said}"
        );
    }
    let _consumer = wiber.consumer().await;
    eventually("the replay stored", STORED_WITHIN, || async {
        (wiber.count("").await == 60 && committed_all(&wiber.bootstrap, &wiber.group, &wiber.topic))
            .then_some(())
    })
    .await;

    let ids: Vec<String> = wiber.stored_ids().await;
    assert_eq!(ids.len(), 60, "each message once");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected_ids);
    let restored = shown(&wiber).await;
    for ((user, count, inbox), (_, restored_count, restored_inbox)) in
        expected.iter().zip(&restored)
    {
        assert_eq!(count, restored_count, "{user}'s count");
        assert_eq!(
            inbox.len(),
            restored_inbox.len(),
            "{user}'s inbox: {restored_inbox:?}"
        );
        for (entry, restored_entry) in inbox.iter().zip(restored_inbox) {
            let conversation = &entry["conversationId"];
            if user == "alice" && conversation == "alice:carol" {
                // The mark set after the dump is gone: what carol wrote after the dump is unread.
                assert!(
                    entry["unreadCount"] == 0 && restored_entry["unreadCount"].as_u64() > Some(0)
                );
                let (mut entry, mut restored_entry) = (entry.clone(), restored_entry.clone());
                entry["unreadCount"] = Value::Null;
                restored_entry["unreadCount"] = Value::Null;
                assert_eq!(entry, restored_entry, "{user} {conversation}");
            } else {
                assert_eq!(entry, restored_entry, "{user} {conversation}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
