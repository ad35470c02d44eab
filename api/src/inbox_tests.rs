use wiber_common::queries::Cursor;
use wiber_common::readmodel::{Recent, RecentList, Tally, TallyState};

use super::from_lists;

/// A user's tally in `partition` listing `items` (conversation, offset; timestamps follow offsets).
pub(crate) fn tally(partition: i32, items: &[(&str, i64)], all: bool) -> Tally {
    Tally {
        id: format!("u/ann/{partition}"),
        kind: "user".into(),
        user: Some("ann".into()),
        partition,
        state: TallyState::new(0),
        group: None,
        recent: Some(RecentList {
            items: items
                .iter()
                .map(|(c, o)| Recent {
                    conversation_id: (*c).into(),
                    timestamp: 1_000 + o,
                    offset: *o,
                })
                .collect(),
            all,
        }),
    }
}

#[test]
fn a_page_merges_the_partitions_lists_newest_first() {
    let tallies = [
        tally(0, &[("a", 9), ("b", 5)], true),
        tally(1, &[("c", 7), ("d", 1)], true),
    ];
    assert_eq!(from_lists(&tallies, None, 3).unwrap(), ["a", "c", "b"]);
    assert_eq!(
        from_lists(&tallies, None, 10).unwrap(),
        ["a", "c", "b", "d"],
        "complete lists end the inbox"
    );
}

#[test]
fn a_later_page_starts_strictly_after_the_cursor() {
    let tallies = [
        tally(0, &[("a", 9), ("b", 5)], true),
        tally(1, &[("c", 7), ("d", 1)], true),
    ];
    let cursor = Cursor {
        timestamp: 1_007,
        partition: 1,
        offset: 7,
    };
    assert_eq!(from_lists(&tallies, Some(cursor), 2).unwrap(), ["b", "d"]);
}

#[test]
fn a_cut_list_serves_only_pages_that_end_before_its_last_item() {
    let tallies = [
        tally(0, &[("a", 9), ("b", 5)], false),
        tally(1, &[("c", 7), ("d", 1)], true),
    ];
    assert_eq!(from_lists(&tallies, None, 2).unwrap(), ["a", "c"]);
    assert_eq!(
        from_lists(&tallies, None, 3),
        None,
        "b is the cut list's last item: an older conversation of partition 0 could follow it"
    );
    assert_eq!(from_lists(&tallies, None, 10), None);
}

#[test]
fn a_tally_without_a_list_sends_the_page_to_the_sorted_query() {
    let mut old = tally(0, &[], true);
    old.recent = None;
    assert_eq!(
        from_lists(&[old, tally(1, &[("c", 7)], true)], None, 1),
        None
    );
    assert_eq!(
        from_lists(&[tally(0, &[], false)], None, 1),
        None,
        "a list begun on a tally written before lists, before any message since"
    );
}

#[test]
fn a_user_without_tallies_has_an_empty_inbox() {
    assert_eq!(from_lists(&[], None, 20).unwrap(), Vec::<String>::new());
}
