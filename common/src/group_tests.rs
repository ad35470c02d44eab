use super::*;

fn change(action: Action, users: &[&str]) -> Membership {
    Membership {
        action,
        users: users.iter().map(|u| (*u).to_owned()).collect(),
        title: None,
        limit: None,
    }
}

fn created() -> GroupState {
    GroupState::apply(
        None,
        "alice",
        &change(Action::Created, &["carol", "alice", "bob"]),
        1,
    )
    .unwrap()
}

#[test]
fn a_group_id_is_never_a_pair_of_users() {
    let id = new_group_id();
    assert!(is_group_id(&id), "{id}");
    assert!(regex::Regex::new(GROUP_ID_PATTERN).unwrap().is_match(&id));
    assert_eq!(crate::message::conversation_users(&id), None);
    for bad in [
        "g-",
        "alice:bob",
        "g-ABCDEF0123456789abcdef0123456789",
        "x-0123456789abcdef0123456789abcdef",
    ] {
        assert!(!is_group_id(bad), "{bad}");
    }
}

#[test]
fn the_creator_owns_a_new_group_and_its_members_are_sorted() {
    let group = created();
    assert_eq!(group.members, ["alice", "bob", "carol"]);
    assert_eq!(group.owner, "alice");
    assert!(
        GroupState::apply(
            Some(&group),
            "alice",
            &change(Action::Created, &["alice"]),
            2
        )
        .is_err()
    );
}

#[test]
fn any_member_adds_but_a_stranger_does_nothing() {
    let group = created();
    let added =
        GroupState::apply(Some(&group), "bob", &change(Action::Added, &["dave"]), 5).unwrap();
    assert!(added.is_member("dave"));
    assert_eq!(
        GroupState::apply(Some(&group), "eve", &change(Action::Added, &["eve"]), 5),
        Err(Refused::NotMember("eve".into()))
    );
}

#[test]
fn only_the_owner_removes_and_the_removed_read_up_to_their_removal() {
    let group = created();
    assert_eq!(
        GroupState::apply(Some(&group), "bob", &change(Action::Removed, &["carol"]), 7),
        Err(Refused::NotOwner)
    );
    let removed = GroupState::apply(
        Some(&group),
        "alice",
        &change(Action::Removed, &["carol"]),
        7,
    )
    .unwrap();
    assert!(!removed.is_member("carol"));
    assert_eq!(removed.readable_until("carol"), Some(7));
    assert_eq!(removed.readable_until("bob"), None);
    assert_eq!(removed.readable_until("mallory"), Some(0));
    let back =
        GroupState::apply(Some(&removed), "bob", &change(Action::Added, &["carol"]), 9).unwrap();
    assert_eq!(back.readable_until("carol"), None);
    assert!(back.departed.is_empty());
}

#[test]
fn anyone_leaves_alone() {
    let group = created();
    let left = GroupState::apply(Some(&group), "bob", &change(Action::Left, &["bob"]), 4).unwrap();
    assert_eq!(left.members, ["alice", "carol"]);
    assert!(change(Action::Left, &["carol"]).validate("bob").is_err());
    assert!(change(Action::Left, &["bob"]).validate("bob").is_ok());
}

#[test]
fn an_addition_past_the_bound_is_refused_whatever_came_before() {
    let group = created();
    let mut add = change(Action::Added, &["dave", "erin"]);
    add.limit = Some(4);
    assert_eq!(
        GroupState::apply(Some(&group), "alice", &add, 3),
        Err(Refused::TooMany(5, 4))
    );
    add.users.pop();
    assert_eq!(
        GroupState::apply(Some(&group), "alice", &add, 3)
            .unwrap()
            .members
            .len(),
        4
    );
}

#[test]
fn member_lists_name_each_user_once_and_at_least_one() {
    let users = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(validate_users("members", &[]).unwrap_err().field, "members");
    assert_eq!(
        validate_users("members", &users(&["bob", "carol", "bob"]))
            .unwrap_err()
            .field,
        "members[2]"
    );
    assert_eq!(
        validate_users("members", &users(&["bob", "a b"]))
            .unwrap_err()
            .field,
        "members[1]"
    );
    assert!(validate_users("members", &users(&["bob", "carol"])).is_ok());
}

#[test]
fn a_summary_stays_short_for_any_number_of_users() {
    let few = change(Action::Added, &["bob", "carol"]);
    assert_eq!(few.summary("alice"), "alice added bob and carol");
    let names: Vec<String> = (0..256).map(|i| format!("{}{i}", "u".repeat(45))).collect();
    let many = Membership {
        users: names,
        ..change(Action::Created, &[])
    };
    assert!(many.summary("alice").chars().count() < 400);
    assert!(many.summary("alice").ends_with("and 252 others"));
}

#[test]
fn the_title_pattern_refuses_what_validate_title_refuses() {
    let pattern = regex::Regex::new(TITLE_PATTERN).unwrap();
    for title in ["Trip", "Été 2026 😀", "a\u{85}b", "tab\there", "nul\u{0}"] {
        let by_rule = validate_title("title", title).is_ok();
        assert_eq!(pattern.is_match(title), by_rule, "{title:?}");
    }
}
