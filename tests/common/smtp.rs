//! A small SMTP server for the email tests, on a loopback port of its own.
//!
//! It speaks the protocol rather than replaying bytes, so the real client
//! (lettre inside the `unlistd` binary) has to get the dialogue right:
//! EHLO, STARTTLS (RFC 3207) when it is offered, AUTH PLAIN and LOGIN
//! (RFC 4954), MAIL, RCPT, DATA with dot-unstuffing (RFC 5321 §4.5.2),
//! RSET, NOOP and QUIT. It can require AUTH, refuse the first mails with
//! a 451 and offer STARTTLS with a certificate from a test CA. It records
//! every mail exactly as received, every AUTH attempt and the commands it
//! saw (verbs only: arguments may carry credentials), and parses mails
//! with `mail-parser` so tests assert on what a mail reader would see.
//!
//! The server runs on its own thread and runtime: it does not depend on
//! the test's runtime, and a test that blocks on the binary does not
//! starve it.

use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::rustls;

/// The host name the server gives in its greeting and EHLO reply.
const HOSTNAME: &str = "sink.test";
/// RFC 5321 §4.5.3.1.4 allows 512 octets per command line; leave room.
const MAX_LINE: u64 = 4096;
/// A mail larger than this is refused (552) rather than buffered.
const MAX_MAIL: usize = 10 * 1024 * 1024;

/// What the server demands and offers.
#[derive(Default)]
pub struct SinkOptions {
    /// `(username, password)`: AUTH is offered and required before MAIL.
    pub login: Option<(String, String)>,
    /// The first this many mails are answered `451` after their DATA.
    pub refuse_first: u32,
    /// STARTTLS is offered, with this certificate.
    pub starttls: Option<TestCa>,
}

/// A CA made for one test and a server certificate it signed for
/// `127.0.0.1` and `localhost`. A client trusts the server only if given
/// [`TestCa::ca_pem`] (for unlistd: `SSL_CERT_FILE`).
pub struct TestCa {
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // A name of its own: two test CAs are two issuers, so a certificate
        // from the other one fails as an unknown issuer, as in real life.
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("unlistd test CA {} {n}", std::process::id()),
        );
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "unlistd test SMTP server");
        let cert = leaf
            .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
            .unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), ca_cert.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }
}

/// One mail as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message after dot-unstuffing, up to (not including) the `.` line.
    pub raw: Vec<u8>,
    /// Sent inside STARTTLS.
    pub over_tls: bool,
    /// The AUTH identity of the session, if it authenticated.
    pub user: Option<String>,
}

impl Mail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        MessageParser::default()
            .parse(&self.raw)
            .unwrap_or_else(|| panic!("not a mail: {}", self.raw_text()))
    }

    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// A top-level header as written, unfolded; the name in any case.
    pub fn header(&self, name: &str) -> Option<String> {
        let m = self.parsed();
        m.headers_raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.replace("\r\n", "").replace('\n', "").trim().to_string())
    }

    /// The decoded Subject.
    pub fn subject(&self) -> String {
        self.parsed().subject().unwrap_or_default().to_string()
    }

    /// Whether the Date header parses, and its UTC offset in minutes.
    pub fn date_offset_minutes(&self) -> Option<i64> {
        let m = self.parsed();
        let d = m.date()?;
        let minutes = i64::from(d.tz_hour) * 60 + i64::from(d.tz_minute);
        Some(if d.tz_before_gmt { -minutes } else { minutes })
    }

    /// `type/subtype` of the whole mail.
    pub fn content_type(&self) -> String {
        content_type(self.parsed().root_part())
    }

    /// Every leaf part, in order: its `type/subtype` and decoded text.
    pub fn parts(&self) -> Vec<(String, String)> {
        let m = self.parsed();
        m.parts
            .iter()
            .filter(|p| !matches!(p.body, PartType::Multipart(_)))
            .map(|p| {
                (
                    content_type(p),
                    p.text_contents().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The decoded text of the (first) part of this type.
    pub fn part(&self, content_type: &str) -> String {
        self.parts()
            .into_iter()
            .find(|(t, _)| t == content_type)
            .map(|(_, text)| text)
            .unwrap_or_else(|| panic!("no {content_type} part in {}", self.raw_text()))
    }
}

fn content_type(p: &mail_parser::MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => {
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase()
        }
        // RFC 2045 §5.2: no Content-Type means text/plain.
        None => "text/plain".into(),
    }
}

/// One AUTH exchange that reached a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    pub mechanism: String,
    pub user: String,
    pub ok: bool,
    pub over_tls: bool,
}

/// One command line, by verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Connections are numbered from 1 in the order they were accepted.
    pub conn: u32,
    pub over_tls: bool,
    pub verb: String,
}

