//! Start-up: build the desk from its configuration, bind, run until told to
//! stop, then finish in-flight work. Tests bind port 0 and pass their own
//! shutdown signal and clock.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::classify::{LiveRules, RulesErrors};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::outbox::{HttpDelivery, Outbox};
use crate::preferences::SignalContext;
use crate::preferences::status_codes::{StatusCodes, StatusCodesError};
use crate::routing::Router;
use crate::store::{Db, StoreError, redact};
use crate::telemetry;
use crate::web::{self, AppState, Inner};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the rules in {dir} are not valid; the desk will not start on them:\n{errors}")]
    Rules { dir: String, errors: RulesErrors },
    #[error("the status code file is not valid; the desk will not start on it: {0}")]
    StatusCodes(#[from] StatusCodesError),
    #[error("email is not set up correctly: {0}")]
    Email(String),
    #[error("the preference policy is not valid; the desk will not start on it: {0}")]
    Policy(#[from] crate::preferences::policy::PolicyError),
    #[error(
        "a replies rules file (canned responses, auto-replies) is not valid; the desk will not start on it: {0}"
    )]
    RepliesFile(#[from] crate::replies::FileError),
    #[error("cannot create the media directory {dir} ([media] directory): {source}")]
    MediaDir { dir: String, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// A built desk, bound to its address, not yet serving.
pub struct Desk {
    state: AppState,
    listener: TcpListener,
    stop: CancellationToken,
    writer: JoinHandle<()>,
    writer_stop: CancellationToken,
    background: Vec<JoinHandle<()>>,
    _watcher: Option<crate::classify::WatchHandle>,
}

/// Opens the configured database, migrates it to this build's schema and
/// runs the one-time repairs the data needs.
pub async fn open_database(config: &Config, now: crate::clock::Millis) -> Result<Db, StoreError> {
    let db = Db::connect(&config.database_url, config.sqlite_synchronous).await?;
    db.migrate().await?;
    crate::contacts::warm_up();
    crate::contacts::repair::canonical_phones(&db, now).await?;
    db.report_maintenance().await?;
    Ok(db)
}

impl Desk {
    /// Opens and migrates the database, loads the rules, starts the writer and binds.
    pub async fn build(config: Config, clock: SharedClock) -> Result<Desk, StartError> {
        let db = open_database(&config, clock.now_ms()).await?;
        tracing::info!(database = %redact(&config.database_url), "database ready");
        let rules = LiveRules::load(&config.rules_dir).map_err(|errors| StartError::Rules {
            dir: config.rules_dir.display().to_string(),
            errors,
        })?;
        let rules = Arc::new(rules);
        // Without a watcher the desk still runs; rules then change on restart only.
        let watcher = rules
            .watch()
            .inspect_err(|e| tracing::warn!(error = %e, "cannot watch the rules directory; edits take effect after a restart"))
            .ok();
        tracing::info!(dir = %config.rules_dir.display(), version = rules.current().version(), "rules loaded");
        let status_codes = StatusCodes::load_dir(&config.rules_dir)?;
        let team_names: Vec<String> = config.teams.iter().map(|t| t.name.clone()).collect();
        let policy = crate::preferences::policy::Policy::load_dir(&config.rules_dir, &team_names)?;
        let reply_files = Arc::new(crate::replies::ReplyFiles::load(
            &config.rules_dir,
            team_names.clone(),
        )?);
        crate::contacts::warm_up();
        let config = Arc::new(config);
        let signals = SignalContext::new(status_codes, policy, config.clone());
        let policy_files = Arc::new(crate::preferences::PolicyFiles::new(
            &config.rules_dir,
            team_names.clone(),
        ));
        let calendars = Arc::new(crate::sla::clock::Calendars::from_config(&config));
        let pending = crate::ingest::Pending::default();
        let (announce, routed) = tokio::sync::mpsc::unbounded_channel();
        // Announced always: an auto-reply enabled on disk later applies at once.
        let router = Router::new(db.clone(), clock.clone(), config.clone(), calendars.clone())
            .yielding_to(pending.clone())
            .announcing(announce);
        let wake_router = router.waker();
        let writer_stop = CancellationToken::new();
        let (ingest, writer) = Ingest::start(
            db.clone(),
            rules.clone(),
            clock.clone(),
            signals.clone(),
            move || wake_router.notify_one(),
            crate::ingest::WriterOptions {
                max_batch: config.ingest.max_batch,
                stop: writer_stop.clone(),
                pending,
            },
        );
        let email = crate::notify::email::email_deliverer(config.smtp.as_ref(), &config.data_dir)
            .map_err(|e| StartError::Email(e.to_string()))?;
        if config.smtp.is_none() {
            tracing::warn!(dir = %crate::notify::email::outbox_dir(&config.data_dir).display(),
                "no [smtp] configured: escalation emails are written as .eml files instead of being sent");
        }
        let outbox = Arc::new(
            Outbox::new(db.clone(), clock.clone())
                .with(
                    "fallback",
                    Arc::new(HttpDelivery::new(config.fallback.secret.clone())),
                )
                .with(crate::notify::email::KIND, email),
        );
        let sla = Arc::new(crate::sla::worker::SlaWorker::new(
            db.clone(),
            clock.clone(),
            config.clone(),
        ));
        let senders = Arc::new(crate::replies::Senders::from_config(&config));
        let replies = crate::replies::Replies::new(
            db.clone(),
            clock.clone(),
            senders.clone(),
            crate::media::FileStore::new(db.clone(), config.media.directory.clone()),
        );
        let reply_worker = replies.worker(
            config.clone(),
            calendars.clone(),
            format!("desk-{}", uuid::Uuid::new_v4()),
        );
        if let Some(dir) = &config.media.directory {
            std::fs::create_dir_all(dir).map_err(|source| StartError::MediaDir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        let media_files = crate::media::FileStore::new(db.clone(), config.media.directory.clone());
        let media_fetcher = crate::media::Fetcher::new(
            db.clone(),
            clock.clone(),
            &config,
            format!("desk-{}", uuid::Uuid::new_v4()),
        );
        let listener =
            TcpListener::bind(&config.bind)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.bind.clone(),
                    source,
                })?;
        let bound = listener.local_addr().map_err(StartError::Serve)?;
        first_run_link(&db, &config, bound, clock.now_ms()).await?;
        if config.channels.is_empty() {
            tracing::warn!(
                "no channels configured: add a [[channel]] to replydesk.toml to receive webhooks (see README)"
            );
        }
        let stop = CancellationToken::new();
        let mut background = Vec::new();
        background.push(tokio::spawn(policy_files.clone().watch(
            signals.clone(),
            stop.clone(),
            Duration::from_secs(2),
        )));
        if config.workers.router {
            background.push(tokio::spawn(
                router.clone().run(stop.clone(), Duration::from_secs(2)),
            ));
        }
        if config.workers.outbox {
            background.push(tokio::spawn(
                outbox.clone().run(stop.clone(), Duration::from_secs(5)),
            ));
        }
        if config.workers.sla {
            background.push(tokio::spawn(
                sla.clone().run(stop.clone(), Duration::from_secs(5)),
            ));
        }
        let responder = crate::replies::auto::AutoResponder {
            db: db.clone(),
            replies: replies.clone(),
            files: reply_files.clone(),
            calendars: calendars.clone(),
        };
        background.push(tokio::spawn(responder.run(routed, stop.clone())));
        background.push(tokio::spawn(
            reply_files
                .clone()
                .watch(stop.clone(), Duration::from_secs(2)),
        ));
        if config.workers.replies {
            background.push(tokio::spawn(
                reply_worker
                    .clone()
                    .run(stop.clone(), Duration::from_secs(1)),
            ));
            background.push(tokio::spawn(crate::replies::templates::keep_synced(
                db.clone(),
                senders,
                clock.clone(),
                stop.clone(),
            )));
        }
        if config.workers.media {
            background.push(tokio::spawn(
                media_fetcher
                    .clone()
                    .run(stop.clone(), Duration::from_secs(1)),
            ));
        }
        if config.workers.reports {
            let reports = crate::reports::ReportsWorker::new(
                db.clone(),
                config.clone(),
                signals.clone(),
                clock.clone(),
            );
            background.push(tokio::spawn(reports.run(stop.clone())));
        }
        let state = AppState::new(Inner {
            config,
            db,
            clock,
            rules,
            signals,
            ingest,
            router,
            calendars,
            sla,
            policy_files,
            outbox,
            metrics: telemetry::metrics(),
            admin: crate::admin::AdminState::default(),
            replies,
            reply_worker,
            reply_files,
            media_files,
            media_fetcher,
        });
        Ok(Desk {
            state,
            listener,
            stop,
            writer,
            writer_stop,
            background,
            _watcher: watcher,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight webhooks finish
    /// and the writer commit everything it was handed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Desk {
            state,
            listener,
            stop,
            writer,
            writer_stop,
            background,
            _watcher,
        } = self;
        tracing::info!(addr = %listener.local_addr().map_err(StartError::Serve)?, "replydesk listening");
        let db = state.db.clone();
        let app = web::router(state);
        let stopping = stop.clone();
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.cancel();
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await;
        // Every request has been answered: the writer writes out what it was
        // handed and stops.
        writer_stop.cancel();
        let _ = writer.await;
        stop.cancel();
        for task in background {
            let _ = task.await;
        }
        db.close().await;
        tracing::info!("stopped");
        served.map_err(StartError::Serve)
    }
}

/// With no administrator yet, prints a one-time link to create the first one.
async fn first_run_link(
    db: &Db,
    config: &Config,
    bound: SocketAddr,
    now: crate::clock::Millis,
) -> Result<(), StartError> {
    if crate::auth::users::admin_exists(db).await? {
        return Ok(());
    }
    crate::auth::sessions::retire_links(db, "first_admin", now).await?;
    let token =
        crate::auth::sessions::create_link(db, "first_admin", None, 24 * 3_600_000, now).await?;
    // The address actually bound (port 0 picks one); an unspecified address
    // is reachable on loopback from this machine.
    let local = match bound.ip() {
        ip if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), bound.port())
        }
        _ => bound,
    };
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let url = format!("{}/setup/{token}", base.trim_end_matches('/'));
    tracing::warn!(
        "no administrator yet: open the one-time setup link printed below (valid 24 hours), or run `replydesk user add --role admin`"
    );
    eprintln!("\n    First run: create the administrator at\n    {url}\n");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
