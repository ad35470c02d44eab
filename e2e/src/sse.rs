//! A Server-Sent Events client for the push tests: reads a response's events one at a time, each
//! within a deadline, as a browser's EventSource would parse them.

use std::time::Duration;

/// One event: its type (`message` when unnamed), id (when set) and data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
    /// The reconnection time it sets (`retry:`, milliseconds), if any.
    pub retry: Option<u64>,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }
}

pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    /// Heartbeat comments seen so far.
    pub comments: usize,
}

impl SseStream {
    /// Wraps a response, which must be a 200 `text/event-stream`.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "stream refused");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content-type {content_type}"
        );
        Self {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event within `within`; `None` when the server ended the response.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        self.try_next(within)
            .await
            .unwrap_or_else(|broken| panic!("{broken}"))
    }

    /// The next event within `within`, `Ok(None)` when the server ended the response, or why the
    /// stream broke (a read error, or nothing within `within`), for clients that reconnect.
    pub async fn try_next(&mut self, within: Duration) -> Result<Option<SseEvent>, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.parse_one() {
                return Ok(Some(event));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| format!("no event within {within:?}"))?;
            match chunk.map_err(|e| format!("stream read: {e}"))? {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return Ok(None),
            }
        }
    }

    /// The next event that is not `ready`.
    pub async fn next_message(&mut self, within: Duration) -> Option<SseEvent> {
        loop {
            let event = self.next(within).await?;
            if event.event != "ready" {
                return Some(event);
            }
        }
    }

    fn parse_one(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = SseEvent {
                event: "message".into(),
                id: None,
                data: String::new(),
                retry: None,
            };
            let mut fields = 0;
            for line in block.lines() {
                if line.is_empty() {
                    continue;
                }
                if line.starts_with(':') {
                    self.comments += 1;
                    continue;
                }
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                fields += 1;
                match name {
                    "event" => event.event = value.to_owned(),
                    "id" => event.id = Some(value.to_owned()),
                    "retry" => event.retry = value.parse().ok(),
                    "data" => {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(value);
                    }
                    _ => {}
                }
            }
            if fields > 0 {
                return Some(event);
            }
        }
    }
}
