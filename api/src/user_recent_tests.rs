use super::conversations;
use crate::inbox::tests::tally;

#[test]
fn a_users_conversations_come_newest_last_message_first_across_partitions() {
    let (order, beyond) = conversations(&[
        tally(0, &[("a", 9), ("b", 2)], true),
        tally(1, &[("c", 5)], true),
    ])
    .unwrap();
    let names: Vec<&str> = order.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(names, ["a", "c", "b"]);
    assert_eq!(beyond, None, "every list whole: nothing beyond them");
}

#[test]
fn a_cut_list_says_how_new_what_it_left_out_may_be() {
    let (_, beyond) = conversations(&[
        tally(0, &[("a", 9), ("b", 2)], false),
        tally(1, &[("c", 5), ("d", 4)], false),
    ])
    .unwrap();
    assert_eq!(
        beyond,
        Some((1_004, 1, 4)),
        "the newer of the two lists' ends"
    );
}

#[test]
fn without_a_list_the_lists_cannot_tell() {
    let mut old = tally(0, &[], true);
    old.recent = None;
    assert!(conversations(&[old]).is_none());
    assert!(
        conversations(&[tally(0, &[], false)]).is_none(),
        "a list begun before any message since lists were kept"
    );
}
