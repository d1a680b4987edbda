//! `TestApp`: a real desk on a real database, bound to port 0, with a clock
//! the test controls and a helper per endpoint.

#![allow(dead_code)]

use replydesk::app::Desk;
use replydesk::clock::ManualClock;
use replydesk::config::{Config, Overrides};
use replydesk::providers::{meta, twilio};
use replydesk::store::Db;
use replydesk::web::AppState;
use reqwest::Response;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;

#[allow(unused_imports)]
pub use crate::harness::{POSTGRES, SHARED};

pub const META_SECRET: &str = "meta-app-secret";
pub const VERIFY_TOKEN: &str = "verify-me";
pub const TWILIO_TOKEN: &str = "twilio-auth-token";
pub const TWILIO_URL: &str = "https://desk.example.com/webhooks/twilio/tw";
/// 2026-11-26 10:00:00 UTC
pub const T0: i64 = 1_795_687_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares a test that runs on both databases, as two tests of its own
/// (`name::sqlite`, `name::postgres`), so each backend's failure is reported
/// apart. The body gets a fresh desk on that database. The PostgreSQL half
/// needs `REPLYDESK_TEST_POSTGRES_URL` and is reported ignored without it.
#[macro_export]
macro_rules! on_both_databases {
    ($(needs [$($need:ident),*])? $(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block) => {
        $crate::each_database! {
            $(needs [$($need),*])?
            $(#[$meta])*
            async fn $name(backend: Backend) {
                let $app = $crate::helpers::TestApp::spawn(backend).await;
                $body
            }
        }
    };
}

/// Like `on_both_databases!`, for a body that makes its own desks (or
/// anything else) from the backend it is given. Either takes the other parts
/// it needs first: `needs [SHARED]`.
#[macro_export]
macro_rules! each_database {
    ($(needs [$($need:ident),*])? $(#[$meta:meta])* async fn $name:ident($backend:ident : Backend) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($backend: $crate::helpers::Backend) $body
            fn sqlite() -> $crate::harness::BoxFuture {
                Box::pin(body($crate::helpers::Backend::Sqlite))
            }
            fn postgres() -> $crate::harness::BoxFuture {
                Box::pin(body($crate::helpers::Backend::Postgres))
            }
            inventory::submit!($crate::harness::Case {
                module: module_path!(),
                name: "sqlite",
                needs: &[$($(&$need),*)?],
                run: $crate::harness::Run::Async(sqlite),
            });
            inventory::submit!($crate::harness::Case {
                module: module_path!(),
                name: "postgres",
                needs: &[&$crate::harness::POSTGRES $($(, &$need)*)?],
                run: $crate::harness::Run::Async(postgres),
            });
        }
    };
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared folder; tests that read it declare `needs [SHARED]`.
pub fn shared() -> PathBuf {
    crate::harness::shared_dir()
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// Tests on PostgreSQL declare the need, so the harness has checked
    /// that the URL is set before this runs.
    pub async fn create() -> PgDatabase {
        let admin_url = std::env::var("REPLYDESK_TEST_POSTGRES_URL")
            .expect("the harness runs PostgreSQL tests only with REPLYDESK_TEST_POSTGRES_URL");
        let name = format!("replydesk_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach PostgreSQL at REPLYDESK_TEST_POSTGRES_URL: {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = replace_db_name(&admin_url, &name);
        PgDatabase {
            admin_url,
            name,
            url,
        }
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread drops the database.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A stopped desk's database, open again; it lives as long as this does.
pub struct Reopened {
    pub db: Db,
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pg: Option<PgDatabase>,
}

pub fn test_config(backend_url: &str, data_dir: &Path, extra: &str) -> Config {
    let text = format!(
        r#"
bind = "127.0.0.1:0"
database_url = "{backend_url}"
data_dir = "{data}"
rules_dir = "{rules}"
sqlite_synchronous = "normal"
{extra}

# Tests deliver the outbox and check SLA clocks by hand (deliver_now,
# state.sla.run_once, state.reply_worker.run_once, state.media_fetcher.run_once)
# so that nothing races them;
# the router runs as in production.
[workers]
outbox = false
sla = false
reports = false
replies = false
media = false

[[channel]]
name = "main"
provider = "meta"
app_secret = "{META_SECRET}"
verify_token = "{VERIFY_TOKEN}"

[[channel]]
name = "tw"
provider = "twilio"
auth_token = "{TWILIO_TOKEN}"
public_url = "{TWILIO_URL}"

[[team]]
name = "sales"
leads = ["lead@example.com"]
members = ["agent@example.com", "bob@example.com"]

[[team]]
name = "service"
members = ["svc@example.com"]

[[route]]
category = "interest"
team = "sales"

[[route]]
category = "service"
team = "service"

[[route]]
category = "confusion"
team = "service"
"#,
        data = data_dir.display(),
        rules = repo().join("rules").display(),
    );
    let mut config = Config::from_toml(&text, Path::new("test.toml")).expect("test config parses");
    config.apply(&Overrides::default());
    config.validate().expect("test config is valid");
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, "").await
    }

    /// Starts a desk with `extra` TOML added to the test configuration.
    pub async fn spawn_with(backend: Backend, extra: &str) -> TestApp {
        TestApp::spawn_configured(backend, extra, |_| {}).await
    }

    /// Starts a desk whose configuration `adjust` may change further.
    pub async fn spawn_configured(
        backend: Backend,
        extra: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let pg = match backend {
            Backend::Postgres => Some(PgDatabase::create().await),
            Backend::Sqlite => None,
        };
        let url = match &pg {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}/desk.db", dir.path().display()),
        };
        let mut config = test_config(&url, dir.path(), extra);
        adjust(&mut config);
        config.validate().expect("adjusted test config is valid");
        let clock = ManualClock::new(T0);
        let desk = Desk::build(config, clock.clone()).await.unwrap();
        let addr = desk.local_addr();
        let state = desk.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            desk.run(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            clock,
            state,
            backend,
            dir,
            shutdown: Some(tx),
            server: Some(server),
            pg,
        }
    }

    /// A browser-like client (cookie jar) signed in as a new account.
    pub async fn sign_in_as(&self, email: &str, role: &str) -> Session {
        let role = replydesk::auth::users::Role::parse(role).unwrap();
        let hash = replydesk::auth::passwords::hash_password(PASSWORD.into())
            .await
            .unwrap();
        let _ = replydesk::auth::users::create(self.db(), email, role, &[], Some(&hash), T0).await;
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = hidden_field(&form, "_login");
        // Tests in this process share the hashing slots; a flood test next
        // door may make this sign-in busy, and a person would try again.
        let mut tries = 0;
        let r = loop {
            let r = client
                .post(self.url("/login"))
                .form(&[
                    ("email", email),
                    ("password", PASSWORD),
                    ("next", "/queue"),
                    ("_login", &token),
                ])
                .send()
                .await
                .unwrap();
            tries += 1;
            if r.status() != 503 || tries == 10 {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        };
        assert_eq!(r.status(), 303, "signing in as {email}");
        let page = client
            .get(self.url("/queue"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .map(|s| s[..64].to_string())
            .unwrap_or_default();
        Session {
            client,
            csrf,
            base: self.base.clone(),
        }
    }

    /// A conversation for a new text reply, routed; returns its id.
    pub async fn conversation_for(&self, wa: &str, id: &str, text: &str) -> String {
        assert_eq!(
            self.post_meta(&meta_text(wa, id, text, T0 / 1000))
                .await
                .status(),
            200
        );
        self.route_now().await;
        use sqlx::Row;
        sqlx::query("SELECT conversation_id FROM events WHERE provider_id = $1")
            .bind(id)
            .fetch_one(self.db().reader())
            .await
            .unwrap()
            .try_get::<Option<String>, _>(0)
            .unwrap()
            .expect("the reply was routed into a conversation")
    }

    /// The PostgreSQL database of this test, for a second desk instance.
    pub fn pg_url(&self) -> Option<String> {
        self.pg.as_ref().map(|p| p.url.clone())
    }

    pub fn now(&self) -> i64 {
        use replydesk::clock::Clock;
        self.clock.now_ms()
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Stops the server and waits until it has finished its work.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    /// Stops the desk and opens its database again, as a desk started
    /// after it would find it.
    pub async fn stop_and_reopen(mut self) -> Reopened {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        let pg = self.pg.take();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let url = match &pg {
            Some(pg) => pg.url.clone(),
            None => format!("sqlite://{}/desk.db", dir.path().display()),
        };
        let db = Db::connect(&url, replydesk::config::SqliteSync::Full)
            .await
            .unwrap();
        Reopened {
            db,
            _pg: pg,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_meta(&self, body: &str) -> Response {
        self.post_meta_to(
            "main",
            body.as_bytes(),
            Some(&meta::sign(META_SECRET, body.as_bytes())),
        )
        .await
    }

    pub async fn post_meta_to(
        &self,
        channel: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .post(self.url(&format!("/webhooks/meta/{channel}")))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().await.unwrap()
    }

    pub async fn post_twilio(&self, params: &[(String, String)]) -> Response {
        let sig = twilio::sign(TWILIO_TOKEN, TWILIO_URL, &params.to_vec());
        self.post_twilio_raw(
            serde_urlencoded::to_string(params).unwrap().into_bytes(),
            Some(&sig),
        )
        .await
    }

    pub async fn post_twilio_raw(&self, body: Vec<u8>, signature: Option<&str>) -> Response {
        let mut req = self
            .client
            .post(self.url("/webhooks/twilio/tw"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("x-twilio-signature", sig);
        }
        req.send().await.unwrap()
    }

    /// A key with every scope.
    pub async fn api_key(&self) -> String {
        self.api_key_with(&replydesk::auth::apikeys::Scope::ALL)
            .await
    }

    pub async fn api_key_with(&self, scopes: &[replydesk::auth::apikeys::Scope]) -> String {
        replydesk::auth::apikeys::create(
            self.db(),
            &format!("test-{}", uuid::Uuid::new_v4()),
            scopes,
            T0,
        )
        .await
        .unwrap()
        .token
    }

    pub async fn get_events(&self, key: &str, after: i64) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/api/v1/events?after={after}&limit=1000")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "events API answered {}", r.status());
        r.json().await.unwrap()
    }

    /// Every stored event, through the API.
    pub async fn all_events(&self) -> Vec<Value> {
        let key = self.api_key().await;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.get_events(&key, after).await;
            let events = page["events"].as_array().unwrap().clone();
            if events.is_empty() {
                return out;
            }
            after = page["next"].as_i64().unwrap();
            out.extend(events);
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(self.db().reader())
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A Meta webhook body around one `value`, as the Cloud API posts it.
pub fn meta_envelope(field: &str, value: Value) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{ "field": field, "value": value }]
        }]
    })
    .to_string()
}

pub fn metadata() -> Value {
    serde_json::json!({ "display_phone_number": "15550783881", "phone_number_id": "106540352242922" })
}

/// An inbound message from `wa_id`, with the `contacts` block Meta adds.
pub fn meta_message(wa_id: &str, message: Value) -> String {
    let mut message = message;
    message["from"] = Value::String(wa_id.to_string());
    meta_envelope(
        "messages",
        serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": metadata(),
            "contacts": [{ "profile": { "name": "Ana Cliente" }, "wa_id": wa_id }],
            "messages": [message]
        }),
    )
}

pub fn meta_text(wa_id: &str, id: &str, text: &str, ts: i64) -> String {
    meta_message(
        wa_id,
        serde_json::json!({ "id": id, "timestamp": ts.to_string(), "type": "text", "text": { "body": text } }),
    )
}

pub fn meta_status(
    wa_id: &str,
    id: &str,
    status: &str,
    ts: i64,
    error_code: Option<i64>,
) -> String {
    let mut s = serde_json::json!({ "id": id, "status": status, "timestamp": ts.to_string(), "recipient_id": wa_id });
    if let Some(code) = error_code {
        s["errors"] = serde_json::json!([{ "code": code, "title": format!("error {code}") }]);
    }
    meta_envelope(
        "messages",
        serde_json::json!({ "messaging_product": "whatsapp", "metadata": metadata(), "statuses": [s] }),
    )
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

impl TestApp {
    /// Routes every waiting reply now, instead of waiting for the worker.
    /// The background router may hold some rows (PostgreSQL skips locked
    /// rows), so this waits until nothing is left unrouted.
    pub async fn route_now(&self) -> usize {
        let mut routed = 0;
        for _ in 0..500 {
            routed += self.state.router.run_once().await.unwrap();
            if self
                .count("SELECT COUNT(*) FROM events WHERE routed_at IS NULL")
                .await
                == 0
            {
                return routed;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("replies are still unrouted after 10 s");
    }

    /// Delivers every due outbox row now.
    pub async fn deliver_now(&self) -> usize {
        self.state.outbox.run_once().await.unwrap()
    }

    pub async fn eligibility(&self, phone: &str, channel: &str, purpose: &str) -> Value {
        let key = self.api_key().await;
        let r = self
            .client
            .get(self.url("/api/v1/eligibility"))
            .query(&[
                ("contact", phone),
                ("channel", channel),
                ("purpose", purpose),
            ])
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "eligibility answered {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn allowed(&self, phone: &str, channel: &str, purpose: &str) -> bool {
        self.eligibility(phone, channel, purpose).await["allowed"]
            .as_bool()
            .unwrap()
    }

    pub async fn register_outbound(&self, body: Value) -> reqwest::Response {
        let key = self.api_key().await;
        self.client
            .post(self.url("/api/v1/outbound"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// A tiny HTTP receiver for fallback notices: answers 503 until told to
/// accept, and keeps what it accepted.
pub struct Receiver {
    pub url: String,
    pub accept: Arc<std::sync::atomic::AtomicBool>,
    pub received: Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::http::StatusCode;
        use std::sync::atomic::Ordering;
        let accept = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, r) = (accept.clone(), received.clone());
        let app = axum::Router::new().route(
            "/fallback",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (a, r) = (a.clone(), r.clone());
                async move {
                    if a.load(Ordering::SeqCst) {
                        r.lock().unwrap().push((headers, body));
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/fallback", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            accept,
            received,
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// The value of a hidden form field on a page.
pub fn hidden_field(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

/// A signed-in person's client with their CSRF token.
pub struct Session {
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("_csrf", &self.csrf));
        self.client
            .post(format!("{}{path}", self.base))
            .form(&fields)
            .send()
            .await
            .unwrap()
    }

    /// As htmx posts: token in the header, fragment back.
    pub async fn hx_post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("hx-request", "true")
            .header("x-csrf-token", &self.csrf)
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// Sends a sign-in, again while it is answered busy (503): the tests in this
/// process share the password hashing slots, and a flood test next door may
/// take them, as a person would try again.
pub async fn send_sign_in(make: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..10 {
        let r = make().send().await.unwrap();
        if r.status() != 503 {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    panic!("a sign-in was answered busy ten times");
}
