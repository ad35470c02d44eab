//! Groups over the fakes: every refusal names its field or says who may, nothing refused is
//! produced, and a member's change is produced on the group's key with those it reaches. That
//! the consumer applies changes in Kafka's order is proven on real servers
//! (e2e/tests/messaging/groups.rs).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use wiber_common::group::{Action, GroupState};
use wiber_common::message::{MessageRecord, StoredMessage};
use wiber_testkit::issuer;

use crate::fakes::*;

pub(crate) const GROUP: &str = "g-0123456789abcdef0123456789abcdef";

pub(crate) fn request(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    builder
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap()
}

/// A store holding GROUP (owner alice; bob, carol members; dave removed at place 3), and its
/// messages at places 1 to 5.
pub(crate) fn store() -> FakeStore {
    let group = GroupState {
        members: vec!["alice".into(), "bob".into(), "carol".into()],
        title: Some("Trip".into()),
        owner: "alice".into(),
        departed: vec![wiber_common::group::Departed {
            user: "dave".into(),
            seq: 3,
        }],
    };
    let messages = (1..=5)
        .map(|seq| {
            let record = MessageRecord {
                message_id: uuid::Uuid::from_u128(seq as u128),
                from_user: "alice".into(),
                content: format!("place {seq}"),
                conversation_id: Some(GROUP.into()),
                ..MessageRecord::default()
            };
            wiber_common::readmodel::placed(StoredMessage::new(record, BROKER_TIME, 0, seq), seq)
        })
        .collect();
    let store = FakeStore {
        messages,
        ..FakeStore::default()
    };
    store.groups.lock().unwrap().insert(GROUP.into(), group);
    store
}

pub(crate) fn sent(s: &State) -> Vec<(String, MessageRecord)> {
    s.producer.sent.lock().unwrap().clone()
}

