//! A minimal HTTP/1.1 client: one keep-alive connection per `Conn`, so a worker's requests reuse
//! one socket and the number of connections equals the configured concurrency exactly.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// An answer's body as one line of at most 200 characters: enough to tell one failure from
/// another in the report without flooding it.
pub fn short(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut text: String = text.chars().take(200).collect();
    text.retain(|c| c != '\n');
    text
}

/// Where requests go: a loopback address and the path of the URL it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// The Host header: `host:port` as written in the URL.
    pub authority: String,
    /// The URL's path, `/` when it had none.
    pub path: String,
}

impl Target {
    /// Parses `http://HOST:PORT[/path]`. Only loopback hosts are accepted: a load generator
    /// pointed at a shared environment by a typo does real harm.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("{url}: the URL needs an explicit port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{url}: '{port}' is not a port"))?;
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("{url}: '{host}' must be localhost or a loopback IP"))?
        };
        if !ip.is_loopback() {
            return Err(format!(
                "{url}: only loopback addresses (127.0.0.1) may be load-tested"
            ));
        }
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path)
    }
}

pub struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened so far; more than one means the previous one broke.
    pub connects: u64,
}

impl Conn {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            sender: None,
            connects: 0,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// One request and its whole answer, or an error when none came within `timeout`. After any
    /// error the connection is dropped, since its state is unknown; the next request reconnects.
    pub async fn request(
        &mut self,
        method: Method,
        path_and_query: &str,
        json_body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Error> {
        self.request_as(None, method, path_and_query, json_body, timeout)
            .await
    }

    /// `request` with an `Authorization` header when `authorization` is given.
    pub async fn request_as(
        &mut self,
        authorization: Option<&str>,
        method: Method,
        path_and_query: &str,
        json_body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Error> {
        let exchange = self.exchange(authorization, method, path_and_query, json_body);
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("no answer within {} ms", timeout.as_millis()).into())
            }
        }
    }

    /// `POST /messages` with a message's JSON body: the request every phase times.
    pub async fn post_message(
        &mut self,
        authorization: Option<&str>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Error> {
        self.request_as(
            authorization,
            Method::POST,
            "/messages",
            Some(body),
            timeout,
        )
        .await
    }

    async fn exchange(
        &mut self,
        authorization: Option<&str>,
        method: Method,
        path_and_query: &str,
        json_body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), Error> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(self.connect().await?);
        }
        let sender = self.sender.as_mut().ok_or("not connected")?;
        sender.ready().await?;
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, &self.target.authority);
        if json_body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let request = request.body(Full::new(json_body.unwrap_or_default()))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn connect(&mut self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let stream = TcpStream::connect(self.target.addr).await?;
        // Small requests on a reused connection must not wait for Nagle's delayed ACK.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // Drives the socket; it ends when the sender is dropped or the server closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.connects += 1;
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls_and_refuses_others() {
        let t = Target::parse("http://127.0.0.1:8001/metrics").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8001".parse().unwrap());
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:8001", "/metrics")
        );
        let t = Target::parse("http://localhost:8000").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (8000, "/"));
        assert!(Target::parse("http://[::1]:8000/").is_ok());
        for bad in [
            "https://127.0.0.1:8000",
            "http://127.0.0.1",
            "http://10.0.0.1:8000",
            "http://example.com:80",
            "http://127.0.0.1:http",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
