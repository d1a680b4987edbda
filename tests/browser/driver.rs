//! One ChromeDriver and one headless Chromium for the whole test binary, and
//! the few browser operations the scenarios need on top of fantoccini.

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long anything the page does by itself may take: the queue polls
/// every 5 s, so a new row needs up to one poll plus routing.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Debian's `chromium-driver`, or the one `REPLYDESK_CHROMEDRIVER` names.
pub fn find_chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REPLYDESK_CHROMEDRIVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// The ChromeDriver child process; killed when dropped, even after a panic.
pub struct ChromeDriver {
    child: Child,
    pub url: String,
}

impl ChromeDriver {
    pub async fn start(binary: &PathBuf) -> ChromeDriver {
        // ChromeDriver cannot report a port it picked itself, so take a free
        // one from the OS and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free local port for chromedriver")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let started = Instant::now();
        loop {
            let ready = match reqwest::get(&status).await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                return driver;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "chromedriver did not answer on {status} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Chromium session with a fresh profile.
pub struct Browser {
    pub client: Client,
    driver_url: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(driver: &ChromeDriver) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // The network here is closed: without these flags Chromium keeps
        // trying to reach Google's services and floods the log.
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "args": args },
            // Console messages, where Chromium reports Content-Security-Policy violations.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("chromedriver opens a Chromium session");
        let session = client
            .session_id()
            .await
            .unwrap()
            .expect("a WebDriver session id");
        Browser {
            client,
            driver_url: driver.url.clone(),
            session,
            http: reqwest::Client::new(),
            _profile: profile,
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// A ChromeDriver command outside the W3C set (console log, DevTools).
    async fn driver_post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.driver_url, self.session);
        let r = self.http.post(&url).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{path} answered {}", r.status());
        r.json::<Value>().await.unwrap()["value"].take()
    }

    /// Console messages since the last call, as (source, level, message).
    pub async fn console(&self) -> Vec<(String, String, String)> {
        let entries = self
            .driver_post("se/log", json!({ "type": "browser" }))
            .await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                (s("source"), s("level"), s("message"))
            })
            .collect()
    }

    /// Sets the page's viewport exactly; a headless window cannot be
    /// narrower than 500 px, and its height includes a toolbar.
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        self.driver_post(
            "goog/cdp/execute",
            json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile },
            }),
        )
        .await;
    }

    pub async fn goto(&self, path_or_url: &str, base: &str) {
        let url = if path_or_url.starts_with('/') {
            format!("{base}{path_or_url}")
        } else {
            path_or_url.to_string()
        };
        self.client.goto(&url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {script}: {e}"))
    }

    /// Waits until `script` returns true; fails naming `what` after `PATIENCE`.
    pub async fn wait_for(&self, what: &str, script: &str) {
        let started = Instant::now();
        while self.js(script).await != Value::Bool(true) {
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_for_path(&self, path: &str) {
        let started = Instant::now();
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited {PATIENCE:?} to reach {path}; still on {now}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Presses one key on whatever has the focus, as a person would.
    pub async fn press(&self, key: char) {
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client.perform_actions(keys).await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn screenshot(&self, to: &std::path::Path) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, png).unwrap();
    }
}