#[tokio::test]
async fn a_new_groups_bad_member_list_is_refused_by_field_and_nothing_is_produced() {
    let s = state(FakeProducer::default(), store());
    let cases = [
        (json!({"members": []}), StatusCode::BAD_REQUEST, "members"),
        (
            json!({"members": ["bob", "carol", "bob"]}),
            StatusCode::BAD_REQUEST,
            "members[2]",
        ),
        (
            json!({"members": ["bob", 7]}),
            StatusCode::BAD_REQUEST,
            "members[1]",
        ),
        (
            json!({"members": "bob"}),
            StatusCode::BAD_REQUEST,
            "members",
        ),
        (json!({"title": "x"}), StatusCode::BAD_REQUEST, "members"),
        (
            json!({"members": ["bob"], "title": ""}),
            StatusCode::BAD_REQUEST,
            "title",
        ),
        (
            json!({"members": ["bob"], "owner": "x"}),
            StatusCode::BAD_REQUEST,
            "owner",
        ),
        // The fakes bound groups to 4: alice and four more are five.
        (
            json!({"members": ["b", "c", "d", "e"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "members",
        ),
    ];
    for (body, status, field) in cases {
        let (got, _, answer) = call(
            router(&s),
            request("POST", "/conversations?user=alice", Some(body.clone())),
        )
        .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(fields(&answer), [field], "{body}: {answer}");
    }
    assert!(sent(&s).is_empty());
}

#[tokio::test]
async fn a_new_group_is_produced_on_its_own_key_with_its_creator_and_answered_once_accepted() {
    let s = state(FakeProducer::default(), store());
    let body = json!({"members": ["carol", "bob"], "title": "Trip"});
    let (status, _, answer) = call(
        router(&s),
        request("POST", "/conversations?user=alice", Some(body)),
    )
    .await;
    // The fakes have no consumer: the change is accepted, not applied.
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let id = answer["change"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(wiber_common::group::is_group_id(&id), "{answer}");
    assert_eq!(answer["change"]["membership"]["action"], "created");
    assert_eq!(
        answer["change"]["membership"]["users"],
        json!(["alice", "bob", "carol"])
    );
    assert!(answer["change"].get("recipients").is_none(), "{answer}");
    let produced = sent(&s);
    assert_eq!(produced.len(), 1);
    let (key, record) = &produced[0];
    assert_eq!(key, &id);
    assert_eq!(record.recipients, ["alice", "bob", "carol"]);
    assert_eq!(
        record.content,
        "alice created the group with alice, bob and carol"
    );
}

#[tokio::test]
async fn only_members_send_to_a_group_and_it_reaches_its_members() {
    let s = state(FakeProducer::default(), store());
    for (from, status) in [
        ("mallory", StatusCode::FORBIDDEN),
        ("dave", StatusCode::FORBIDDEN),
        ("bob", StatusCode::OK),
    ] {
        let body = json!({"fromUser": from, "conversationId": GROUP, "content": "hi"});
        let (got, _, answer) = call(router(&s), post(body.to_string())).await;
        assert_eq!(got, status, "{from}: {answer}");
    }
    let produced = sent(&s);
    assert_eq!(produced.len(), 1, "only bob's message");
    assert_eq!(produced[0].0, GROUP);
    assert_eq!(produced[0].1.recipients, ["alice", "bob", "carol"]);
    for (body, field) in [
        (
            json!({"fromUser": "bob", "toUser": "alice", "conversationId": GROUP, "content": "x"}),
            "conversationId",
        ),
        (
            json!({"fromUser": "bob", "conversationId": "alice:bob", "content": "x"}),
            "conversationId",
        ),
        (json!({"fromUser": "bob", "content": "x"}), "toUser"),
        // Null is not a group, and the contract does not allow it (schemathesis sent it when the
        // document said the field was nullable).
        (
            json!({"fromUser": "bob", "conversationId": null, "content": "x"}),
            "conversationId",
        ),
    ] {
        let (got, _, answer) = call(router(&s), post(body.to_string())).await;
        assert_eq!(got, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(fields(&answer), [field], "{body}: {answer}");
    }
}

#[tokio::test]
async fn members_add_the_owner_removes_anyone_leaves_and_strangers_change_nothing() {
    let s = state(FakeProducer::default(), store());
    let members = format!("/conversations/{GROUP}/members");
    let cases = [
        // A stranger, a former member, and a group that does not exist: refused alike.
        (
            "POST",
            format!("{members}?user=mallory"),
            Some(json!({"users": ["x"]})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "POST",
            format!("{members}?user=dave"),
            Some(json!({"users": ["x"]})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "POST",
            "/conversations/g-ffffffffffffffffffffffffffffffff/members?user=alice".to_owned(),
            Some(json!({"users": ["x"]})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "POST",
            format!("{members}?user=bob"),
            Some(json!({"users": ["carol"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("users"),
        ),
        (
            "POST",
            format!("{members}?user=bob"),
            Some(json!({"users": ["x", "y"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("users"),
        ),
        (
            "POST",
            format!("{members}?user=bob"),
            Some(json!({"users": []})),
            StatusCode::BAD_REQUEST,
            Some("users"),
        ),
        (
            "POST",
            "/conversations/alice:bob/members?user=alice".to_owned(),
            Some(json!({"users": ["x"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("conversationId"),
        ),
        (
            "DELETE",
            format!("{members}/carol?user=bob"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "DELETE",
            format!("{members}/dave?user=alice"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("user"),
        ),
        (
            "DELETE",
            format!("{members}/bob?user=mallory"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
    ];
    for (method, uri, body, status, field) in cases {
        let (got, _, answer) = call(router(&s), request(method, &uri, body)).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
        if let Some(field) = field {
            assert_eq!(fields(&answer), [field], "{method} {uri}: {answer}");
        }
        assert!(
            !answer.to_string().contains("Trip"),
            "a refusal tells nothing: {answer}"
        );
    }
    assert!(sent(&s).is_empty());
    for (method, uri, body, action) in [
        (
            "POST",
            format!("{members}?user=bob"),
            Some(json!({"users": ["erin", "carol"]})),
            Action::Added,
        ),
        (
            "DELETE",
            format!("{members}/carol?user=alice"),
            None,
            Action::Removed,
        ),
        (
            "DELETE",
            format!("{members}/bob?user=bob"),
            None,
            Action::Left,
        ),
    ] {
        let (got, _, answer) = call(router(&s), request(method, &uri, body)).await;
        assert_eq!(got, StatusCode::ACCEPTED, "{method} {uri}: {answer}");
        let record = sent(&s).pop().unwrap().1;
        assert_eq!(record.membership.as_ref().unwrap().action, action);
    }
    let produced = sent(&s);
    let added = produced[0].1.membership.clone().unwrap();
    assert_eq!(added.users, ["erin"], "carol was a member already");
    assert_eq!(added.limit, Some(4));
    assert_eq!(produced[0].1.recipients, ["alice", "bob", "carol", "erin"]);
}

#[tokio::test]
async fn a_former_member_reads_up_to_their_going_and_a_stranger_reads_nothing() {
    let s = state(FakeProducer::default(), store());
    let page = |user: &str| format!("/conversations/{GROUP}/messages?user={user}");
    let contents = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, _, body) = call(router(&s), get(&page("dave"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(contents(&body), ["place 1", "place 2", "place 3"]);
    let (status, _, body) = call(router(&s), get(&page("bob"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(contents(&body).len(), 5);
    assert_eq!(body[0]["conversationId"], GROUP);
    for path in [
        page("mallory"),
        format!("/conversations/{GROUP}?user=mallory"),
        "/conversations/g-ffffffffffffffffffffffffffffffff/messages?user=alice".to_owned(),
    ] {
        let (status, _, body) = call(router(&s), get(&path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["code"], "not_a_member", "{path}: {body}");
        assert!(!body.to_string().contains("place"), "{body}");
    }
    let (status, _, info) = call(
        router(&s),
        get(&format!("/conversations/{GROUP}?user=dave")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["readableUntil"], 3);
    assert_eq!(info["group"]["owner"], "alice");
    let (_, _, info) = call(router(&s), get("/conversations/bob:alice?user=alice")).await;
    assert_eq!(info["members"], json!(["alice", "bob"]));
}

#[tokio::test]
async fn a_token_acts_only_as_its_user_on_a_group() {
    let setup = crate::auth::setup(store()).await;
    let mallory = setup.ed.sign(&issuer::claims("mallory"));
    let bob = setup.ed.sign(&issuer::claims("bob"));
    let members = format!("/conversations/{GROUP}/members");
    for (token, method, uri, body, status) in [
        (
            &bob,
            "POST",
            format!("{members}?user=alice"),
            Some(json!({"users": ["x"]})),
            StatusCode::FORBIDDEN,
        ),
        (
            &mallory,
            "POST",
            members.clone(),
            Some(json!({"users": ["mallory"]})),
            StatusCode::FORBIDDEN,
        ),
        (
            &mallory,
            "GET",
            format!("/conversations/{GROUP}/messages"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            &bob,
            "GET",
            format!("/conversations/{GROUP}/messages?user=dave"),
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            &bob,
            "GET",
            format!("/conversations/{GROUP}/messages"),
            None,
            StatusCode::OK,
        ),
    ] {
        let (got, _, answer) = call(
            router(&setup.state),
            bearer(request(method, &uri, body), token),
        )
        .await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    assert!(setup.state.producer.sent.lock().unwrap().is_empty());
}
