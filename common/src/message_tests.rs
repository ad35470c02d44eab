use super::*;

#[test]
fn conversation_id_is_the_same_whoever_sends() {
    assert_eq!(conversation_id("bob", "alice"), "alice:bob");
    assert_eq!(conversation_id("alice", "bob"), "alice:bob");
    assert_eq!(conversation_id("alice", "alice"), "alice:alice");
}

#[test]
fn a_conversation_id_names_its_two_users_in_either_order() {
    assert_eq!(conversation_users("alice:bob"), Some(("alice", "bob")));
    assert_eq!(conversation_users("bob:alice"), Some(("alice", "bob")));
    assert_eq!(conversation_users("alice:alice"), Some(("alice", "alice")));
    for bad in ["alice", "alice:", ":bob", "a:b:c", "al ice:bob"] {
        assert_eq!(conversation_users(bad), None, "{bad:?}");
    }
}

#[test]
fn idempotency_key_gives_the_same_id_per_sender_only() {
    let a = idempotency_key_id("alice", "k1");
    assert_eq!(a, idempotency_key_id("alice", "k1"));
    assert_ne!(a, idempotency_key_id("bob", "k1"));
    assert_ne!(a, idempotency_key_id("alice", "k2"));
    assert_ne!(idempotency_key_id("ab", "c"), idempotency_key_id("a", "bc"));
}

#[test]
fn a_keyed_message_id_follows_sender_key_recipient_and_content() {
    let a = idempotent_message_id("alice", "k1", "bob", "hi");
    assert_eq!(a, idempotent_message_id("alice", "k1", "bob", "hi"));
    for other in [
        idempotent_message_id("carol", "k1", "bob", "hi"),
        idempotent_message_id("alice", "k2", "bob", "hi"),
        idempotent_message_id("alice", "k1", "carol", "hi"),
        idempotent_message_id("alice", "k1", "bob", "hi!"),
        idempotent_message_id("alice", "k1b", "ob", "hi"),
    ] {
        assert_ne!(a, other);
    }
    assert_ne!(a, idempotency_key_id("alice", "k1"));
}

#[test]
fn users_allow_letters_digits_dot_underscore_dash_up_to_50() {
    assert!(validate_user("u", "alice.B_0-9").is_ok());
    assert!(validate_user("u", &"a".repeat(50)).is_ok());
    assert!(validate_user("u", &"a".repeat(51)).is_err());
    assert!(validate_user("u", "").is_err());
    assert!(validate_user("u", "al ice").is_err());
    assert!(validate_user("u", "alice:bob").is_err());
    assert!(validate_user("u", "élodie").is_err());
    assert_eq!(validate_user("toUser", "").unwrap_err().field, "toUser");
}

#[test]
fn content_counts_unicode_characters_not_bytes() {
    assert!(validate_content("c", &"é".repeat(5000)).is_ok());
    assert!(validate_content("c", &"😀".repeat(5000)).is_ok());
    assert!(validate_content("c", &"a".repeat(5001)).is_err());
    assert!(validate_content("c", "").is_err());
}

#[test]
fn record_validation_reports_every_broken_field() {
    let record = MessageRecord {
        message_id: Uuid::nil(),
        from_user: String::new(),
        to_user: "bob".into(),
        content: String::new(),
        ..Default::default()
    };
    let fields: Vec<String> = record
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["fromUser", "content"]);
}
