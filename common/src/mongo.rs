//! MongoDB client set-up shared by the api and the consumer.

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

/// A failed store operation of the api or the consumer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("message store: {0}")]
    Mongo(#[from] mongodb::error::Error),
    #[error("message store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store answered a write with an error for one of its statements.
    #[error("message store refused a write: {0}")]
    Write(String),
    /// A document the operation relied on was gone (deleted by hand, say).
    #[error("message store lost {0}")]
    Lost(&'static str),
}

/// A client for `uri`. The driver's default 30 s server selection would hold a request (or a
/// batch) that long during an outage; 5 s fails fast instead. A timeout set in the URI wins.
pub async fn client(uri: &str, app_name: &str) -> mongodb::error::Result<Client> {
    let mut options = ClientOptions::parse(uri).await?;
    if options.server_selection_timeout.is_none() {
        options.server_selection_timeout = Some(Duration::from_secs(5));
    }
    options.app_name.get_or_insert_with(|| app_name.to_owned());
    Client::with_options(options)
}

/// True when the server answers a ping within 2 s.
pub async fn ping(db: &Database) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), db.run_command(doc! { "ping": 1 })).await,
        Ok(Ok(_))
    )
}

/// MongoDB's error code for a write that would break a unique index.
pub const DUPLICATE_KEY: i32 = 11000;

/// True when a single-document write failed only because its unique key is taken.
/// MongoDB's code for a collection that does not exist (yet).
pub const NAMESPACE_NOT_FOUND: i32 = 26;

/// Whether a command failed with `code` (NamespaceNotFound, NotImplemented, ...).
pub fn is_command_error(e: &mongodb::error::Error, code: i32) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Command(c) if c.code == code)
}

pub fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    matches!(e.kind.as_ref(), ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY)
}
