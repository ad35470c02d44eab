use super::*;

#[test]
fn every_cause_has_its_own_code_and_the_book_lists_each() {
    let field = || FieldError::new("f", "m");
    let all = [
        ApiError::Unauthenticated(TokenProblem::Missing),
        ApiError::Unauthenticated(TokenProblem::Expired),
        ApiError::Unauthenticated(TokenProblem::Invalid("r")),
        ApiError::Forbidden("r"),
        ApiError::NotMember("r"),
        ApiError::RateLimited { retry_after: 1 },
        ApiError::Overloaded,
        ApiError::AuthUnavailable,
        ApiError::Validation(vec![field()]),
        ApiError::PayloadTooLarge { limit: 1 },
        ApiError::UnsupportedMediaType,
        ApiError::BodyTimeout {
            limit: std::time::Duration::ZERO,
        },
        ApiError::NotFound,
        ApiError::MethodNotAllowed,
        ApiError::IdempotencyConflict,
        ApiError::Unknown(field()),
        ApiError::Refused(field()),
        ApiError::Conflict(field()),
        ApiError::KafkaUnavailable(String::new()),
        ApiError::OutcomeUnknown {
            message_id: Uuid::nil(),
            cause: String::new(),
        },
        ApiError::StoreUnavailable(String::new()),
        ApiError::PushUnavailable("r"),
        ApiError::ReadTimeout {
            limit: std::time::Duration::ZERO,
        },
    ];
    let book = include_str!("../../docs/concepts/http-api.md");
    let mut codes: Vec<&str> = all.iter().map(ApiError::code).collect();
    for code in &codes {
        assert!(
            book.contains(&format!("`{code}`")),
            "{code} is not in the book"
        );
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len(), "a code is shared");
}
