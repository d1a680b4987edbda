//! `replydesk seed`: fills an empty database with realistic volume, to
//! measure the queue and the reports on it: contacts, registered sends with
//! their statuses and fallback notices, replies (categories, languages,
//! text) threaded into open and closed conversations with their logs and
//! SLA breaches, conversions, a few dead letters; then builds the report
//! facts.
//!
//! Every value is a function of (seed, index), so a row can be recomputed
//! anywhere without keeping the others in memory (a conversation knows its
//! send and vice versa), and two runs with the same options are identical.
//! Rows go in multi-row statements, thousands per transaction.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

use crate::clock::Millis;
use crate::config::Config;
use crate::contacts::identity::id_for_phone as contact_id_for_phone;
use crate::model::Category;
use crate::reports::ReportsError;
use crate::store::{Backend, Db, StoreError, fixed_chunks, values_rows};

/// What to create.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Stored messages: statuses plus replies.
    pub messages: u64,
    /// Open conversations.
    pub open: u64,
    /// Registered sends.
    pub sends: u64,
    pub conversions: u64,
    /// Days of history the sends and closed conversations spread over.
    pub days: i64,
    pub seed: u64,
    /// Seed even when the database already has events.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the database already holds {0} events; seed an empty database (or pass --force)")]
    NotEmpty(i64),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reports(#[from] ReportsError),
}

/// What was created.
#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub contacts: u64,
    pub sends: u64,
    pub statuses: u64,
    pub replies: u64,
    pub conversations: u64,
    pub open: u64,
    pub conversions: u64,
}

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;
/// Conversations per transaction (with their replies and logs).
const CONVERSATION_BATCH: u64 = 2_000;
/// Sends, contacts or conversions per transaction.
const ROW_BATCH: u64 = 5_000;

const JOURNEYS: [(&str, [&str; 3], u64); 8] = [
    (
        "welcome",
        ["welcome_nov", "welcome_dec", "welcome_evergreen"],
        22,
    ),
    (
        "abandoned_cart",
        ["cart_24h", "cart_72h", "cart_winback"],
        18,
    ),
    (
        "renewal",
        ["renewal_30d", "renewal_7d", "renewal_lapsed"],
        14,
    ),
    (
        "quote_follow_up",
        ["quote_2d", "quote_7d", "quote_final"],
        12,
    ),
    (
        "appointment_reminder",
        ["appt_24h", "appt_2h", "appt_noshow"],
        12,
    ),
    (
        "black_friday",
        ["bf_teaser", "bf_launch", "bf_last_call"],
        10,
    ),
    ("feedback", ["nps_7d", "nps_30d", "review_ask"], 7),
    ("reactivation", ["react_90d", "react_180d", "react_365d"], 5),
];

/// (category, language, text) of replies.
const REPLIES: [(Category, &str, &str); 24] = [
    (Category::Interest, "en", "How much does it cost?"),
    (
        Category::Interest,
        "en",
        "Is it still available in blue? I'd like to order two",
    ),
    (Category::Interest, "es", "¿Cuánto cuesta?"),
    (
        Category::Interest,
        "pt",
        "Quero saber mais sobre a promoção",
    ),
    (Category::Interest, "de", "Wie viel kostet das?"),
    (
        Category::Interest,
        "nl",
        "Wat kost het abonnement per maand?",
    ),
    (Category::Interest, "fr", "Combien ça coûte ?"),
    (Category::Interest, "it", "Vorrei prenotare per sabato"),
    (Category::Service, "en", "Where is my order?"),
    (
        Category::Service,
        "en",
        "My order arrived broken, I need help",
    ),
    (
        Category::Service,
        "es",
        "Mi pedido no ha llegado todavía, ¿me pueden ayudar?",
    ),
    (Category::Service, "nl", "Ik heb de factuur nodig"),
    (
        Category::Service,
        "de",
        "Meine Bestellung ist nicht angekommen",
    ),
    (
        Category::Service,
        "fr",
        "Je voudrais changer mon rendez-vous",
    ),
    (Category::Confusion, "en", "Who is this?"),
    (Category::Confusion, "en", "wrong number"),
    (Category::Confusion, "es", "¿Quién es?"),
    (Category::Noise, "en", "ok thanks"),
    (Category::Noise, "en", "👍"),
    (Category::Noise, "fr", "Merci beaucoup"),
    (Category::OptOut, "en", "STOP"),
    (Category::OptOut, "es", "Baja"),
    (Category::OptOut, "de", "Ich möchte mich abmelden"),
    (
        Category::OptOut,
        "en",
        "Not interested, stop sending me this",
    ),
];