#[derive(Default)]
struct Log {
    accepted: Vec<Mail>,
    rejected: Vec<Mail>,
    auth: Vec<AuthAttempt>,
    commands: Vec<Seen>,
    /// Why a STARTTLS did not lead to a TLS session.
    tls_failures: Vec<String>,
    refuse_left: u32,
    connections: u32,
}

struct Shared {
    login: Option<(String, String)>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    log: Mutex<Log>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A panicking connection task must not hide what was recorded.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running server; stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpSink {
    /// Binds before returning, so the port accepts connections at once.
    pub fn start(opts: SinkOptions) -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            login: opts.login,
            tls: opts
                .starttls
                .map(|ca| tokio_rustls::TlsAcceptor::from(ca.server)),
            log: Mutex::new(Log {
                refuse_left: opts.refuse_first,
                ..Log::default()
            }),
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let conn = {
                                let mut log = sh.log();
                                log.connections += 1;
                                log.connections
                            };
                            tokio::spawn(connection(sh.clone(), tcp, conn));
                        }
                    }
                }
            });
            // Dropping the runtime cancels the open connections.
        });
        SmtpSink {
            port,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn accepted(&self) -> Vec<Mail> {
        self.shared.log().accepted.clone()
    }

    /// Mails answered 451 (see [`SinkOptions::refuse_first`]).
    pub fn rejected(&self) -> Vec<Mail> {
        self.shared.log().rejected.clone()
    }

    pub fn auth_attempts(&self) -> Vec<AuthAttempt> {
        self.shared.log().auth.clone()
    }

    pub fn commands(&self) -> Vec<Seen> {
        self.shared.log().commands.clone()
    }

    pub fn tls_failures(&self) -> Vec<String> {
        self.shared.log().tls_failures.clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------
// The protocol.

enum End {
    Closed,
    StartTls,
}

async fn connection(shared: Arc<Shared>, tcp: tokio::net::TcpStream, conn: u32) {
    let mut plain = BufReader::new(tcp);
    if reply(
        &mut plain,
        &format!("220 {HOSTNAME} ESMTP unlistd test sink"),
    )
    .await
    .is_err()
    {
        return;
    }
    let Ok(End::StartTls) = Session::new(&shared, conn, false).run(&mut plain).await else {
        return;
    };
    // Anything the client sent after STARTTLS, before the handshake, came
    // in clear and must not be read as if it were protected (the
    // command-injection flaw of CVE-2011-0411).
    if !plain.buffer().is_empty() {
        shared
            .log()
            .tls_failures
            .push("clear text pipelined after STARTTLS".into());
        return;
    }
    let acceptor = shared.tls.clone().expect("STARTTLS only when offered");
    match acceptor.accept(plain.into_inner()).await {
        Ok(tls) => {
            let mut tls = BufReader::new(tls);
            let _ = Session::new(&shared, conn, true).run(&mut tls).await;
        }
        Err(e) => shared.log().tls_failures.push(e.to_string()),
    }
}

/// One SMTP session: the whole connection, or the part after STARTTLS
/// (which starts over, RFC 3207 §4.2: no EHLO, no AUTH carried across).
struct Session<'a> {
    shared: &'a Shared,
    conn: u32,
    tls: bool,
    greeted: bool,
    user: Option<String>,
    from: Option<String>,
    rcpt: Vec<String>,
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    line: &str,
) -> std::io::Result<()> {
    let s = s.get_mut();
    s.write_all(line.as_bytes()).await?;
    s.write_all(b"\r\n").await?;
    s.flush().await
}

/// One line without its line ending; `None` at end of stream. A line
/// longer than `MAX_LINE` is an error (the connection is dropped).
async fn read_line<S: AsyncRead + Unpin>(s: &mut BufReader<S>) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    (&mut *s)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(std::io::Error::other("line too long or unterminated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// `<addr>` out of `FROM:<addr> PARAMS` / `TO:<addr> PARAMS`.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, conn: u32, tls: bool) -> Session<'a> {
        Session {
            shared,
            conn,
            tls,
            greeted: false,
            user: None,
            from: None,
            rcpt: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpt.clear();
    }

    fn ehlo_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("{HOSTNAME} at your service"),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            format!("SIZE {MAX_MAIL}"),
        ];
        if self.shared.tls.is_some() && !self.tls {
            lines.push("STARTTLS".into());
        }
        if self.shared.login.is_some() {
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        lines
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
    ) -> std::io::Result<End> {
        while let Some(line) = read_line(s).await? {
            let line = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
                None => (line.to_ascii_uppercase(), ""),
            };
            self.shared.log().commands.push(Seen {
                conn: self.conn,
                over_tls: self.tls,
                verb: verb.clone(),
            });
            match verb.as_str() {
                "EHLO" | "HELO" if arg.is_empty() => {
                    reply(s, "501 5.5.4 Syntax: EHLO hostname").await?
                }
                "EHLO" => {
                    self.greeted = true;
                    self.reset();
                    let lines = self.ehlo_lines();
                    let last = lines.len() - 1;
                    let text: Vec<String> = lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                        .collect();
                    reply(s, &text.join("\r\n")).await?;
                }
                "HELO" => {
                    self.greeted = true;
                    self.reset();
                    reply(s, &format!("250 {HOSTNAME}")).await?;
                }
                "STARTTLS" if self.tls || self.shared.tls.is_none() => {
                    reply(s, "502 5.5.1 STARTTLS not offered").await?
                }
                "STARTTLS" if !self.greeted => reply(s, "503 5.5.1 Send EHLO first").await?,
                "STARTTLS" if !arg.is_empty() => {
                    reply(s, "501 5.5.4 STARTTLS takes no argument").await?
                }
                "STARTTLS" => {
                    reply(s, "220 2.0.0 Ready to start TLS").await?;
                    return Ok(End::StartTls);
                }
                "AUTH" => self.auth(s, arg).await?,
                "MAIL" => self.mail(s, arg).await?,
                "RCPT" if self.from.is_none() => reply(s, "503 5.5.1 Need MAIL first").await?,
                "RCPT" => match path(arg, "TO:") {
                    Some(to) if !to.is_empty() => {
                        self.rcpt.push(to);
                        reply(s, "250 2.1.5 OK").await?;
                    }
                    _ => reply(s, "501 5.5.4 Syntax: RCPT TO:<address>").await?,
                },
                "DATA" if self.rcpt.is_empty() => reply(s, "503 5.5.1 Need RCPT first").await?,
                "DATA" => {
                    if !self.data(s).await? {
                        return Ok(End::Closed);
                    }
                }
                "RSET" => {
                    self.reset();
                    reply(s, "250 2.0.0 OK").await?;
                }
                "NOOP" => reply(s, "250 2.0.0 OK").await?,
                "VRFY" => reply(s, "252 2.5.0 Cannot verify, will try delivery").await?,
                "QUIT" => {
                    reply(s, "221 2.0.0 Bye").await?;
                    return Ok(End::Closed);
                }
                _ => reply(s, "500 5.5.2 Command unrecognized").await?,
            }
        }
        Ok(End::Closed)
    }

    async fn mail<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
        arg: &str,
    ) -> std::io::Result<()> {
        if !self.greeted {
            return reply(s, "503 5.5.1 Send EHLO first").await;
        }
        if self.shared.login.is_some() && self.user.is_none() {
            return reply(s, "530 5.7.0 Authentication required").await;
        }
        if self.from.is_some() {
            return reply(s, "503 5.5.1 Nested MAIL command").await;
        }
        match path(arg, "FROM:") {
            // The null reverse-path `<>` is valid (bounces).
            Some(from) => {
                self.from = Some(from);
                reply(s, "250 2.1.0 OK").await
            }
            None => reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>").await,
        }
    }

    /// Reads the mail after a `354`; `false` when the stream ended.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
    ) -> std::io::Result<bool> {
        reply(s, "354 End data with <CR><LF>.<CR><LF>").await?;
        let mut raw = Vec::new();
        let mut too_big = false;
        loop {
            let Some(line) = read_line(s).await? else {
                return Ok(false);
            };
            if line == b"." {
                break;
            }
            // RFC 5321 §4.5.2: the client doubled every leading dot.
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if raw.len() + line.len() + 2 > MAX_MAIL {
                too_big = true;
                continue;
            }
            raw.extend_from_slice(line);
            raw.extend_from_slice(b"\r\n");
        }
        let mail = Mail {
            mail_from: self.from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.rcpt),
            raw,
            over_tls: self.tls,
            user: self.user.clone(),
        };
        if too_big {
            reply(s, "552 5.3.4 Message too big").await?;
            return Ok(true);
        }
        let refused = {
            let mut log = self.shared.log();
            if log.refuse_left > 0 {
                log.refuse_left -= 1;
                log.rejected.push(mail);
                true
            } else {
                log.accepted.push(mail);
                false
            }
        };
        if refused {
            reply(s, "451 4.3.0 Try again later").await?;
        } else {
            reply(s, "250 2.0.0 Queued").await?;
        }
        Ok(true)
    }

    /// RFC 4954 AUTH with PLAIN (RFC 4616) or LOGIN, initial response or not.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
        arg: &str,
    ) -> std::io::Result<()> {
        let Some((want_user, want_password)) = self.shared.login.clone() else {
            return reply(s, "502 5.5.1 AUTH not offered").await;
        };
        if !self.greeted {
            return reply(s, "503 5.5.1 Send EHLO first").await;
        }
        if self.user.is_some() {
            return reply(s, "503 5.5.1 Already authenticated").await;
        }
        if self.from.is_some() {
            return reply(s, "503 5.5.1 AUTH not allowed during a mail transaction").await;
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
            None => (arg.to_ascii_uppercase(), None),
        };
        // Each answer is base64; `*` cancels (RFC 4954 §4).
        let decode = |b64: &str| -> Result<Vec<u8>, &'static str> {
            match b64 {
                "*" => Err("501 5.7.0 Authentication cancelled"),
                // An empty initial response is sent as `=`.
                "=" => Ok(Vec::new()),
                _ => B64
                    .decode(b64)
                    .map_err(|_| "501 5.5.2 Cannot decode response"),
            }
        };
        let (user, password) = match mechanism.as_str() {
            "PLAIN" => {
                let answer = match initial {
                    Some(i) => i,
                    None => match self.challenge(s, "").await? {
                        Some(a) => a,
                        None => return Ok(()),
                    },
                };
                let plain = match decode(&answer) {
                    Ok(p) => p,
                    Err(e) => return reply(s, e).await,
                };
                // authzid NUL authcid NUL passwd
                let fields: Vec<&[u8]> = plain.split(|b| *b == 0).collect();
                let [_, user, password] = fields[..] else {
                    return reply(s, "501 5.5.2 Malformed PLAIN response").await;
                };
                (user.to_vec(), password.to_vec())
            }
            "LOGIN" => {
                let user = match initial {
                    Some(i) => i,
                    None => match self.challenge(s, &B64.encode("Username:")).await? {
                        Some(a) => a,
                        None => return Ok(()),
                    },
                };
                let Some(password) = self.challenge(s, &B64.encode("Password:")).await? else {
                    return Ok(());
                };
                match (decode(&user), decode(&password)) {
                    (Ok(u), Ok(p)) => (u, p),
                    (Err(e), _) | (_, Err(e)) => return reply(s, e).await,
                }
            }
            _ => return reply(s, "504 5.5.4 Unrecognized authentication type").await,
        };
        let user = String::from_utf8_lossy(&user).into_owned();
        let ok = user == want_user && password == want_password.as_bytes();
        self.shared.log().auth.push(AuthAttempt {
            mechanism,
            user: user.clone(),
            ok,
            over_tls: self.tls,
        });
        if ok {
            self.user = Some(user);
            reply(s, "235 2.7.0 Authentication successful").await
        } else {
            reply(s, "535 5.7.8 Authentication credentials invalid").await
        }
    }

    /// Sends `334 challenge` and returns the answer line; `None` when the
    /// stream ended.
    async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
        challenge: &str,
    ) -> std::io::Result<Option<String>> {
        reply(s, &format!("334 {challenge}")).await?;
        Ok(read_line(s)
            .await?
            .map(|l| String::from_utf8_lossy(&l).trim().to_string()))
    }
}
