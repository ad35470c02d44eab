//! Edits and deletes on the real servers: only the sender edits, a message keeps its id and place,
//! an edit is marked, a delete leaves no content anywhere in the store (the message, its earlier
//! edit, the inbox), both reach open streams as typed events and a stream resuming from before them
//! gets them again.

use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use wiber_e2e::sse::{SseEvent, SseStream};
use wiber_e2e::stack::{Wiber, message_id};
use wiber_e2e::wait::eventually;

use crate::STORED_WITHIN;

async fn change(
    wiber: &Wiber,
    patch: bool,
    id: &str,
    user: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/messages/{id}?user={user}", wiber.api_url);
    let mut request = if patch {
        wiber.http.patch(url)
    } else {
        wiber.http.delete(url)
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn next(stream: &mut SseStream) -> SseEvent {
    stream
        .next_message(STORED_WITHIN)
        .await
        .expect("the stream ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_edits_and_deletes_their_message_and_every_copy_of_its_content_goes() {
    let wiber = Wiber::start().await;
    let _consumer = wiber.consumer().await;
    let mut bob = wiber.live_stream(None, "user=bob").await;
    let first = wiber.send("alice", "bob", "hello").await;
    let second = wiber.send("alice", "bob", "second").await;
    let (id, second_id) = (message_id(&first), message_id(&second));
    assert_eq!(next(&mut bob).await.json()["messageId"], first["messageId"]);
    let resume_from = {
        let event = next(&mut bob).await;
        assert_eq!(event.json()["messageId"], second["messageId"]);
        event.id.expect("an event id")
    };

    // Once stored, only alice may change it; mallory, who never saw it, learns nothing.
    let edit = Some(json!({"content": "hello, edited"}));
    let (status, edited) = eventually(
        "the message stored, so it can be edited",
        STORED_WITHIN,
        || async {
            let (status, answer) = change(&wiber, true, &id, "alice", edit.clone()).await;
            (status != 404).then_some((status, answer))
        },
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["content"].as_str(), edited["edited"].as_bool()),
        (Some("hello, edited"), Some(true))
    );
    assert_eq!(edited["messageId"], first["messageId"]);
    assert_eq!(change(&wiber, true, &id, "bob", edit.clone()).await.0, 403);
    assert_eq!(
        change(&wiber, true, &id, "mallory", edit.clone()).await.0,
        404
    );
    assert_eq!(change(&wiber, false, &id, "bob", None).await.0, 403);
    let (status, refused) = change(&wiber, true, &id, "alice", Some(json!({"content": ""}))).await;
    assert_eq!(status, 400, "{refused}");

    let event = next(&mut bob).await;
    assert_eq!(event.event, "edit", "{event:?}");
    assert_eq!(event.json()["content"], "hello, edited");
    assert_eq!(event.json()["messageId"], first["messageId"]);

    let (status, deleted) = change(&wiber, false, &id, "alice", None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        (deleted["content"].as_str(), deleted["deleted"].as_bool()),
        (Some(""), Some(true))
    );
    let event = next(&mut bob).await;
    assert_eq!(event.event, "delete", "{event:?}");
    assert!(event.json().get("content").is_none(), "{event:?}");
    assert_eq!(
        change(&wiber, true, &id, "alice", edit.clone()).await.0,
        409,
        "a deleted message does not change"
    );

    // Same id, same place; the content gone from the message and from its edit.
    let (_, _, page) = wiber.get("/messages/alice/bob").await;
    assert_eq!(page[0]["messageId"], first["messageId"]);
    assert_eq!(
        (page[0]["content"].as_str(), page[0]["deleted"].as_bool()),
        (Some(""), Some(true))
    );
    assert_eq!(page[1]["content"], "second");
    let client = mongodb::Client::with_uri_str(&wiber.mongo_uri)
        .await
        .unwrap();
    let db = client.database(&wiber.db);
    let stored: Document = db
        .collection("messages")
        .find_one(doc! {"_id": &id})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("content").unwrap(), "");
    let mut kept = db
        .collection::<Document>("messages_changes")
        .find(doc! {"change.messageId": &id})
        .await
        .unwrap();
    let mut changes = 0;
    while kept.advance().await.unwrap() {
        let doc = kept.deserialize_current().unwrap();
        assert_eq!(
            doc.get_str("content").unwrap(),
            "",
            "no copy of the content is left: {doc}"
        );
        changes += 1;
    }
    assert_eq!(
        changes, 2,
        "the edit and the delete are kept for resuming streams"
    );

    // Deleting the last message empties it in the inbox too.
    let (status, _) = change(&wiber, false, &second_id, "alice", None).await;
    assert_eq!(status, 200);
    let (_, _, inbox) = wiber.get("/conversations?user=bob").await;
    assert_eq!(inbox[0]["lastMessage"]["content"], "", "{inbox}");

    // A stream resuming from before the changes gets them again, in order.
    let resumed = wiber
        .open_stream(None, "user=bob", None, Some(&resume_from))
        .await;
    let mut resumed = SseStream::new(resumed);
    let kinds: Vec<(String, Value)> = {
        let mut kinds = Vec::new();
        for _ in 0..3 {
            let event = next(&mut resumed).await;
            kinds.push((event.event.clone(), event.json()["messageId"].clone()));
        }
        kinds
    };
    assert_eq!(
        kinds,
        [
            ("edit".to_owned(), first["messageId"].clone()),
            ("delete".to_owned(), first["messageId"].clone()),
            ("delete".to_owned(), second["messageId"].clone()),
        ]
    );
}
