//! What a failed batch write means for the batch. Most failures are the store's (down, stepping
//! down, busy): the batch waits and is retried. A few are a document's own (too large, refused by
//! a validator, a string the store cannot hold): retrying that document can never succeed, so it is
//! refused and dead-lettered, and its partition moves on. Codes are MongoDB's
//! (src/mongo/base/error_codes.yml).

use mongodb::error::{CommandError, ErrorKind, WriteFailure};
use wiber_common::mongo::DUPLICATE_KEY;

/// Write-error codes that say the server cannot write now, not that the document is wrong: the
/// driver's retryable-write and state-change codes, lock and time limits, write conflicts.
const TRANSIENT: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    24,    // LockTimeout
    46,    // LockBusy
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    134,   // ReadConcernMajorityNotAvailableYet
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10058, // LegacyNotPrimary
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Codes of a whole command's failure that name something wrong with one of the documents it
/// carried (which one is not said), never with the server, the connection or the settings.
const DOCUMENT: &[i32] = &[
    22,    // InvalidBSON
    52,    // DollarPrefixedFieldName
    56,    // EmptyFieldName
    57,    // DottedFieldName
    121,   // DocumentValidationFailure
    10334, // BSONObjectTooLarge
    17280, // KeyTooLong
];

/// FerretDB on PostgreSQL (the local store) answers PostgreSQL's errors as InternalError with the
/// SQLSTATE in the message. Class 22 is "data exception": a value PostgreSQL cannot hold, such as
/// a NUL in a string (which MongoDB stores), never a connection or server state.
fn is_data_exception(c: &CommandError) -> bool {
    c.code == INTERNAL_ERROR && c.message.contains("(SQLSTATE 22")
}

const INTERNAL_ERROR: i32 = 1;

/// A document of the batch the store will never take, by its place in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything else of the batch is stored; these documents were duplicates or are refused.
    Settled {
        /// Where the duplicates are in the batch.
        duplicates: Vec<usize>,
        refused: Vec<Refusal>,
    },
    /// A document of the batch made the whole command fail: write them one at a time to find it.
    Isolate,
    /// The store cannot write now: retry the whole batch (what is stored comes back as duplicates).
    Retry,
}

pub fn judge(error: &ErrorKind) -> Verdict {
    match error {
        ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => match &m.write_errors {
            Some(errors) => settle(
                errors
                    .iter()
                    .map(|w| (w.index, w.code, w.code_name.as_deref(), w.message.as_str())),
            ),
            None => Verdict::Retry,
        },
        ErrorKind::Write(WriteFailure::WriteError(w)) => {
            settle([(0, w.code, w.code_name.as_deref(), w.message.as_str())])
        }
        ErrorKind::Command(c) if DOCUMENT.contains(&c.code) || is_data_exception(c) => {
            Verdict::Isolate
        }
        // The driver's own refusal of a document, e.g. one over the server's maxBsonObjectSize.
        ErrorKind::InvalidArgument { .. } => Verdict::Isolate,
        _ => Verdict::Retry,
    }
}

/// Per-document write errors (index, code, code name, message): a transient one retries the
/// batch; otherwise each is a duplicate (a redelivery the unique `_id` absorbed) or a refusal.
fn settle<'a>(errors: impl IntoIterator<Item = (usize, i32, Option<&'a str>, &'a str)>) -> Verdict {
    let mut duplicates = Vec::new();
    let mut refused = Vec::new();
    for (index, code, name, message) in errors {
        if TRANSIENT.contains(&code) {
            return Verdict::Retry;
        }
        if code == DUPLICATE_KEY {
            duplicates.push(index);
        } else {
            refused.push(Refusal {
                index,
                reason: describe(code, name, message),
            });
        }
    }
    Verdict::Settled {
        duplicates,
        refused,
    }
}

/// The reason a lone document's command failed, for its dead letter.
pub fn whole_command_reason(error: &ErrorKind) -> String {
    match error {
        ErrorKind::Command(c) => describe(c.code, Some(&c.code_name), &c.message),
        ErrorKind::InvalidArgument { message, .. } => {
            format!("the store's driver refused the document: {message}")
        }
        other => format!("the store refused the document: {other}"),
    }
}

fn describe(code: i32, name: Option<&str>, message: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("the store refused the document: {name} ({code}): {message}"),
        None => format!("the store refused the document: code {code}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Document, doc, from_document};
    use mongodb::error::InsertManyError;

    use super::*;

    fn insert_many(errors: &[(usize, i32)], write_concern_failed: bool) -> ErrorKind {
        let mut d = doc! {
            "writeErrors": errors.iter().map(|(index, code)| doc! {
                "index": *index as i64, "code": code, "codeName": "X", "errmsg": "m",
            }).collect::<Vec<Document>>(),
        };
        if write_concern_failed {
            d.insert(
                "writeConcernError",
                doc! { "code": 64, "errmsg": "timeout" },
            );
        }
        ErrorKind::InsertMany(from_document::<InsertManyError>(d).unwrap())
    }

    fn command(code: i32, message: &str) -> ErrorKind {
        let c: CommandError =
            from_document(doc! { "code": code, "codeName": "C", "errmsg": message }).unwrap();
        ErrorKind::Command(c)
    }

    #[test]
    fn duplicates_and_refusals_settle_the_batch() {
        let verdict = judge(&insert_many(&[(0, DUPLICATE_KEY), (3, 121), (4, 2)], false));
        let Verdict::Settled {
            duplicates,
            refused,
        } = verdict
        else {
            panic!("{verdict:?}");
        };
        assert_eq!(duplicates, [0]);
        assert_eq!(refused.iter().map(|r| r.index).collect::<Vec<_>>(), [3, 4]);
        assert!(refused[0].reason.contains("X (121): m"), "{refused:?}");
    }

    #[test]
    fn a_transient_write_error_retries_the_whole_batch() {
        assert_eq!(
            judge(&insert_many(&[(0, 121), (1, 10107)], false)),
            Verdict::Retry
        );
        assert_eq!(judge(&insert_many(&[(0, 11602)], false)), Verdict::Retry);
    }

    #[test]
    fn a_write_concern_failure_retries_even_with_refusals() {
        assert_eq!(judge(&insert_many(&[(0, 121)], true)), Verdict::Retry);
    }

    #[test]
    fn only_document_codes_of_a_whole_command_isolate_the_culprit() {
        for code in [10334, 121, 22] {
            assert_eq!(judge(&command(code, "e")), Verdict::Isolate, "{code}");
        }
        // Unauthorized, a bad write concern, the server stepping down: never the documents' fault.
        for code in [13, 100, 189, 2, 1] {
            assert_eq!(judge(&command(code, "e")), Verdict::Retry, "{code}");
        }
    }

    #[test]
    fn ferretdbs_postgresql_data_exceptions_isolate_but_its_other_internal_errors_retry() {
        // What FerretDB v1.24 answered here for a string holding a NUL.
        let nul = "[msg_insert.go:168 handler.(*Handler).MsgInsert] ERROR: unsupported Unicode \
                   escape sequence (SQLSTATE 22P05)";
        assert_eq!(judge(&command(1, nul)), Verdict::Isolate);
        let down = "failed to connect to `host=127.0.0.1`: dial error (SQLSTATE 08006)";
        assert_eq!(judge(&command(1, down)), Verdict::Retry);
        assert_eq!(judge(&command(2, nul)), Verdict::Retry);
    }

    #[test]
    fn connection_failures_retry() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(judge(&ErrorKind::Io(io.into())), Verdict::Retry);
    }
}
