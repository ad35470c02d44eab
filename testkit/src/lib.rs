//! What the API's tests (`api/tests`) and the end-to-end tests (`e2e`) share without any server:
//! a token issuer and waiting with a deadline. Kept apart from `wiber-e2e` so the API's tests
//! build without Kafka, MongoDB or Kubernetes clients.

pub mod issuer;
pub mod wait;
