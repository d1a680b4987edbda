//! `replydesk simulate`: a load generator that posts signed, realistic Meta
//! webhooks (text replies in seven languages from a pool of senders, each
//! with a unique message id) to a running desk, closed loop or at a fixed
//! rate, for a bounded time, and prints a progress line and a summary.
//!
//! At a fixed rate each connection follows its own schedule; a send that is
//! more than 2 ms late is timed from when it should have gone out, so a
//! stalled server shows in the latency instead of hiding behind it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::providers::meta;

#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// `http://HOST:PORT` of the desk.
    pub url: String,
    pub channel: String,
    pub secret: String,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Total requests per second; `None` runs a closed loop.
    pub rate: Option<f64>,
    pub senders: u64,
    /// Print a progress line every second.
    pub progress: bool,
}

/// What a run achieved.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub ok: u64,
    /// Answered 200 during the warm-up and the measured window together.
    pub ok_total: u64,
    pub non_200: u64,
    pub io_errors: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rps={:.0} ok={} ok_total={} non200={} io_err={} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2}",
            self.rps,
            self.ok,
            self.ok_total,
            self.non_200,
            self.io_errors,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms
        )
    }
}

const TEXTS: &[&str] = &[
    "Yes please, how much is it?",
    "STOP",
    "¿Cuánto cuesta el envío?",
    "Quero saber mais sobre a oferta",
    "Qui êtes-vous ? Je ne vous connais pas",
    "Wo bleibt meine Bestellung?",
    "Grazie, a presto",
    "Kunt u mij morgen bellen?",
    "ok 👍",
    "My order arrived broken, I need help",
];

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    ok_total: AtomicU64,
    non_200: AtomicU64,
    io_errors: AtomicU64,
}

/// Runs the load and returns its summary.
pub async fn run(options: SimulateOptions) -> anyhow::Result<Summary> {
    let addr = options
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let path = format!("/webhooks/meta/{}", options.channel);
    let counters = Arc::new(Counters::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let run_id: u64 = rand::random::<u32>().into();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..options.connections {
        let ctx = ConnCtx {
            addr: addr.clone(),
            path: path.clone(),
            options: options.clone(),
            counters: counters.clone(),
            measuring: measuring.clone(),
            stop: stop.clone(),
            conn: conn as u64,
            run_id,
        };
        tasks.push(tokio::spawn(ctx.run(started)));
    }
    tokio::time::sleep(options.warmup).await;
    let ok_at_start = counters.ok_total.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    let mut last = ok_at_start;
    while window.elapsed() < options.duration {
        tokio::time::sleep(Duration::from_secs(1).min(options.duration)).await;
        let now = counters.ok_total.load(Ordering::Relaxed);
        if options.progress {
            eprintln!(
                "simulate: {:>4.0}s  ok {:>9}  {:>7} req/s  non-200 {}  errors {}",
                window.elapsed().as_secs_f64(),
                now - ok_at_start,
                now - last,
                counters.non_200.load(Ordering::Relaxed),
                counters.io_errors.load(Ordering::Relaxed)
            );
        }
        last = now;
    }
    measuring.store(false, Ordering::Relaxed);
    let measured = window.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await?);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)] as f64 / 1000.0
    };
    Ok(Summary {
        ok: counters.ok.load(Ordering::Relaxed),
        ok_total: counters.ok_total.load(Ordering::Relaxed),
        non_200: counters.non_200.load(Ordering::Relaxed),
        io_errors: counters.io_errors.load(Ordering::Relaxed),
        rps: counters.ok.load(Ordering::Relaxed) as f64 / measured,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: latencies.last().map_or(0.0, |m| *m as f64 / 1000.0),
    })
}

struct ConnCtx {
    addr: String,
    path: String,
    options: SimulateOptions,
    counters: Arc<Counters>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conn: u64,
    run_id: u64,
}

impl ConnCtx {
    /// One keep-alive connection; returns its measured latencies in microseconds.
    async fn run(self, started: Instant) -> Vec<u64> {
        let mut latencies = Vec::with_capacity(1 << 16);
        let interval = self
            .options
            .rate
            .map(|r| Duration::from_secs_f64(self.options.connections as f64 / r.max(0.001)));
        // Spread the connections' schedules over one interval.
        let mut next = started
            + interval.map_or(Duration::ZERO, |i| {
                i.mul_f64(self.conn as f64 / self.options.connections as f64)
            });
        let mut seq = 0u64;
        'reconnect: while !self.stop.load(Ordering::Relaxed) {
            let Ok(stream) = tokio::net::TcpStream::connect(&self.addr).await else {
                self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                continue;
            };
            tokio::spawn(connection);
            while !self.stop.load(Ordering::Relaxed) {
                let scheduled = match interval {
                    Some(i) => {
                        tokio::time::sleep_until(next.into()).await;
                        let s = next;
                        next += i;
                        Some(s)
                    }
                    None => None,
                };
                seq += 1;
                let body = self.body(seq);
                let signature = meta::sign(&self.options.secret, &body);
                let request = Request::post(&self.path)
                    .header("host", &self.addr)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature)
                    .body(Full::new(Bytes::from(body)));
                let Ok(request) = request else { continue };
                let sent = Instant::now();
                let from = match scheduled {
                    Some(s) if sent.duration_since(s) > Duration::from_millis(2) => s,
                    _ => sent,
                };
                match sender.send_request(request).await {
                    Ok(response) => {
                        let ok = response.status() == 200;
                        let _ = response.into_body().collect().await;
                        let took = from.elapsed();
                        if ok {
                            self.counters.ok_total.fetch_add(1, Ordering::Relaxed);
                        } else {
                            self.counters.non_200.fetch_add(1, Ordering::Relaxed);
                        }
                        if self.measuring.load(Ordering::Relaxed) && ok {
                            self.counters.ok.fetch_add(1, Ordering::Relaxed);
                            latencies.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                        }
                    }
                    Err(_) => {
                        self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                        continue 'reconnect;
                    }
                }
            }
        }
        latencies
    }

    /// A text reply as the Cloud API posts it, with a unique message id.
    fn body(&self, seq: u64) -> Vec<u8> {
        let n = self.conn.wrapping_mul(1_000_003).wrapping_add(seq);
        let sender =
            447_700_000_000 + (n.wrapping_mul(2_654_435_761) % self.options.senders.max(1));
        let text = TEXTS[(n % TEXTS.len() as u64) as usize];
        #[allow(clippy::cast_possible_wrap)]
        let ts = 1_795_687_200 + (seq as i64);
        serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "102290129340398",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
                        "contacts": [{ "profile": { "name": format!("Customer {sender}") }, "wa_id": sender.to_string() }],
                        "messages": [{
                            "from": sender.to_string(),
                            "id": format!("wamid.sim{:x}.{}.{}", self.run_id, self.conn, seq),
                            "timestamp": ts.to_string(),
                            "type": "text",
                            "text": { "body": text },
                            "context": { "from": "15550783881", "id": format!("wamid.out{}", n % 5000) }
                        }]
                    }
                }]
            }]
        })
        .to_string()
        .into_bytes()
    }
}
