//! The users and messages a run creates. Every name starts with the run's prefix, so the counts a
//! run reads see its own messages only, however many earlier runs left in the store.

use hyper::body::Bytes;

/// The two users of conversation `c` of this run; `tag` keeps phases' conversations apart.
pub fn pair(prefix: &str, tag: &str, c: usize) -> (String, String) {
    (
        format!("{prefix}-{tag}{c}-a"),
        format!("{prefix}-{tag}{c}-b"),
    )
}

pub fn message_body(from: &str, to: &str, i: usize, chars: usize) -> Bytes {
    let mut content = format!("loadgen message {i} ");
    // ASCII only, so a byte count is a character count.
    content.truncate(chars);
    while content.len() < chars {
        content.push('x');
    }
    let body = serde_json::json!({ "fromUser": from, "toUser": to, "content": content });
    Bytes::from(body.to_string())
}
