//! A Server-Sent Events reader for the push benchmark: one stream per connection, each event
//! handed over as soon as its blank line arrives, so the caller can time it on arrival.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, AUTHORIZATION, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::http::{Error, Target, short};

/// An event's type (`message` when unnamed) and its data lines, joined by newlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub data: String,
}

/// A stream the API answered with something other than 200.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub body: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status.as_u16(), self.body)
    }
}

impl std::error::Error for Refused {}

pub struct EventStream {
    body: Incoming,
    pending: Vec<u8>,
    // Held so the connection is not closed under the response being read.
    _sender: SendRequest<Empty<Bytes>>,
}

/// Opens `path_and_query` as an event stream; anything but a 200 is an error with its body.
pub async fn open(
    target: &Target,
    path_and_query: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<EventStream, Error> {
    let connect = async {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::get(path_and_query)
            .header(HOST, &target.authority)
            .header(ACCEPT, "text/event-stream");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let response = sender.send_request(request.body(Empty::new())?).await?;
        Ok::<_, Error>((sender, response))
    };
    let (sender, response) = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))??;
    let status = response.status();
    if status != StatusCode::OK {
        let body = response.into_body().collect().await?.to_bytes();
        return Err(Box::new(Refused {
            status,
            body: short(&body),
        }));
    }
    Ok(EventStream {
        body: response.into_body(),
        pending: Vec::new(),
        _sender: sender,
    })
}

impl EventStream {
    /// The next event, skipping heartbeat comments; `None` once the server ends the response.
    pub async fn next(&mut self) -> Result<Option<Event>, Error> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.pending.drain(..end + 2).collect();
                match parse(&block) {
                    Some(event) => return Ok(Some(event)),
                    None => continue,
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// One block of lines up to a blank line; `None` for a block of comments only (a heartbeat).
fn parse(block: &[u8]) -> Option<Event> {
    let text = String::from_utf8_lossy(block);
    let mut kind = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        let field = |name: &str| {
            line.strip_prefix(name)
                .map(|v| v.strip_prefix(' ').unwrap_or(v).to_owned())
        };
        if let Some(v) = field("event:") {
            kind = Some(v);
        } else if let Some(v) = field("data:") {
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(&v);
                }
                None => data = Some(v),
            }
        }
    }
    if kind.is_none() && data.is_none() {
        return None;
    }
    Some(Event {
        kind: kind.unwrap_or_else(|| "message".to_owned()),
        data: data.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_events_and_heartbeats_are_skipped() {
        assert_eq!(parse(b":\n\n"), None);
        assert_eq!(
            parse(b"event: ready\nid: 0-1\ndata: {}\n\n"),
            Some(Event {
                kind: "ready".into(),
                data: "{}".into()
            })
        );
        assert_eq!(
            parse(b"id: 7\ndata: a\ndata:b\n\n"),
            Some(Event {
                kind: "message".into(),
                data: "a\nb".into()
            })
        );
    }
}
