//! Probes to a group (`--push-group N`): one group of N members made through the API, every member
//! but the sender holding a stream, each probe a group message whose event every one of them must
//! receive: a group's push costs one event per member, so its last member's wait is the figure.

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::args::Args;
use crate::http::{Conn, Error, short};
use crate::tokens::Tokens;
use crate::workload::{message_body, pair};

/// Whom probes go to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Pair `n % receivers` of the run's push pairs.
    Pairs { receivers: usize },
    /// A group's conversation, from its first member.
    Group { id: String, sender: String },
}

impl Target {
    /// Events one probe makes: one per recipient.
    pub fn copies(&self, members: usize) -> usize {
        match self {
            Self::Pairs { .. } => 1,
            Self::Group { .. } => members.saturating_sub(1),
        }
    }

    /// Probe `n`'s sender and body.
    pub fn probe(&self, args: &Args, n: usize) -> (String, Bytes) {
        match self {
            Self::Pairs { receivers } => {
                let (from, to) = pair(&args.prefix, "p", n % (*receivers).max(1));
                let body = message_body(&from, &to, n, args.content_chars);
                (from, body)
            }
            Self::Group { id, sender } => {
                let content = format!("probe {n} {}", "x".repeat(args.content_chars));
                let body = json!({ "fromUser": sender, "conversationId": id, "content": content });
                (sender.clone(), Bytes::from(body.to_string()))
            }
        }
    }
}

/// The members of the run's group: the sender first.
pub fn members(args: &Args) -> Vec<String> {
    (0..args.push_group)
        .map(|k| format!("{}-gm{k}", args.prefix))
        .collect()
}

/// Makes the run's group, answered once the consumer applied it (201), so its messages are
/// accepted from the first.
pub async fn create(args: &Args, tokens: &Tokens) -> Result<Target, Error> {
    let members = members(args);
    let sender = members[0].clone();
    let authorization = tokens.authorization(&sender)?;
    let path = match authorization {
        Some(_) => "/conversations".to_owned(),
        None => format!("/conversations?user={sender}"),
    };
    let body = json!({ "members": &members[1..], "title": "wiber-loadgen push" });
    let mut conn = Conn::new(args.api.clone());
    let (status, answer) = conn
        .request_as(
            authorization.as_deref(),
            Method::POST,
            &path,
            Some(Bytes::from(body.to_string())),
            args.request_timeout,
        )
        .await?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "creating the group of {}: HTTP {}: {}",
            members.len(),
            status.as_u16(),
            short(&answer)
        )
        .into());
    }
    let answer: serde_json::Value = serde_json::from_slice(&answer)?;
    let id = answer["change"]["conversationId"]
        .as_str()
        .ok_or("the group's creation named no conversationId")?
        .to_owned();
    Ok(Target::Group { id, sender })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args() -> Args {
        Args::try_parse_from(["wiber-loadgen", "--push-group", "4", "--prefix", "lgt"]).unwrap()
    }

    #[test]
    fn a_group_probe_comes_from_the_first_member_to_the_conversation_and_reaches_the_others() {
        let args = args();
        assert_eq!(members(&args), ["lgt-gm0", "lgt-gm1", "lgt-gm2", "lgt-gm3"]);
        let target = Target::Group {
            id: "g-1".into(),
            sender: "lgt-gm0".into(),
        };
        let (from, body) = target.probe(&args, 7);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(from, "lgt-gm0");
        assert_eq!(body["conversationId"], "g-1");
        assert_eq!(body["fromUser"], "lgt-gm0");
        assert!(body.get("toUser").is_none());
        assert_eq!(target.copies(4), 3);
        assert_eq!(Target::Pairs { receivers: 10 }.copies(11), 1);
    }
}
