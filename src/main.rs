//! The `replydesk` command: parses the command line and calls into the library.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use replydesk::app::{Desk, shutdown_signal};
use replydesk::auth::apikeys;
use replydesk::clock::{Clock, SystemClock};
use replydesk::config::{Config, Overrides};
use replydesk::store::Db;
use replydesk::{classify, telemetry};

#[derive(Parser)]
#[command(name = "replydesk", version, about = "Inbound WhatsApp reply desk")]
struct Cli {
    /// Configuration file (default: replydesk.toml when present).
    #[arg(long, global = true, env = "REPLYDESK_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the desk (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Write a consistent copy of a running SQLite desk to FILE (checked
    /// with SQLite's integrity check). On PostgreSQL, use pg_dump.
    Backup { file: PathBuf },
    /// Check or test the classification rules.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Classify TEXT, or each line of standard input.
    Classify {
        /// Rules directory (default: the configured one).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        text: Option<String>,
    },
    /// Post signed, realistic Meta webhooks to a running desk and report speed.
    Simulate {
        /// The desk's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Channel name in the webhook path.
        #[arg(long, default_value = "main")]
        channel: String,
        /// The channel's app secret, to sign with.
        #[arg(long, env = "REPLYDESK_SIMULATE_SECRET")]
        secret: String,
        /// Concurrent keep-alive connections.
        #[arg(short = 'c', long, default_value_t = 64)]
        connections: usize,
        /// Measured seconds.
        #[arg(short = 'd', long, default_value_t = 10)]
        duration: u64,
        /// Warm-up seconds before measuring.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Total requests per second (default: as fast as answers come back).
        #[arg(long)]
        rate: Option<f64>,
        /// Distinct senders.
        #[arg(long, default_value_t = 9000)]
        senders: u64,
    },
    /// Print what the database holds: events, payloads, dead letters, replies waiting for the router.
    Stats,
    /// Manage people's accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API keys for machine clients.
    Apikey {
        #[command(subcommand)]
        action: ApikeyAction,
    },
    /// Give contacts their email addresses.
    Contacts {
        #[command(subcommand)]
        action: ContactsAction,
    },
    /// The approved message templates of each channel that can send.
    Templates {
        #[command(subcommand)]
        action: TemplatesAction,
    },
    /// Record conversions.
    Conversions {
        #[command(subcommand)]
        action: ConversionsAction,
    },
    /// Fill an empty database with realistic volume, to measure the queue and reports.
    Seed {
        /// Stored messages (statuses and replies).
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Open conversations.
        #[arg(long, default_value_t = 100_000)]
        open: u64,
        /// Registered sends.
        #[arg(long, default_value_t = 200_000)]
        sends: u64,
        #[arg(long, default_value_t = 50_000)]
        conversions: u64,
        /// Days of history.
        #[arg(long, default_value_t = 60)]
        days: i64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seed even though the database already holds events.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ContactsAction {
    /// Import contacts' email addresses from CSV (header: contact,email[,name];
    /// contact in E.164). Bad rows are reported by line and skipped; running
    /// it twice changes nothing. Exits 1 when some rows were bad.
    Import { file: PathBuf },
    /// Write everything the desk holds about the person with this number
    /// (E.164) as JSON to standard output: a subject access request.
    Export { phone: String },
}

#[derive(Subcommand)]
enum TemplatesAction {
    /// Ask each provider for its templates now and store them (the desk
    /// also syncs on start and every hour). Exits 1 when a channel failed.
    Sync,
}

#[derive(Subcommand)]
enum ConversionsAction {
    /// Import conversions from CSV (header: external_id,contact,type,value,currency,
    /// occurred_at,message_id,journey). Bad rows are reported by line and skipped;
    /// running it twice changes nothing. Exits 1 when some rows were bad.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum RulesAction {
    /// Compile the rules and run their examples.
    Check { dir: Option<PathBuf> },
    /// The same as `check`.
    Test { dir: Option<PathBuf> },
    /// Replay recent stored replies through the rules in DIR beside the
    /// active (configured) ones and show what would change. Writes nothing.
    DryRun {
        dir: PathBuf,
        /// How far back, e.g. 7d or 36h (default: [admin] dry_run_days).
        #[arg(long)]
        since: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account; asks for the password, or reads it from standard input.
    Add {
        #[arg(long)]
        email: String,
        /// agent, lead or admin.
        #[arg(long, default_value = "agent")]
        role: String,
        /// A team the person works in (repeat for several).
        #[arg(long = "team")]
        teams: Vec<String>,
        /// Read the password from the first line of standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ApikeyAction {
    /// Create a key; it is printed once.
    Create {
        #[arg(long)]
        name: String,
        /// What the key may do, comma-separated: read, eligibility,
        /// preferences, conversions, outbound, send.
        #[arg(long)]
        scope: String,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    Ok(Config::load(cli.config.as_deref(), &Overrides::from_env())?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        None | Some(Command::Serve) => serve(load_config(&cli)?),
        Some(Command::Migrate) => {
            let config = load_config(&cli)?;
            runtime()?.block_on(async {
                open_db(&config).await?.close().await;
                println!("database is up to date");
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        Some(Command::Rules {
            action: RulesAction::Check { dir } | RulesAction::Test { dir },
        }) => {
            let dir = match dir {
                Some(d) => d.clone(),
                None => load_config(&cli)?.rules_dir,
            };
            let mut out = std::io::stdout().lock();
            let rules_ok = classify::cli::rules_check(&dir, &mut out).is_ok();
            let teams: Vec<String> = load_config(&cli)
                .map(|c| c.teams.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default();
            Ok(if rules_ok && policy_check(&dir, &teams) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Some(Command::Rules {
            action: RulesAction::DryRun { dir, since, json },
        }) => rules_dry_run(load_config(&cli)?, dir, since.as_deref(), *json),
        Some(Command::Classify { rules, json, text }) => {
            let dir = match rules {
                Some(d) => d.clone(),
                None => load_config(&cli)?.rules_dir,
            };
            let set = classify::RuleSet::load_dir(&dir)?;
            let mut out = std::io::stdout().lock();
            match text {
                Some(text) => classify::cli::classify_one(&set, *json, text, &mut out)?,
                None => classify::cli::classify_lines(
                    &set,
                    *json,
                    &mut std::io::stdin().lock(),
                    &mut out,
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Apikey { action }) => apikey(load_config(&cli)?, action),
        Some(Command::Contacts {
            action: ContactsAction::Import { file },
        }) => import_contacts(load_config(&cli)?, file),
        Some(Command::Contacts {
            action: ContactsAction::Export { phone },
        }) => {
            let config = load_config(&cli)?;
            let phone = replydesk::contacts::phone::parse(phone)
                .map_err(|e| anyhow::anyhow!("{phone:?} is not a phone number: {e}"))?;
            runtime()?.block_on(async {
                let db = Db::connect(&config.database_url, config.sqlite_synchronous).await?;
                match replydesk::contacts::export::export(&db, &phone).await? {
                    Some(all) => {
                        println!("{}", serde_json::to_string_pretty(&all)?);
                        anyhow::Ok(ExitCode::SUCCESS)
                    }
                    None => {
                        eprintln!("the desk holds nothing about {phone}");
                        anyhow::Ok(ExitCode::from(1))
                    }
                }
            })
        }
        Some(Command::Templates {
            action: TemplatesAction::Sync,
        }) => sync_templates(load_config(&cli)?),
        Some(Command::Conversions {
            action: ConversionsAction::Import { file },
        }) => import_conversions(load_config(&cli)?, file),
        Some(Command::Seed {
            messages,
            open,
            sends,
            conversions,
            days,
            seed,
            force,
        }) => {
            let options = replydesk::seed::SeedOptions {
                messages: *messages,
                open: *open,
                sends: *sends,
                conversions: *conversions,
                days: *days,
                seed: *seed,
                force: *force,
            };
            run_seed(load_config(&cli)?, &options)
        }
        Some(Command::User {
            action:
                UserAction::Add {
                    email,
                    role,
                    teams,
                    password_stdin,
                },
        }) => user_add(load_config(&cli)?, email, role, teams, *password_stdin),
        Some(Command::Simulate {
            url,
            channel,
            secret,
            connections,
            duration,
            warmup,
            rate,
            senders,
        }) => {
            let options = replydesk::simulate::SimulateOptions {
                url: url.clone(),
                channel: channel.clone(),
                secret: secret.clone(),
                connections: *connections,
                duration: std::time::Duration::from_secs(*duration),
                warmup: std::time::Duration::from_secs(*warmup),
                rate: *rate,
                senders: *senders,
                progress: true,
            };
            let summary = runtime()?.block_on(replydesk::simulate::run(options))?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Backup { file }) => {
            let config = load_config(&cli)?;
            runtime()?.block_on(async {
                let db = Db::connect(&config.database_url, config.sqlite_synchronous).await?;
                eprintln!("backing up to {} …", file.display());
                let started = std::time::Instant::now();
                let written = replydesk::store::backup::to_file(&db, file).await?;
                println!(
                    "backed up {} events ({:.1} MB) to {} in {:.1} s; integrity check ok",
                    written.events,
                    written.bytes as f64 / 1_048_576.0,
                    written.path.display(),
                    started.elapsed().as_secs_f64()
                );
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
        Some(Command::Stats) => {
            let config = load_config(&cli)?;
            runtime()?.block_on(async {
                let db = Db::connect(&config.database_url, config.sqlite_synchronous).await?;
                let (events, payloads, dead) = replydesk::ingest::query::counts(&db).await?;
                let unrouted = replydesk::ingest::query::unrouted(&db).await?;
                println!(
                    "events={events} payloads={payloads} dead_letters={dead} unrouted={unrouted}"
                );
                anyhow::Ok(ExitCode::SUCCESS)
            })
        }
    }
}

fn serve(config: Config) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let desk = Desk::build(config, Arc::new(SystemClock)).await?;
        desk.run(shutdown_signal()).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn rules_dry_run(
    config: Config,
    dir: &std::path::Path,
    since: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let back_ms = match since {
        Some(text) => replydesk::config::parse_duration_ms(text)
            .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
        None => i64::from(config.admin.dry_run_days) * 86_400_000,
    };
    runtime()?.block_on(async {
        let db = Db::connect(&config.database_url, config.sqlite_synchronous).await?;
        let mut out = std::io::stdout().lock();
        let result = replydesk::admin::cli::rules_dry_run(
            &db,
            &config.rules_dir,
            dir,
            SystemClock.now_ms() - back_ms,
            config.admin.dry_run_cap,
            json,
            std::io::stderr().is_terminal(),
            &mut out,
        )
        .await;
        db.close().await;
        match result {
            Ok(_) => anyhow::Ok(ExitCode::SUCCESS),
            Err(e @ replydesk::admin::cli::DryRunError::Candidate { .. }) => {
                eprintln!("{e}");
                anyhow::Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn apikey(config: Config, action: &ApikeyAction) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let now = SystemClock.now_ms();
        match action {
            ApikeyAction::Create { name, scope } => {
                let scopes = apikeys::Scope::parse_list(scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
                let key = apikeys::create(&db, name, &scopes, now).await?;
                println!("{}", key.token);
                if std::io::stdout().is_terminal() {
                    eprintln!("API key {name:?} created. Copy it now: it is stored hashed and cannot be shown again.");
                }
            }
            ApikeyAction::List => {
                for k in apikeys::list(&db).await? {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!(
                        "{}\t{}\t{state}\tscopes {}\tcreated {}\tlast used {}",
                        k.name,
                        k.id,
                        k.scopes,
                        k.created_at,
                        k.last_used_at.map_or("never".into(), |u| u.to_string())
                    );
                }
            }
            ApikeyAction::Revoke { name } => {
                apikeys::revoke(&db, name, now).await?;
                println!("revoked {name}");
            }
        }
        db.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn user_add(
    config: Config,
    email: &str,
    role: &str,
    teams: &[String],
    password_stdin: bool,
) -> anyhow::Result<ExitCode> {
    use replydesk::auth::users;
    let role = users::Role::parse(role)
        .ok_or_else(|| anyhow::anyhow!("--role must be agent, lead or admin, not {role:?}"))?;
    for team in teams {
        if config.team(team).is_none() {
            eprintln!(
                "note: team {team:?} is not in the configuration's [[team]] list yet; the membership is kept"
            );
        }
    }
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let first = rpassword::prompt_password(format!("Password for {email}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords are not the same");
        first
    };
    users::check_password_strength(&password)?;
    runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let hash = replydesk::auth::passwords::hash_password(password).await?;
        let id = users::create(&db, email, role, teams, Some(&hash), SystemClock.now_ms()).await?;
        println!("created {} {email} ({id})", role.as_str());
        db.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Checks the status-code effects, the preference policy, the canned
/// responses and the auto-replies beside the rules.
fn policy_check(dir: &std::path::Path, teams: &[String]) -> bool {
    let replies = match replydesk::replies::ReplyFiles::load(dir, teams.to_vec()) {
        Ok(files) => {
            println!(
                "canned_responses.toml and auto_replies.toml: ok ({} responses, auto-replies {})",
                files.canned().len(),
                if files.auto().any() { "on" } else { "off" }
            );
            true
        }
        Err(e) => {
            println!("{e}");
            false
        }
    };
    replies & codes_and_policy_check(dir, teams)
}

fn codes_and_policy_check(dir: &std::path::Path, teams: &[String]) -> bool {
    let codes = replydesk::preferences::status_codes::StatusCodes::load_dir(dir);
    let policy = replydesk::preferences::policy::Policy::load_dir(dir, teams);
    match (&codes, &policy) {
        (Ok(_), Ok(p)) => {
            println!(
                "status_codes.toml and preference_policy.toml: ok (policy version {})",
                p.version
            );
            true
        }
        _ => {
            for e in [
                codes.err().map(|e| e.to_string()),
                policy.err().map(|e| e.to_string()),
            ]
            .into_iter()
            .flatten()
            {
                println!("{e}");
            }
            false
        }
    }
}

/// A CSV file to import, with a progress bar over its bytes (on a terminal).
fn open_import(
    file: &std::path::Path,
) -> anyhow::Result<(std::fs::File, u64, indicatif::ProgressBar)> {
    let input = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let size = input.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "importing [{bar:32}] {binary_bytes}/{binary_total_bytes} eta {eta}",
    ) {
        progress.set_style(style.progress_chars("=> "));
    }
    Ok((input, size, progress))
}

fn sync_templates(config: Config) -> anyhow::Result<ExitCode> {
    let senders = replydesk::replies::Senders::from_config(&config);
    let synced = runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let synced =
            replydesk::replies::templates::sync(&db, &senders, SystemClock.now_ms()).await?;
        db.close().await;
        anyhow::Ok(synced)
    })?;
    if synced.is_empty() {
        println!(
            "no channel has send credentials (access_token, or account_sid and auth_token): nothing to sync"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for s in &synced {
        match &s.error {
            None => println!(
                "{}: {} templates, {} approved",
                s.channel, s.templates, s.approved
            ),
            Some(e) => {
                failed = true;
                eprintln!("{}: not synced, the last list stays: {e}", s.channel);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn import_contacts(config: Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (input, size, progress) = open_import(file)?;
    let summary = runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let summary = replydesk::contacts::import_csv(
            &db,
            std::io::BufReader::new(input),
            SystemClock.now_ms(),
            |bytes| progress.set_position(bytes.min(size)),
        )
        .await?;
        db.close().await;
        anyhow::Ok(summary)
    })?;
    progress.finish_and_clear();
    Ok(finish_import(
        &summary.bad,
        &format!(
            "{} rows: {} contacts created, {} updated, {} already as in the file, {} bad",
            summary.rows,
            summary.created,
            summary.updated,
            summary.unchanged,
            summary.bad.len()
        ),
    ))
}

/// Prints an import's bad rows (by line, on stderr) and its summary; exit 1
/// when any row was bad, so a script notices.
fn finish_import(bad: &[replydesk::csv_import::BadRow], summary: &str) -> ExitCode {
    for row in bad {
        eprintln!("line {}: {}", row.line, row.reason);
    }
    println!("{summary}");
    if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn import_conversions(config: Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (input, size, progress) = open_import(file)?;
    let source = format!(
        "csv:{}",
        file.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let summary = runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let input = std::io::BufReader::new(input);
        let summary = replydesk::reports::conversions::import_csv(
            &db,
            &config,
            input,
            &source,
            SystemClock.now_ms(),
            |bytes| progress.set_position(bytes.min(size)),
        )
        .await?;
        db.close().await;
        anyhow::Ok(summary)
    })?;
    progress.finish_and_clear();
    Ok(finish_import(
        &summary.bad,
        &format!(
            "{} rows: {} recorded ({} attributed to a send), {} already recorded, {} bad",
            summary.rows,
            summary.recorded,
            summary.attributed,
            summary.repeats,
            summary.bad.len()
        ),
    ))
}

/// The configured database, migrated to this build's schema.
async fn open_db(config: &Config) -> anyhow::Result<Db> {
    Ok(replydesk::app::open_database(config, SystemClock.now_ms()).await?)
}

fn run_seed(config: Config, options: &replydesk::seed::SeedOptions) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let db = open_db(&config).await?;
        let started = std::time::Instant::now();
        let done = replydesk::seed::seed(&db, &config, options, SystemClock.now_ms()).await?;
        db.close().await;
        println!(
            "seeded in {:.0?}: {} contacts, {} sends, {} statuses, {} replies, {} conversations ({} open), {} conversions",
            started.elapsed(),
            done.contacts,
            done.sends,
            done.statuses,
            done.replies,
            done.conversations,
            done.open,
            done.conversions
        );
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
