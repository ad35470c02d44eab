use super::*;

fn every_query() -> Vec<(&'static str, Query)> {
    let cursor = Cursor {
        timestamp: 1,
        partition: 2,
        offset: 3,
    };
    vec![
        ("conversation page", conversation_page("a:b", None)),
        (
            "conversation cursor page",
            conversation_page("a:b", Some(cursor)),
        ),
        ("conversation count", conversation_count("a:b")),
        ("user page", user_recent("a")),
        ("user count", user_count("a")),
        ("stream range", stream_range("a", 2, 10, 20)),
        ("conversation page by place", conversation_page_at("a:b/3")),
        ("user tallies", user_tallies("a")),
        ("partition tallies", partition_tallies()),
        ("inbox page", inbox_page("a", None)),
        ("inbox cursor page", inbox_page("a", Some(cursor))),
    ]
}

/// The fields a filter compares, at top level and inside `$or` branches.
fn filter_fields(filter: &Document) -> Vec<String> {
    let mut fields = Vec::new();
    for (key, value) in filter {
        if key == "$or" {
            for branch in value.as_array().expect("$or takes an array") {
                fields.extend(filter_fields(branch.as_document().expect("branch")));
            }
        } else {
            fields.push(key.clone());
        }
    }
    fields
}

#[test]
fn every_query_starts_with_an_equality_on_its_index_first_key() {
    for (name, q) in every_query() {
        let (first, _) = q.index.keys[0];
        let value = q
            .filter
            .get(first)
            .unwrap_or_else(|| panic!("{name}: no {first}"));
        assert!(
            !matches!(value, Bson::Document(_)),
            "{name}: {first} must be compared for equality, not with an operator"
        );
        assert_eq!(
            q.filter.keys().next().map(String::as_str),
            Some(first),
            "{name}"
        );
    }
}

#[test]
fn every_filtered_field_is_a_key_of_the_query_index() {
    for (name, q) in every_query() {
        for field in filter_fields(&q.filter) {
            assert!(
                q.index.keys.iter().any(|&(k, _)| k == field),
                "{name}: {field} is not in {}",
                q.index.name
            );
        }
    }
}

#[test]
fn every_sort_follows_its_index_after_the_equality_one_way_or_fully_reversed() {
    for (name, q) in every_query() {
        let Some(sort) = q.sort else { continue };
        let sorted: Vec<(String, i32)> = sort
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i32().expect("direction")))
            .collect();
        let rest = &q.index.keys[1..];
        assert_eq!(
            sorted.len(),
            rest.len(),
            "{name}: sort all of the index after its prefix"
        );
        let same = sorted
            .iter()
            .zip(rest)
            .all(|((k, d), (ik, id))| k == ik && d == id);
        let reversed = sorted
            .iter()
            .zip(rest)
            .all(|((k, d), (ik, id))| k == ik && *d == -id);
        assert!(
            same || reversed,
            "{name}: sort {sort} against {:?}",
            q.index.keys
        );
    }
}

#[test]
fn every_index_a_query_names_is_created() {
    for (name, q) in every_query() {
        assert!(
            INDEXES.contains(&q.index)
                || TALLY_INDEXES.contains(&q.index)
                || INBOX_INDEXES.contains(&q.index),
            "{name}: {} is not created",
            q.index.name
        );
    }
    for legacy in LEGACY_INDEXES {
        assert!(INDEXES.iter().all(|i| i.name != legacy));
    }
}

/// The queries that would go to every shard today, each with the step of the plan past one
/// cluster (docs/operations/sizing.md) that makes it targeted.
const SCATTERED: [(&str, &str); 6] = [
    (
        "conversation page by place",
        "name the conversation beside the page in the filter",
    ),
    (
        "user page",
        "a user's recent messages from the deliveries keyed by recipient",
    ),
    ("user count", "the user's tallies, read by id"),
    (
        "stream range",
        "a resume reads the deliveries keyed by recipient",
    ),
    ("user tallies", "read by id, one per partition"),
    (
        "partition tallies",
        "read by id, one per partition (the admin's total)",
    ),
];

#[test]
fn every_query_leads_with_its_collections_shard_key_or_is_a_listed_scatter() {
    for (name, q) in every_query() {
        let collection = if INDEXES.contains(&q.index) {
            "messages"
        } else if TALLY_INDEXES.contains(&q.index) {
            "tallies"
        } else {
            "inbox"
        };
        let (_, key) = SHARD_KEYS
            .iter()
            .find(|(c, _)| *c == collection)
            .expect("every collection has a shard key");
        let targeted = q.filter.keys().next().map(String::as_str) == Some(*key)
            && !matches!(q.filter.get(*key), Some(Bson::Document(_)));
        let listed = SCATTERED.iter().any(|(n, _)| *n == name);
        assert!(
            targeted != listed,
            "{name}: {}",
            if targeted {
                "targeted now: take it off SCATTERED"
            } else {
                "would go to every shard: lead its filter with the shard key, or list it with its plan"
            }
        );
    }
}

#[test]
fn cursor_round_trips_and_rejects_garbage() {
    let c = Cursor {
        timestamp: 1_700_000_000_123,
        partition: 2,
        offset: 99,
    };
    assert_eq!(Cursor::decode(&c.encode()), Some(c));
    for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3"] {
        assert_eq!(Cursor::decode(bad), None, "{bad:?}");
    }
}

#[test]
fn the_documented_cursor_pattern_accepts_exactly_what_decodes() {
    crate::digits::assert_pattern_matches_decoder(
        CURSOR_PATTERN,
        &[".", ".", ".", "+", ","],
        |s| Cursor::decode(s).is_some(),
    );
}

#[test]
fn a_page_cursor_is_a_place_or_a_position_and_its_pattern_says_so() {
    assert_eq!(PageCursor::decode("42"), Some(PageCursor::Place(42)));
    let position = Cursor {
        timestamp: 5,
        partition: 1,
        offset: 9,
    };
    assert_eq!(
        PageCursor::decode("5.1.9"),
        Some(PageCursor::Position(position))
    );
    assert_eq!(PageCursor::Place(7).encode(), "7");
    for bad in ["", "-1", "4a", "1.2"] {
        assert_eq!(PageCursor::decode(bad), None, "{bad:?}");
    }
    crate::digits::assert_pattern_matches_decoder(
        PAGE_CURSOR_PATTERN,
        &[".", ".", ".", "+", ","],
        |s| PageCursor::decode(s).is_some(),
    );
}

#[test]
fn a_cursor_page_bounds_only_the_keys_after_the_conversation() {
    let q = conversation_page(
        "a:b",
        Some(Cursor {
            timestamp: 5,
            partition: 1,
            offset: 9,
        }),
    );
    let branches = q.filter.get_array("$or").expect("cursor branches");
    assert_eq!(branches.len(), 3);
    assert_eq!(filter_fields(&q.filter)[0], "conversationId");
    assert!(!filter_fields(&q.filter)[1..].contains(&"conversationId".to_owned()));
}
