//! A small SMTP server for tests: it speaks enough real SMTP for lettre to
//! deliver to it (greeting, EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing,
//! RSET, NOOP, QUIT) and keeps every message it accepted. A test can stop it
//! (the port then refuses connections), start it again on the same port, and
//! make it answer `451` (try again later) to every sender.
//!
//! It records a message before it answers `250` to the final dot, so once
//! the sender's call returns, the message is visible here: no waiting.

#![allow(dead_code)]
// Test code: a failed unwrap is a failed test. clippy's allow-unwrap-in-tests
// covers #[test] functions only, not the helpers around them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One accepted message: the envelope and the raw message as sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    answer_451: AtomicBool,
    connections: AtomicUsize,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl SmtpSink {
    /// Starts on 127.0.0.1 on a free port.
    pub async fn start() -> SmtpSink {
        let listener = listen("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let server = tokio::spawn(serve(listener, shared.clone()));
        SmtpSink {
            addr,
            shared,
            server: Mutex::new(Some(server)),
        }
    }

    /// lettre's connection URL for this server (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Closes the listener and every open session: connections are refused
    /// until [`SmtpSink::restart`].
    pub async fn stop(&self) {
        let server = self.server.lock().unwrap().take();
        if let Some(server) = server {
            // Dropping the accept loop drops the listener and its sessions.
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub async fn restart(&self) {
        self.stop().await;
        let listener = listen(self.addr);
        let server = tokio::spawn(serve(listener, self.shared.clone()));
        *self.server.lock().unwrap() = Some(server);
    }

    /// While on, every `MAIL FROM` is answered `451` (a temporary failure).
    pub fn answer_451(&self, on: bool) {
        self.shared.answer_451.store(on, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Connections accepted so far, across restarts.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(server) = self.server.lock().unwrap().take() {
            server.abort();
        }
    }
}

/// Binds with `SO_REUSEADDR` so a restart can take the same port back while
/// old connections linger in TIME_WAIT.
fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket
        .bind(addr)
        .unwrap_or_else(|e| panic!("SMTP sink cannot bind {addr}: {e}"));
    socket.listen(64).unwrap()
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Owned here so that aborting this task ends every session too.
    let mut sessions = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        sessions.spawn(session(stream, shared.clone()));
        while sessions.try_join_next().is_some() {}
    }
}

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut envelope = Envelope::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250 8BITMIME\r\n".to_string(),
            "HELO" => "250 sink.test\r\n".to_string(),
            "MAIL" => mail(&command, &mut envelope, &shared),
            "RCPT" => rcpt(&command, &mut envelope),
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first\r\n".to_string(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                let envelope = std::mem::take(&mut envelope);
                shared.received.lock().unwrap().push(Received {
                    from: envelope.from.unwrap_or_default(),
                    to: envelope.to,
                    data,
                });
                "250 2.0.0 Queued\r\n".to_string()
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK\r\n".to_string()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_string(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized\r\n".to_string(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

fn mail(command: &str, envelope: &mut Envelope, shared: &Shared) -> String {
    if shared.answer_451.load(Ordering::SeqCst) {
        return "451 4.3.0 Temporarily unable to accept mail, try again later\r\n".to_string();
    }
    match angle_address(command) {
        Some(from) => {
            *envelope = Envelope {
                from: Some(from),
                to: Vec::new(),
            };
            "250 2.1.0 OK\r\n".to_string()
        }
        None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_string(),
    }
}

fn rcpt(command: &str, envelope: &mut Envelope) -> String {
    if envelope.from.is_none() {
        return "503 5.5.1 MAIL first\r\n".to_string();
    }
    match angle_address(command) {
        Some(to) => {
            envelope.to.push(to);
            "250 2.1.5 OK\r\n".to_string()
        }
        None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_string(),
    }
}

/// The address between `<` and `>`; parameters after it (`BODY=8BITMIME`) are ignored.
fn angle_address(command: &str) -> Option<String> {
    let start = command.find('<')? + 1;
    let end = start + command[start..].find('>')?;
    Some(command[start..end].to_string())
}

/// Reads the message up to the lone dot, undoing dot-stuffing (RFC 5321 4.5.2).
async fn read_data(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

crate::test_case! {
    async fn the_sink_undoes_dot_stuffing_and_keeps_the_envelope() {
        let sink = SmtpSink::start().await;
        let stream = TcpStream::connect(sink.addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        expect(&mut reader, "220").await;
        for (command, code) in [
            ("EHLO test\r\n", "250"),
            ("MAIL FROM:<a@example.com> BODY=8BITMIME\r\n", "250"),
            ("RCPT TO:<b@example.com>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: x\r\n\r\n..leading dot\r\n.\r\n", "250"),
            ("QUIT\r\n", "221"),
        ] {
            write.write_all(command.as_bytes()).await.unwrap();
            expect(&mut reader, code).await;
        }
        let received = sink.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].from, "a@example.com");
        assert_eq!(received[0].to, ["b@example.com"]);
        assert_eq!(received[0].data, b"Subject: x\r\n\r\n.leading dot\r\n");
    }
}

/// Reads one reply (all its lines) and checks its code.
async fn expect(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str) {
    let mut reply = String::new();
    // A multi-line reply ends with the line whose code is followed by a space.
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] == b' ' {
            break;
        }
    }
    assert!(reply.starts_with(code), "expected {code}, got {reply:?}");
}

crate::test_case! {
    async fn a_stopped_sink_refuses_connections_and_restarts_on_the_same_port() {
        let sink = SmtpSink::start().await;
        sink.stop().await;
        assert!(TcpStream::connect(sink.addr).await.is_err());
        sink.restart().await;
        assert!(TcpStream::connect(sink.addr).await.is_ok());
    }
}
