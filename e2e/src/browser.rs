//! Headless Chromium through ChromeDriver's W3C WebDriver protocol (plain HTTP and JSON), for the
//! tests of the chat page. Debian's `chromium` and `chromium-driver` are installed by
//! `dev/test.sh`; CHROMIUM and CHROMEDRIVER name other binaries.

use std::time::Duration;

use serde_json::{Value, json};

use crate::process::{Process, free_port};
use crate::wait::eventually;

/// One ChromeDriver process; each `Browser` is a session of its own (its own profile).
pub struct Driver {
    url: String,
    http: reqwest::Client,
    _process: Process,
}

pub struct Browser {
    url: String,
    http: reqwest::Client,
    _profile: PathGuard,
}

struct PathGuard(std::path::PathBuf);

impl Drop for PathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binary(var: &str, default: &str) -> std::path::PathBuf {
    std::env::var_os(var).map_or_else(|| default.into(), Into::into)
}

impl Driver {
    pub async fn start() -> Self {
        let port = free_port();
        let driver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        assert!(
            driver.exists(),
            "{} is missing: `make test` installs Debian's chromium-driver",
            driver.display()
        );
        let process = Process::spawn(driver, &[&format!("--port={port}")], &[], "chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually(
            "chromedriver to answer",
            Duration::from_secs(30),
            || async {
                let status: Value = http
                    .get(format!("{url}/status"))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                status["value"]["ready"].as_bool()?.then_some(())
            },
        )
        .await;
        Self {
            url,
            http,
            _process: process,
        }
    }

    /// A new headless browser window.
    pub async fn browser(&self) -> Browser {
        let profile = std::env::temp_dir().join(crate::unique_name("chromium-profile"));
        std::fs::create_dir_all(&profile).expect("profile dir");
        // Without the background-networking flags Chromium keeps calling hosts this closed
        // network refuses.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=900,760",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                "args": args,
            },
        }}});
        let answer: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"));
        Browser {
            url: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
            _profile: PathGuard(profile),
        }
    }
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|answer| panic!("webdriver {path}: {answer}"))
    }

    /// The answer's value, or the whole answer when it is a WebDriver error.
    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("webdriver JSON");
        if answer["value"]["error"].is_string() {
            return Err(answer);
        }
        Ok(answer["value"].clone())
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element reference")
            .to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        let path = format!("/element/{id}/value");
        self.call(reqwest::Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    /// Clicks the element `css` selects, looked up again if the page replaced it between the
    /// lookup and the click (a live page redraws its lists).
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let id = self.element(css).await;
            let path = format!("/element/{id}/click");
            match self
                .try_call(reqwest::Method::POST, &path, Some(json!({})))
                .await
            {
                Ok(_) => return,
                Err(answer) if answer["value"]["error"] == "stale element reference" => continue,
                Err(answer) => panic!("webdriver {path}: {answer}"),
            }
        }
        panic!("{css} was replaced five times in a row before it could be clicked");
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        let text = self
            .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the element's text contains `wanted`.
    pub async fn wait_for_text(&self, css: &str, wanted: &str, within: Duration) {
        let what = format!("{wanted:?} in {css}");
        eventually(&what, within, || async {
            self.text(css).await.contains(wanted).then_some(())
        })
        .await;
    }

    /// What `script` (a function body, `return`ing a JSON value) gives in the page.
    pub async fn execute(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// Ends the session and its Chromium.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.url).send().await;
    }

    /// The window as PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("PNG")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and its Chromium) without waiting for the answer.
        let http = self.http.clone();
        let url = self.url.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = http.delete(url).send().await;
            });
        }
    }
}
