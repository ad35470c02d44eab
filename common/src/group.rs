//! Groups: conversations of up to `GROUP_MAX_MEMBERS` users under a server-made id, whose
//! membership changes travel through Kafka on the group's key like its messages, so that every
//! change has its place in the conversation's order. The consumer applies them in that order and
//! is the authority on who was a member when each message was appended (`GroupState`).
//!
//! Who may do what: any member adds members; the group's owner (its creator) removes them; anyone
//! leaves. A member removed (or gone) at place N keeps reading the conversation up to N and sees
//! nothing after it; added again, they read it all, as every member does.

use serde::{Deserialize, Serialize};
#[cfg(feature = "openapi")]
use utoipa::ToSchema;
use uuid::Uuid;

use crate::rules::{FieldError, validate_user};

/// The bound on a group's members when `GROUP_MAX_MEMBERS` is not set.
pub const DEFAULT_MAX_MEMBERS: usize = 256;
/// A title's length, in Unicode characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// What `validate_title` accepts besides its length: no control character (Unicode's `Cc`).
pub const TITLE_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// What `is_group_id` accepts, as a regular expression. It holds no `:`, so it can never be read
/// as the pair of users of a 1:1 conversation.
pub const GROUP_ID_PATTERN: &str = "^g-[0-9a-f]{32}$";

/// A new group's id.
pub fn new_group_id() -> String {
    format!("g-{}", Uuid::new_v4().simple())
}

pub fn is_group_id(id: &str) -> bool {
    id.len() == 34
        && id.starts_with("g-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a membership change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The group is made, with `users` (its creator among them) as members.
    Created,
    /// A member added `users`.
    Added,
    /// The owner removed `users`.
    Removed,
    /// `users` (the one who asked) left.
    Left,
}

/// A membership change, as its record carries it and its item in the conversation shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub action: Action,
    /// Whom it concerns, sorted.
    pub users: Vec<String>,
    /// A group's title, given when it is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The bound on members the API applied (`GROUP_MAX_MEMBERS`): the consumer refuses an
    /// addition that would pass it, whatever was added concurrently.
    #[cfg_attr(feature = "openapi", schema(ignore))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl Membership {
    /// The item's text, for clients that show it as a message: who did what, short enough for
    /// a message's content whatever the number of users.
    pub fn summary(&self, by: &str) -> String {
        let named = if self.users.len() <= 5 {
            join(&self.users)
        } else {
            format!(
                "{} and {} others",
                self.users[..4].join(", "),
                self.users.len() - 4
            )
        };
        match self.action {
            Action::Created => format!("{by} created the group with {named}"),
            Action::Added => format!("{by} added {named}"),
            Action::Removed => format!("{by} removed {named}"),
            Action::Left => format!("{by} left"),
        }
    }

    pub fn validate(&self, by: &str) -> Result<(), FieldError> {
        validate_users("users", &self.users)?;
        if let Some(title) = &self.title {
            validate_title("title", title)?;
        }
        let own = self.users.iter().any(|u| u == by);
        match self.action {
            Action::Left if self.users != [by] => Err(FieldError::new(
                "users",
                "a member leaves alone: users must be the leaving member",
            )),
            Action::Created if !own => Err(FieldError::new(
                "users",
                "a new group's members include its creator",
            )),
            _ => Ok(()),
        }
    }
}

fn join(users: &[String]) -> String {
    match users {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Users named in a membership request: valid names, at least one, no one twice.
pub fn validate_users(field: &str, users: &[String]) -> Result<(), FieldError> {
    if users.is_empty() {
        return Err(FieldError::new(field, "must name at least one user"));
    }
    for (i, user) in users.iter().enumerate() {
        validate_user(&format!("{field}[{i}]"), user)?;
        if users[..i].contains(user) {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!("names {user} twice"),
            ));
        }
    }
    Ok(())
}

pub fn validate_title(field: &str, title: &str) -> Result<(), FieldError> {
    let chars = title.chars().count();
    if chars == 0 || chars > TITLE_MAX_CHARS || title.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {TITLE_MAX_CHARS} characters, none of them control characters"),
        ));
    }
    Ok(())
}

/// A group as the consumer last applied it, kept on its conversation's tally (`readmodel`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupState {
    /// Members now, sorted.
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The creator, who alone removes members.
    pub owner: String,
    /// Former members and the last place each may read.
    #[serde(default)]
    pub departed: Vec<Departed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Departed {
    pub user: String,
    pub seq: i64,
}

/// Why the consumer refuses a group's record: it was accepted by the API against an older view of
/// the group (a change appended just before it), or produced by something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no group {0} was created before this record")]
    NoGroup(String),
    #[error("group {0} exists already")]
    Exists(String),
    #[error("{0} is not a member of the group")]
    NotMember(String),
    #[error("only the group's owner removes members")]
    NotOwner,
    #[error("the group would have {0} members, over its bound of {1}")]
    TooMany(usize, usize),
}

impl GroupState {
    pub fn is_member(&self, user: &str) -> bool {
        self.members
            .binary_search_by(|m| m.as_str().cmp(user))
            .is_ok()
    }

    /// The last place `user` may read: `None` for no limit (a member), `Some(0)` for nothing.
    pub fn readable_until(&self, user: &str) -> Option<i64> {
        if self.is_member(user) {
            return None;
        }
        Some(
            self.departed
                .iter()
                .find(|d| d.user == user)
                .map_or(0, |d| d.seq),
        )
    }

    /// Who receives a message sent now: the members.
    pub fn recipients(&self) -> &[String] {
        &self.members
    }

    /// `change` by `by`, at place `seq`, applied to the group (`None` before it was created).
    pub fn apply(
        current: Option<&GroupState>,
        by: &str,
        change: &Membership,
        seq: i64,
    ) -> Result<GroupState, Refused> {
        let Some(group) = current else {
            if change.action != Action::Created {
                return Err(Refused::NoGroup(String::new()));
            }
            let mut members = change.users.clone();
            members.sort();
            members.dedup();
            return Ok(GroupState {
                members,
                title: change.title.clone(),
                owner: by.to_owned(),
                departed: Vec::new(),
            });
        };
        let mut next = group.clone();
        match change.action {
            Action::Created => return Err(Refused::Exists(String::new())),
            _ if !group.is_member(by) => return Err(Refused::NotMember(by.to_owned())),
            Action::Added => {
                for user in &change.users {
                    if !next.is_member(user) {
                        next.members.push(user.clone());
                        next.departed.retain(|d| &d.user != user);
                    }
                }
                next.members.sort();
                let limit = change.limit.unwrap_or(DEFAULT_MAX_MEMBERS);
                if next.members.len() > limit {
                    return Err(Refused::TooMany(next.members.len(), limit));
                }
            }
            Action::Removed | Action::Left => {
                if change.action == Action::Removed && by != group.owner {
                    return Err(Refused::NotOwner);
                }
                for user in &change.users {
                    if let Ok(at) = next.members.binary_search(user) {
                        next.members.remove(at);
                        next.departed.retain(|d| &d.user != user);
                        next.departed.push(Departed {
                            user: user.clone(),
                            seq,
                        });
                    }
                }
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