/// (code, weight) of failures: unreachable, marketing opt-out, window, content, transient.
const FAILURES: [(&str, u64, bool); 5] = [
    ("131026", 40, true),
    ("131050", 20, false),
    ("131047", 15, true),
    ("132001", 10, true),
    ("131000", 15, false),
];

/// A deterministic stream of numbers for one row.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, salt: u64, index: u64) -> Rng {
        Rng(seed
            ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// SplitMix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn between(&mut self, lo: Millis, hi: Millis) -> Millis {
        let span = u64::try_from((hi - lo).max(1)).unwrap_or(1);
        lo + i64::try_from(self.below(span)).unwrap_or(0)
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u64)]) -> T {
        let total: u64 = items.iter().map(|i| i.1).sum();
        let mut pick = self.below(total);
        for (item, w) in items {
            if pick < *w {
                return *item;
            }
            pick -= w;
        }
        items[0].0
    }
}

/// A bound value: typed, so a NULL has the column's type on PostgreSQL.
enum V {
    I(Option<i64>),
    T(Option<String>),
    F(Option<f64>),
}

fn int(v: i64) -> V {
    V::I(Some(v))
}
fn text(v: impl Into<String>) -> V {
    V::T(Some(v.into()))
}
fn opt_text(v: Option<impl Into<String>>) -> V {
    V::T(v.map(Into::into))
}
fn opt_int(v: Option<i64>) -> V {
    V::I(v)
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn insert(
    tx: &mut Tx,
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: &[Vec<V>],
) -> Result<(), StoreError> {
    for chunk in fixed_chunks(rows) {
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {} ON CONFLICT DO NOTHING",
            columns.join(", "),
            values_rows(backend, chunk.len(), columns.len())
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    V::I(x) => q.bind(*x),
                    V::T(x) => q.bind(x.clone()),
                    V::F(x) => q.bind(*x),
                };
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One table's rows: (table, columns, rows).
type TableRows = (&'static str, &'static [&'static str], Vec<Vec<V>>);

/// Rows of several tables written in one transaction.
#[derive(Default)]
struct Batch {
    tables: Vec<TableRows>,
}

impl Batch {
    fn push(&mut self, table: &'static str, columns: &'static [&'static str], row: Vec<V>) {
        match self.tables.iter_mut().find(|t| t.0 == table) {
            Some(t) => t.2.push(row),
            None => self.tables.push((table, columns, vec![row])),
        }
    }

    async fn write(self, db: &Db) -> Result<(), StoreError> {
        let mut tx = db.writer().begin().await?;
        for (table, columns, rows) in &self.tables {
            insert(&mut tx, db.backend(), table, columns, rows).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

const CONTACT_COLS: &[&str] = &["id", "phone", "name", "created_at", "updated_at"];
const SEND_COLS: &[&str] = &[
    "message_id",
    "contact_id",
    "journey",
    "campaign",
    "template",
    "purpose",
    "fallback_channel",
    "sent_at",
    "registered_at",
    "registered_by",
];
const EVENT_COLS: &[&str] = &[
    "dedupe_key",
    "payload_id",
    "provider",
    "channel",
    "kind",
    "direction",
    "provider_id",
    "contact_id",
    "occurred_at",
    "received_at",
    "msg_type",
    "body",
    "status",
    "error_code",
    "category",
    "rule_id",
    "lang",
    "rules_version",
    "routed_at",
    "conversation_id",
    "outbound_id",
];
const OUTBOX_COLS: &[&str] = &[
    "id",
    "kind",
    "idempotency_key",
    "target",
    "payload",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "sent_at",
];
const CONVERSATION_COLS: &[&str] = &[
    "id",
    "contact_id",
    "channel",
    "status",
    "category",
    "team",
    "assignee",
    "journey",
    "outbound_id",
    "lang",
    "last_text",
    "message_count",
    "opened_at",
    "last_inbound_at",
    "first_response_at",
    "resolved_at",
    "resolution",
    "due_at",
    "updated_at",
];
const LOG_COLS: &[&str] = &["id", "conversation_id", "at", "actor", "kind", "detail"];
const SLA_COLS: &[&str] = &[
    "id",
    "conversation_id",
    "target",
    "kind",
    "level",
    "due_at",
    "at",
    "team",
];
const CONVERSION_COLS: &[&str] = &[
    "id",
    "external_id",
    "contact_id",
    "type",
    "value",
    "currency",
    "occurred_at",
    "message_id",
    "journey",
    "attributed_by",
    "source",
    "recorded_at",
];

/// How a send went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Delivered, and read or not.
    Delivered(bool),
    /// Failed with a code; whether the code calls for a fallback.
    Failed(&'static str, bool),
    /// Sent; no later status yet.
    Pending,
}

struct SendPlan {
    id: String,
    contact: u64,
    journey: usize,
    campaign: usize,
    template: usize,
    sent_at: Millis,
    delivery: Delivery,
    fallback: bool,
}

struct ConversationPlan {
    id: String,
    contact: u64,
    open: bool,
    category: Category,
    team: Option<&'static str>,
    opened_at: Millis,
    replies: u64,
    send: Option<u64>,
    first_response_at: Option<Millis>,
    resolution: Option<&'static str>,
    assignee: Option<String>,
}

/// The plan: every count and every row as a function of its index.
struct Plan<'a> {
    o: &'a SeedOptions,
    config: &'a Config,
    now: Millis,
    run: String,
    channel: String,
    conversations: u64,
    /// Conversations opened by a reply to a send (the first ones).
    attributed: u64,
    contacts: u64,
    replies: u64,
}

impl Plan<'_> {
    fn phone(k: u64) -> String {
        format!("+316{:08}", 20_000_000 + k)
    }

    fn contact_id(k: u64) -> String {
        contact_id_for_phone(&Self::phone(k))
    }

    fn send(&self, i: u64) -> SendPlan {
        let mut r = Rng::new(self.o.seed, 1, i);
        let journey = r.weighted(
            &JOURNEYS
                .iter()
                .enumerate()
                .map(|(j, x)| (j, x.2))
                .collect::<Vec<_>>(),
        );
        let (contact, sent_at, delivery) = if i < self.attributed {
            let c = self.conversation(i);
            (
                i,
                c.opened_at - r.between(5 * MINUTE, 20 * HOUR),
                Delivery::Delivered(true),
            )
        } else {
            let spread = self.conversations.max(1) + (self.o.sends - self.attributed) / 2;
            let contact =
                self.conversations + (i - self.attributed) % (spread - self.conversations).max(1);
            let at = r.between(self.now - self.o.days * DAY, self.now - 10 * MINUTE);
            let delivery = match r.below(100) {
                0..=87 => Delivery::Delivered(r.chance(60)),
                88..=97 => {
                    let (code, fb) = r.weighted(&FAILURES.map(|(c, w, f)| ((c, f), w)));
                    Delivery::Failed(code, fb)
                }
                _ => Delivery::Pending,
            };
            (contact, at, delivery)
        };
        SendPlan {
            id: format!("wamid.seed.{}.s{i}", self.run),
            contact,
            journey,
            campaign: usize::try_from(r.below(3)).unwrap_or(0),
            template: usize::try_from(r.below(2)).unwrap_or(0),
            sent_at,
            delivery,
            fallback: r.chance(30),
        }
    }

    fn conversation(&self, j: u64) -> ConversationPlan {
        let mut r = Rng::new(self.o.seed, 2, j);
        // The last `open` conversations are the open ones, opened in the last
        // five days so their due times spread around now.
        let open = j >= self.conversations - self.o.open.min(self.conversations);
        let category = if open {
            r.weighted(&[
                (Category::Interest, 50),
                (Category::Service, 35),
                (Category::Confusion, 15),
            ])
        } else {
            r.weighted(&[
                (Category::Interest, 35),
                (Category::Service, 30),
                (Category::Confusion, 10),
                (Category::Noise, 15),
                (Category::OptOut, 10),
            ])
        };
        let opened_at = if open {
            r.between(self.now - 5 * DAY, self.now - MINUTE)
        } else {
            r.between(self.now - self.o.days * DAY + DAY, self.now - DAY)
        };
        let team = match category {
            Category::Interest => Some("sales"),
            Category::Service | Category::Confusion => Some("service"),
            Category::Noise | Category::OptOut => None,
        };
        let base = self.replies / self.conversations.max(1);
        let replies = (base + u64::from(j < self.replies % self.conversations.max(1))).max(1);
        let responded = team.is_some() && (!open || r.chance(30));
        let first_response_at =
            responded.then(|| (opened_at + r.between(2 * MINUTE, 10 * HOUR)).min(self.now));
        let resolution = match (open, category) {
            (true, _) => None,
            (false, Category::Noise) => Some("noise"),
            (false, Category::OptOut) => Some("opted_out"),
            _ => Some(r.weighted(&[
                ("handled", 45),
                ("converted", 20),
                ("not_interested", 20),
                ("follow_up_booked", 15),
            ])),
        };
        let assignee = team.filter(|_| r.chance(60)).map(|t| self.agent(t, &mut r));
        ConversationPlan {
            id: format!("seed-{}-c{j}", self.run),
            contact: j,
            open,
            category,
            team,
            opened_at,
            replies,
            send: (j < self.attributed).then_some(j),
            first_response_at,
            resolution,
            assignee,
        }
    }

    fn agent(&self, team: &str, r: &mut Rng) -> String {
        match self.config.team(team).filter(|t| !t.members.is_empty()) {
            Some(t) => {
                let i = usize::try_from(r.below(t.members.len() as u64)).unwrap_or(0);
                t.members[i].clone()
            }
            None => format!("{team}{}@example.com", r.below(12)),
        }
    }
}

fn bar(len: u64, prefix: &'static str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target).with_prefix(prefix);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>14} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Seeds the database; `now` is the end of the history.
pub async fn seed(
    db: &Db,
    config: &Config,
    o: &SeedOptions,
    now: Millis,
) -> Result<Seeded, SeedError> {
    if o.days < 7 {
        return Err(SeedError::Invalid("--days must be at least 7".into()));
    }
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(db.reader())
        .await
        .map_err(StoreError::from)?;
    if events > 0 && !o.force {
        return Err(SeedError::NotEmpty(events));
    }
    let mut plan = Plan {
        o,
        config,
        now,
        run: format!(
            "{:x}",
            Rng::new(o.seed, 9, u64::try_from(now).unwrap_or(0)).next() & 0xff_ffff
        ),
        channel: config
            .channels
            .first()
            .map_or_else(|| "main".to_string(), |c| c.name.clone()),
        conversations: 0,
        attributed: 0,
        contacts: 0,
        replies: 0,
    };
    // Replies are what the statuses leave of the messages, and the
    // conversations follow the replies; sends that opened a conversation
    // were delivered and read, which changes the statuses. A few rounds
    // settle it; the last round makes the total exact.
    let mut statuses = count_statuses(&plan);
    for _ in 0..3 {
        plan.replies = o.messages.saturating_sub(statuses);
        plan.conversations = (o.open + o.open / 5).max(plan.replies / 3).max(1);
        plan.attributed = (plan.conversations * 6 / 10).min(o.sends);
        plan.contacts = plan.conversations + (o.sends - plan.attributed) / 2;
        statuses = count_statuses(&plan);
    }
    plan.replies = o.messages.saturating_sub(statuses);
    let replies = plan.replies;
    payload_row(db, &plan).await?;
    let mut seeded = Seeded {
        contacts: plan.contacts,
        statuses,
        replies,
        conversations: plan.conversations,
        open: o.open.min(plan.conversations),
        ..Seeded::default()
    };
    contacts(db, &plan).await?;
    seeded.sends = sends(db, &plan).await?;
    conversations(db, &plan).await?;
    seeded.conversions = conversions(db, &plan).await?;
    dead_letters(db, &plan).await?;
    let codes = crate::preferences::status_codes::StatusCodes::load_dir(&config.rules_dir)
        .unwrap_or_default();
    let progress = bar(seeded.sends + seeded.conversations, "report facts");
    crate::reports::rebuild(db, config, &codes, now, |done, _| {
        progress.set_position(done)
    })
    .await?;
    progress.finish();
    Ok(seeded)
}

fn count_statuses(plan: &Plan<'_>) -> u64 {
    (0..plan.o.sends)
        .map(|i| match plan.send(i).delivery {
            Delivery::Delivered(true) => 3,
            Delivery::Delivered(false) | Delivery::Failed(..) => 2,
            Delivery::Pending => 1,
        })
        .sum()
}

/// The one raw payload every seeded event points at.
async fn payload_row(db: &Db, plan: &Plan<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_payloads (id, provider, channel, received_at, body, event_count) \
         VALUES ($1, 'meta', $2, $3, $4, 0) ON CONFLICT (id) DO NOTHING",
    )
    .bind(format!("seed-{}", plan.run))
    .bind(&plan.channel)
    .bind(plan.now)
    .bind(b"{}".to_vec())
    .execute(db.writer())
    .await?;
    Ok(())
}

async fn contacts(db: &Db, plan: &Plan<'_>) -> Result<(), StoreError> {
    let progress = bar(plan.contacts, "contacts");
    let mut k = 0;
    while k < plan.contacts {
        let mut b = Batch::default();
        for c in k..(k + ROW_BATCH).min(plan.contacts) {
            let mut r = Rng::new(plan.o.seed, 3, c);
            let name = r.chance(70).then(|| format!("Customer {c}"));
            b.push(
                "contacts",
                CONTACT_COLS,
                vec![
                    text(Plan::contact_id(c)),
                    text(Plan::phone(c)),
                    opt_text(name),
                    int(plan.now - plan.o.days * DAY),
                    int(plan.now - plan.o.days * DAY),
                ],
            );
        }
        b.write(db).await?;
        k += ROW_BATCH;
        progress.set_position(k.min(plan.contacts));
    }
    progress.finish();
    Ok(())
}

fn status_event(
    plan: &Plan<'_>,
    s: &SendPlan,
    status: &str,
    at: Millis,
    code: Option<&str>,
) -> Vec<V> {
    vec![
        text(format!("{}|{status}", s.id)),
        text(format!("seed-{}", plan.run)),
        text("meta"),
        text(plan.channel.clone()),
        text("status"),
        text("out"),
        text(s.id.clone()),
        text(Plan::contact_id(s.contact)),
        int(at),
        int(at + 1000),
        V::T(None),
        V::T(None),
        text(status),
        opt_text(code),
        V::T(None),
        V::T(None),
        V::T(None),
        V::T(None),
        int(at + 1000),
        V::T(None),
        V::T(None),
    ]
}

async fn sends(db: &Db, plan: &Plan<'_>) -> Result<u64, StoreError> {
    let progress = bar(plan.o.sends, "sends");
    let mut i = 0;
    while i < plan.o.sends {
        let mut b = Batch::default();
        for n in i..(i + ROW_BATCH).min(plan.o.sends) {
            let s = plan.send(n);
            let (journey, campaigns, _) = JOURNEYS[s.journey];
            b.push(
                "outbound_messages",
                SEND_COLS,
                vec![
                    text(s.id.clone()),
                    text(Plan::contact_id(s.contact)),
                    text(journey),
                    text(campaigns[s.campaign]),
                    text(format!("{journey}_v{}", s.template + 1)),
                    text(if journey == "appointment_reminder" {
                        "utility"
                    } else {
                        "marketing"
                    }),
                    opt_text(s.fallback.then_some("email")),
                    int(s.sent_at),
                    int(s.sent_at),
                    text("seed"),
                ],
            );
            b.push(
                "events",
                EVENT_COLS,
                status_event(plan, &s, "sent", s.sent_at + 1000, None),
            );
            match s.delivery {
                Delivery::Delivered(read) => {
                    b.push(
                        "events",
                        EVENT_COLS,
                        status_event(plan, &s, "delivered", s.sent_at + 5000, None),
                    );
                    if read {
                        b.push(
                            "events",
                            EVENT_COLS,
                            status_event(plan, &s, "read", s.sent_at + 10 * MINUTE, None),
                        );
                    }
                }
                Delivery::Failed(code, fallback_code) => {
                    b.push(
                        "events",
                        EVENT_COLS,
                        status_event(plan, &s, "failed", s.sent_at + 5000, Some(code)),
                    );
                    if s.fallback && fallback_code {
                        let mut r = Rng::new(plan.o.seed, 4, n);
                        let sent = r.chance(85);
                        b.push("outbox", OUTBOX_COLS, vec![
                            text(format!("seed-{}-f{n}", plan.run)), text("fallback"),
                            // Pending notices have no target, so a desk started on the
                            // seeded database does not try to post them.
                            text(format!("fallback:{}", s.id)),
                            text(if sent { "https://platform.example.com/fallback" } else { "" }),
                            text(format!("{{\"type\":\"fallback\",\"message_id\":\"{}\",\"fallback_channel\":\"email\"}}", s.id)),
                            text(if sent { "sent" } else { "pending" }), int(i64::from(sent)),
                            int(s.sent_at + 6000), int(s.sent_at + 5000),
                            opt_int(sent.then_some(s.sent_at + 7000)),
                        ]);
                    }
                }
                Delivery::Pending => {}
            }
        }
        b.write(db).await?;
        i += ROW_BATCH;
        progress.set_position(i.min(plan.o.sends));
    }
    progress.finish();
    Ok(plan.o.sends)
}

fn reply_text(r: &mut Rng, category: Category) -> (&'static str, &'static str) {
    let options: Vec<&(Category, &str, &str)> =
        REPLIES.iter().filter(|x| x.0 == category).collect();
    let i = usize::try_from(r.below(options.len() as u64)).unwrap_or(0);
    (options[i].1, options[i].2)
}

async fn conversations(db: &Db, plan: &Plan<'_>) -> Result<(), StoreError> {
    let progress = bar(plan.conversations, "conversations");
    let mut j = 0;
    let mut reply_no = 0u64;
    while j < plan.conversations {
        let mut b = Batch::default();
        for n in j..(j + CONVERSATION_BATCH).min(plan.conversations) {
            let c = plan.conversation(n);
            reply_no = conversation_rows(plan, &c, n, reply_no, &mut b);
        }
        b.write(db).await?;
        j += CONVERSATION_BATCH;
        progress.set_position(j.min(plan.conversations));
    }
    progress.finish();
    Ok(())
}

/// A conversation's replies, row, log and SLA breach; returns the next reply number.
fn conversation_rows(
    plan: &Plan<'_>,
    c: &ConversationPlan,
    n: u64,
    mut reply_no: u64,
    b: &mut Batch,
) -> u64 {
    let mut r = Rng::new(plan.o.seed, 5, n);
    let send = c.send.map(|i| plan.send(i));
    let journey = send.as_ref().map(|s| JOURNEYS[s.journey].0);
    let contact_id = Plan::contact_id(c.contact);
    let mut at = c.opened_at;
    let mut last = ("", "");
    for k in 0..c.replies {
        // Later replies are mostly short acknowledgements.
        let category = if k == 0 || !r.chance(60) {
            c.category
        } else {
            Category::Noise
        };
        let (lang, body) = reply_text(&mut r, category);
        last = (lang, body);
        b.push(
            "events",
            EVENT_COLS,
            vec![
                text(format!("seed-{}-r{reply_no}", plan.run)),
                text(format!("seed-{}", plan.run)),
                text("meta"),
                text(plan.channel.clone()),
                text("message"),
                text("in"),
                text(format!("wamid.seed.{}.r{reply_no}", plan.run)),
                text(contact_id.clone()),
                int(at),
                int(at + 500),
                text("text"),
                text(body),
                V::T(None),
                V::T(None),
                text(category.as_str()),
                text(format!("seed_{}", category.as_str())),
                text(lang),
                text("seed"),
                int(at + 1500),
                text(c.id.clone()),
                opt_text(send.as_ref().map(|s| s.id.clone())),
            ],
        );
        reply_no += 1;
        at = (at + r.between(MINUTE, 3 * HOUR)).min(plan.now);
    }
    let targets = plan.config.sla_for(c.team, c.category);
    let (status, resolved_at) = match (c.open, c.team) {
        (true, _) => ("open", None),
        (false, None) => ("closed", Some(c.opened_at + 2000)),
        (false, Some(_)) => {
            let from = c.first_response_at.unwrap_or(c.opened_at);
            (
                "resolved",
                Some((from + r.between(MINUTE, DAY)).min(plan.now)),
            )
        }
    };
    let due_at = c.open.then(|| match c.first_response_at {
        Some(_) => c.opened_at + targets.resolution_ms,
        None => c.opened_at + targets.first_response_ms,
    });
    b.push(
        "conversations",
        CONVERSATION_COLS,
        vec![
            text(c.id.clone()),
            text(contact_id),
            text(plan.channel.clone()),
            text(status),
            text(c.category.as_str()),
            opt_text(c.team),
            opt_text(c.assignee.clone()),
            opt_text(journey),
            opt_text(send.as_ref().map(|s| s.id.clone())),
            text(last.0),
            text(last.1),
            int(i64::try_from(c.replies).unwrap_or(1)),
            int(c.opened_at),
            int(at),
            opt_int(c.first_response_at),
            opt_int(resolved_at),
            opt_text(c.resolution),
            opt_int(due_at),
            int(resolved_at.or(c.first_response_at).unwrap_or(at)),
        ],
    );
    log_rows(c, resolved_at, b);
    let breached = c.team.is_some()
        && c.first_response_at.unwrap_or(plan.now) - c.opened_at > targets.first_response_ms;
    if breached {
        let due = c.opened_at + targets.first_response_ms;
        b.push(
            "sla_events",
            SLA_COLS,
            vec![
                text(format!("{}-b", c.id)),
                text(c.id.clone()),
                text("first_response"),
                text("breached"),
                int(1),
                int(due),
                int(due),
                opt_text(c.team),
            ],
        );
    }
    reply_no
}

fn log_rows(c: &ConversationPlan, resolved_at: Option<Millis>, b: &mut Batch) {
    let mut log = |k: &str, at: Millis, actor: &str, kind: &str, detail: String| {
        b.push(
            "conversation_log",
            LOG_COLS,
            vec![
                text(format!("{}-{k}", c.id)),
                text(c.id.clone()),
                int(at),
                text(actor),
                text(kind),
                text(detail),
            ],
        );
    };
    let opened = format!("{{\"category\":\"{}\"}}", c.category.as_str());
    log("o", c.opened_at + 1500, "system", "opened", opened);
    match c.team {
        Some(team) => log(
            "t",
            c.opened_at + 1500,
            "system",
            "routed",
            format!("{{\"reason\":\"seed\",\"team\":\"{team}\"}}"),
        ),
        None => log(
            "x",
            c.opened_at + 1500,
            "system",
            "auto_closed",
            "{\"reason\":\"seed\"}".into(),
        ),
    }
    let agent = c
        .assignee
        .clone()
        .unwrap_or_else(|| "seed@example.com".into());
    if let Some(a) = &c.assignee {
        log(
            "a",
            c.opened_at + 1500,
            "system",
            "assigned",
            format!("{{\"to\":\"{a}\",\"by\":\"round_robin\"}}"),
        );
    }
    if let Some(at) = c.first_response_at {
        log(
            "r",
            at,
            &agent,
            "response",
            "{\"kind\":\"call\",\"first\":true}".into(),
        );
    }
    if let (Some(at), Some(outcome), Some(_)) = (resolved_at, c.resolution, c.team) {
        log(
            "z",
            at,
            &agent,
            "resolved",
            format!("{{\"outcome\":\"{outcome}\"}}"),
        );
    }
}

async fn conversions(db: &Db, plan: &Plan<'_>) -> Result<u64, StoreError> {
    let progress = bar(plan.o.conversions, "conversions");
    let mut i = 0;
    while i < plan.o.conversions {
        let mut b = Batch::default();
        for n in i..(i + ROW_BATCH).min(plan.o.conversions) {
            b.push("conversions", CONVERSION_COLS, conversion_row(plan, n));
        }
        b.write(db).await?;
        i += ROW_BATCH;
        progress.set_position(i.min(plan.o.conversions));
    }
    progress.finish();
    Ok(plan.o.conversions)
}

fn conversion_row(plan: &Plan<'_>, n: u64) -> Vec<V> {
    let mut r = Rng::new(plan.o.seed, 6, n);
    let kind = r.weighted(&[
        ("purchase", 45),
        ("booking", 20),
        ("form", 15),
        ("call", 10),
        ("quote_accepted", 10),
    ]);
    #[allow(clippy::cast_precision_loss)]
    let value = (r.between(500, 50_000) as f64) / 100.0;
    let currency = if r.chance(95) { "EUR" } else { "USD" };
    // Most conversions follow a delivered send; replied sends convert more.
    let send = (r.chance(68) && plan.o.sends > 0).then(|| {
        let pick = if r.chance(50) && plan.attributed > 0 {
            r.below(plan.attributed)
        } else {
            r.below(plan.o.sends)
        };
        plan.send(pick)
    });
    let (contact, occurred, message, journey, by) =
        match send.filter(|s| !matches!(s.delivery, Delivery::Failed(..))) {
            Some(s) => {
                let at = (s.sent_at + r.between(10 * MINUTE, 5 * DAY)).min(plan.now);
                let by = if r.chance(15) { "message_id" } else { "window" };
                (
                    Plan::contact_id(s.contact),
                    at,
                    Some(s.id.clone()),
                    Some(JOURNEYS[s.journey].0),
                    by,
                )
            }
            None => {
                let at = r.between(plan.now - plan.o.days * DAY, plan.now);
                let journey = r
                    .chance(30)
                    .then(|| JOURNEYS[usize::try_from(r.below(8)).unwrap_or(0)].0);
                let by = if journey.is_some() { "journey" } else { "none" };
                (
                    contact_id_for_phone(&format!("+316{:08}", 90_000_000 + n)),
                    at,
                    None,
                    journey,
                    by,
                )
            }
        };
    vec![
        text(format!("seed-{}-v{n}", plan.run)),
        text(format!("seed-{}-{n}", plan.run)),
        text(contact),
        text(kind),
        V::F(Some(value)),
        text(currency),
        int(occurred),
        opt_text(message),
        opt_text(journey),
        text(by),
        text("seed"),
        int(occurred.max(plan.now - plan.o.days * DAY)),
    ]
}

async fn dead_letters(db: &Db, plan: &Plan<'_>) -> Result<(), StoreError> {
    let mut tx = db.writer().begin().await?;
    for n in 0..12 {
        let mut r = Rng::new(plan.o.seed, 7, n);
        sqlx::query(
            "INSERT INTO webhook_payloads (id, provider, channel, received_at, body, event_count, problem) \
             VALUES ($1, 'meta', $2, $3, $4, 0, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(format!("seed-{}-dead{n}", plan.run))
        .bind(&plan.channel)
        .bind(r.between(plan.now - plan.o.days * DAY, plan.now))
        .bind(b"{\"object\": \"whatsapp_business_account\", \"entry\": [ truncated".to_vec())
        .bind("the body is not JSON: EOF while parsing a list")
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_a_function_of_seed_and_index() {
        let a: Vec<u64> = (0..5).map(|i| Rng::new(7, 1, i).next()).collect();
        let b: Vec<u64> = (0..5).map(|i| Rng::new(7, 1, i).next()).collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        let mut r = Rng::new(1, 2, 3);
        assert!((0..1000).all(|_| r.between(10, 20) < 20));
    }
}
