//! A blocking client for the policy-file endpoints of the Tailscale API.
//!
//! Every request goes through [`Client::send`]: bearer authentication (an API key, or
//! an OAuth access token obtained and renewed here), a timeout per request, and
//! retries of 429/5xx answers and dropped connections as [`super::retry`] describes.
//! Nothing here prints; with `TSACL_DEBUG=1` one line per request goes to stderr,
//! without credentials.

use super::credentials::{Config, Credentials};
use super::error::{ApiError, Op};
use super::retry::{Next, parse_retry_after, retryable_status};
use super::secret::{Secret, scrub};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// Renew an OAuth access token when less than this is left of its life.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// Refuse answers held in memory larger than this (a policy, a validation). Device and
/// user lists are not held in memory: they go to disk whatever their size
/// ([`Client::write_inventory`]).
const MAX_BODY: u64 = 64 << 20;

/// The policy as the server holds it.
#[derive(Clone, Debug)]
pub struct RemotePolicy {
    /// HuJSON, comments kept.
    pub body: Vec<u8>,
    /// The server's ETag without quotes (`None` if the server sent none).
    pub etag: Option<String>,
}

/// The answer of `POST /acl/validate`.
#[derive(Debug, PartialEq, Eq)]
pub enum Validation {
    /// Accepted; the server may still have sent warnings.
    Accepted { warnings: Vec<String> },
    /// Rejected: the server's message and its per-test details.
    Rejected {
        message: String,
        details: Vec<String>,
    },
}

/// The answer of a conditional `POST /acl`.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written {
        etag: Option<String>,
        tries: u32,
    },
    /// 412: the server's policy is no longer the one the ETag named.
    PreconditionFailed {
        tries: u32,
    },
}

struct Answer {
    status: u16,
    etag: Option<String>,
    retry_after: Option<Duration>,
    /// The body, unless it was spooled.
    body: Vec<u8>,
    /// A 200 answer's body on disk, when the request asked for that.
    spooled: Option<std::fs::File>,
    /// Where a redirect points (never followed).
    location: Option<String>,
    tries: u32,
}

pub struct Client {
    agent: ureq::Agent,
    config: Config,
    /// The current OAuth access token and when it expires.
    token: Option<(Secret, Instant)>,
    /// How many OAuth token exchanges this client made (for tests and debugging).
    pub token_exchanges: u32,
}

impl Client {
    pub fn new(config: Config) -> Client {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(root_certs(config.debug))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("tsacl/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build()
            .into();
        Client {
            agent,
            config,
            token: None,
            token_exchanges: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn host(&self) -> String {
        self.config.host().to_string()
    }

    fn tailnet_url(&self, rest: &str) -> String {
        format!(
            "{}/api/v2/tailnet/{}/{rest}",
            self.config.base_url,
            path_escape(&self.config.tailnet)
        )
    }

    /// `GET /acl` as HuJSON, with the ETag.
    pub fn get_policy(&mut self) -> Result<RemotePolicy, ApiError> {
        let url = self.tailnet_url("acl");
        let ans = self.send(
            Op::GetPolicy,
            Method::Get,
            &url,
            &[("Accept", "application/hujson")],
            None,
        )?;
        if ans.status != 200 {
            return Err(self.failure(Op::GetPolicy, ans));
        }
        Ok(RemotePolicy {
            body: ans.body,
            etag: ans.etag,
        })
    }

    /// `POST /acl/validate` with a standardized (comment-free) policy. The server
    /// answers 200 even when the policy is invalid or its tests fail; the body says so.
    pub fn validate(&mut self, standardized: &[u8]) -> Result<Validation, ApiError> {
        let url = self.tailnet_url("acl/validate");
        let ans = self.send(
            Op::ValidatePolicy,
            Method::Post,
            &url,
            &[
                ("Content-Type", "application/hujson"),
                ("Accept", "application/json"),
            ],
            Some(standardized),
        )?;
        match ans.status {
            200 => Ok(self.read_validation(&ans.body)),
            400 => match self.read_validation(&ans.body) {
                Validation::Accepted { .. } => Ok(Validation::Rejected {
                    message: format!("400 {}", self.body_text(&ans.body)),
                    details: Vec::new(),
                }),
                rejected => Ok(rejected),
            },
            _ => Err(self.failure(Op::ValidatePolicy, ans)),
        }
    }

    /// `POST /acl` with `If-Match: "<etag>"` (`ts-default` for an untouched tailnet).
    pub fn set_policy(&mut self, body: &[u8], etag: &str) -> Result<WriteOutcome, ApiError> {
        let url = self.tailnet_url("acl");
        let if_match = format!("\"{}\"", etag.trim_matches('"'));
        let ans = self.send(
            Op::SetPolicy,
            Method::Post,
            &url,
            &[
                ("Content-Type", "application/hujson"),
                ("Accept", "application/hujson"),
                ("If-Match", &if_match),
            ],
            Some(body),
        )?;
        match ans.status {
            200 => Ok(WriteOutcome::Written {
                etag: ans.etag,
                tries: ans.tries,
            }),
            412 => Ok(WriteOutcome::PreconditionFailed { tries: ans.tries }),
            _ => Err(self.failure(Op::SetPolicy, ans)),
        }
    }

    /// `GET /devices?fields=all` and `GET /users`, written to `out` as the inventory
    /// document `{"devices": [...], "users": [...]}`, one element per line. Both answers
    /// are read to disk first, then copied one element at a time, so memory stays bounded
    /// however large the tailnet (the official Go client refuses answers over 10 MiB,
    /// about 5,000 devices). Returns how many devices and users were written.
    pub fn write_inventory(
        &mut self,
        out: &mut dyn std::io::Write,
    ) -> Result<(usize, usize), ApiError> {
        let devices = self.spool_list(Op::ListDevices, "devices?fields=all")?;
        let users = self.spool_list(Op::ListUsers, "users")?;
        let write_error = |e: std::io::Error| ApiError::LocalWrite {
            detail: e.to_string(),
        };
        out.write_all(b"{\"devices\": [").map_err(write_error)?;
        let n_devices = self.copy_list(Op::ListDevices, devices, "devices", out)?;
        out.write_all(b"], \"users\": [").map_err(write_error)?;
        let n_users = self.copy_list(Op::ListUsers, users, "users", out)?;
        out.write_all(b"]}\n").map_err(write_error)?;
        Ok((n_devices, n_users))
    }

    /// A list endpoint's answer, on disk.
    fn spool_list(&mut self, op: Op, rest: &str) -> Result<std::fs::File, ApiError> {
        let url = self.tailnet_url(rest);
        let mut ans = self.send_spooled(op, &url)?;
        match ans.spooled.take() {
            Some(file) if ans.status == 200 => Ok(file),
            _ => Err(self.failure(op, ans)),
        }
    }

    /// Copy the elements of the answer's `key` array to `out`, one per line, reading one
    /// element at a time.
    fn copy_list(
        &self,
        op: Op,
        mut file: std::fs::File,
        key: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<usize, ApiError> {
        use std::io::Seek;
        let unreadable = |detail: String| ApiError::Other {
            host: self.host(),
            op,
            detail,
        };
        file.rewind()
            .map_err(|e| unreadable(format!("cannot read the saved answer: {e}")))?;
        let mut reader = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
        let copied = serde::de::DeserializeSeed::deserialize(ListOf { key, out }, &mut reader)
            .map_err(|e| unreadable(format!("the answer is not what the API sends: {e}")))?;
        copied.ok_or_else(|| unreadable(format!("the answer has no `{key}` list")))
    }

    fn read_validation(&self, body: &[u8]) -> Validation {
        let text = String::from_utf8_lossy(body);
        if text.trim().is_empty() {
            return Validation::Accepted { warnings: vec![] };
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Validation::Rejected {
                message: format!("unreadable answer: {}", self.body_text(body)),
                details: vec![],
            };
        };
        let message = value
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if let Some(data) = value.get("data").and_then(|d| d.as_array()) {
            for entry in data {
                let user = entry.get("user").and_then(|u| u.as_str()).unwrap_or("");
                let prefix = if user.is_empty() {
                    String::new()
                } else {
                    format!("for {user}: ")
                };
                for (key, out) in [("errors", &mut errors), ("warnings", &mut warnings)] {
                    for e in entry
                        .get(key)
                        .and_then(|e| e.as_array())
                        .into_iter()
                        .flatten()
                    {
                        let e = e.as_str().map_or_else(|| e.to_string(), str::to_string);
                        out.push(self.scrub(&format!("{prefix}{e}")));
                    }
                }
            }
        }
        // A message with only warnings ("warning(s) found") is an acceptance; any
        // error, or a message with no details at all, is a rejection.
        if errors.is_empty() && (message.is_empty() || !warnings.is_empty()) {
            Validation::Accepted { warnings }
        } else {
            Validation::Rejected {
                message: self.scrub(if message.is_empty() {
                    "rejected"
                } else {
                    &message
                }),
                details: errors,
            }
        }
    }

    fn secrets(&self) -> Vec<&Secret> {
        let mut v = Vec::new();
        match &self.config.credentials {
            Credentials::ApiKey(k) => v.push(k),
            Credentials::OAuth { client_secret, .. } => v.push(client_secret),
            Credentials::Federated { id_token, .. } => v.push(id_token),
        }
        if let Some((t, _)) = &self.token {
            v.push(t);
        }
        v
    }

    fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets())
    }

    /// The server's `message`, or the start of its body, scrubbed of secrets.
    fn body_text(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("error_description"))
                    .or_else(|| v.get("error"))
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| {
                let t = text.trim();
                let mut end = t.len().min(300);
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                t[..end].split_whitespace().collect::<Vec<_>>().join(" ")
            });
        self.scrub(&msg)
    }

    /// The error for an answer that is not a success.
    fn failure(&self, op: Op, ans: Answer) -> ApiError {
        let host = self.host();
        let mut message = self.body_text(&ans.body);
        if (300..400).contains(&ans.status) {
            // Never followed: credentials must not go to another host, and a POST would
            // not survive it. The API's address is what to fix.
            message = format!(
                "redirected to {}; tsacl does not follow redirects (credentials stay with the host they are for): set TS_API_URL to the API's own address",
                ans.location
                    .as_deref()
                    .map(|l| self.scrub(l))
                    .unwrap_or_else(|| "nowhere".into())
            );
        }
        let oauth = self.config.credentials.exchanges_tokens();
        match ans.status {
            401 => ApiError::Unauthorized {
                host,
                op,
                oauth,
                message,
            },
            403 => ApiError::Forbidden { host, op, message },
            404 => ApiError::TailnetNotFound {
                host,
                tailnet: self.config.tailnet.clone(),
            },
            400 if op == Op::SetPolicy => match self.read_validation(&ans.body) {
                // The same body as a rejected validation: the message and, for failing
                // tests, one detail per test in `data`.
                Validation::Rejected { message, details } => ApiError::Rejected {
                    status: 400,
                    message,
                    details,
                },
                Validation::Accepted { .. } => ApiError::Rejected {
                    status: 400,
                    message,
                    details: Vec::new(),
                },
            },
            status => ApiError::Status {
                host,
                op,
                status,
                message,
                tries: ans.tries,
            },
        }
    }

    /// The bearer token for the next request: the API key, or an access token from the
    /// OAuth client (client credentials) or from workload identity federation (an OIDC ID
    /// token exchanged at `/api/v2/oauth/token-exchange`, as tailscale-client-go-v2 and
    /// gitops-pusher do), renewed when it expires within [`RENEW_BEFORE_EXPIRY`].
    fn bearer(&mut self) -> Result<Secret, ApiError> {
        let (path, form) = match &self.config.credentials {
            Credentials::ApiKey(key) => return Ok(key.clone()),
            Credentials::OAuth {
                client_id,
                client_secret,
            } => (
                "oauth/token",
                format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    form_escape(client_id),
                    form_escape(client_secret.expose())
                ),
            ),
            Credentials::Federated {
                client_id,
                id_token,
            } => (
                "oauth/token-exchange",
                format!(
                    "client_id={}&jwt={}",
                    form_escape(client_id),
                    form_escape(id_token.expose())
                ),
            ),
        };
        if let Some((token, expires)) = &self.token
            && Instant::now() + RENEW_BEFORE_EXPIRY < *expires
        {
            return Ok(token.clone());
        }
        let url = format!("{}/api/v2/{path}", self.config.base_url);
        let form = Secret::new(form);
        let started = Instant::now();
        let request = Request {
            method: Method::Post,
            url: &url,
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            body: Some(form.expose().as_bytes()),
            spool: false,
        };
        let ans = self.send_inner(Op::OAuthToken, &request, false)?;
        self.token_exchanges += 1;
        let host = self.host();
        match ans.status {
            200 => {}
            400 | 401 | 403 => {
                return Err(ApiError::OAuthRejected {
                    host,
                    status: ans.status,
                    message: self.body_text(&ans.body),
                });
            }
            _ => return Err(self.failure(Op::OAuthToken, ans)),
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: Option<u64>,
        }
        let parsed: TokenAnswer =
            serde_json::from_slice(&ans.body).map_err(|_| ApiError::Other {
                host: host.clone(),
                op: Op::OAuthToken,
                detail: "the token answer has no access_token".to_string(),
            })?;
        let token = Secret::new(parsed.access_token);
        let life = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        self.token = Some((token.clone(), started + life));
        Ok(token)
    }

    fn send(
        &mut self,
        op: Op,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Answer, ApiError> {
        self.send_authenticated(op, method, url, headers, body, false)
    }

    /// A GET whose 200 answer goes to a temporary file instead of memory.
    fn send_spooled(&mut self, op: Op, url: &str) -> Result<Answer, ApiError> {
        let headers = [("Accept", "application/json")];
        self.send_authenticated(op, Method::Get, url, &headers, None, true)
    }

    fn send_authenticated(
        &mut self,
        op: Op,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        spool: bool,
    ) -> Result<Answer, ApiError> {
        let request = Request {
            method,
            url,
            headers,
            body,
            spool,
        };
        let ans = self.send_inner(op, &request, true)?;
        // An OAuth token can be revoked before it expires: get a new one, once.
        if ans.status == 401 && self.config.credentials.exchanges_tokens() {
            self.token = None;
            let again = self.send_inner(op, &request, true)?;
            return Ok(Answer {
                tries: ans.tries + again.tries,
                ..again
            });
        }
        Ok(ans)
    }

    fn send_inner(
        &mut self,
        op: Op,
        request: &Request<'_>,
        authenticate: bool,
    ) -> Result<Answer, ApiError> {
        let (method, url) = (request.method, request.url);
        let mut tried = 0;
        loop {
            tried += 1;
            let auth = if authenticate {
                Some(self.bearer()?)
            } else {
                None
            };
            let started = Instant::now();
            let result = self.once(request, auth.as_ref());
            let (retry_after, error) = match result {
                Ok(mut ans) => {
                    self.debug(method, url, &format!("{}", ans.status), started, tried);
                    if !retryable_status(ans.status) {
                        ans.tries = tried;
                        return Ok(ans);
                    }
                    let after = ans.retry_after;
                    ans.tries = tried;
                    (after, Err(ans))
                }
                Err(e) => {
                    let (error, retryable) = self.transport_error(op, e, tried);
                    self.debug(method, url, &format!("error: {error}"), started, tried);
                    if !retryable {
                        return Err(error);
                    }
                    (None, Ok(error))
                }
            };
            match self.config.retry.next(tried, retry_after) {
                Next::Wait(d) => {
                    if self.config.debug {
                        eprintln!("tsacl: debug: retrying in {d:.2?}");
                    }
                    std::thread::sleep(d);
                }
                Next::GiveUp => {
                    return match error {
                        Err(ans) => Ok(ans),
                        Ok(err) => Err(err),
                    };
                }
            }
        }
    }

    fn debug(&self, method: Method, url: &str, outcome: &str, started: Instant, tried: u32) {
        if self.config.debug {
            eprintln!(
                "tsacl: debug: {} {url} (try {tried}, Authorization: [redacted]) -> {outcome} in {} ms",
                method.as_str(),
                started.elapsed().as_millis()
            );
        }
    }

    fn once(&self, request: &Request<'_>, auth: Option<&Secret>) -> Result<Answer, ureq::Error> {
        let Request {
            method,
            url,
            headers,
            body,
            spool,
        } = *request;
        let bearer = auth.map(|s| format!("Bearer {}", s.expose()));
        let mut response = match method {
            Method::Get => {
                let mut req = self.agent.get(url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                if let Some(b) = &bearer {
                    req = req.header("Authorization", b.as_str());
                }
                req.call()?
            }
            Method::Post => {
                let mut req = self.agent.post(url);
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                if let Some(b) = &bearer {
                    req = req.header("Authorization", b.as_str());
                }
                req.send(body.unwrap_or_default())?
            }
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag").map(|e| {
            e.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        });
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let location = header("location");
        let status = response.status().as_u16();
        if spool && status == 200 {
            let mut file = tempfile::tempfile()?;
            let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
            std::io::copy(&mut reader, &mut file)?;
            return Ok(Answer {
                status,
                etag,
                retry_after,
                body: Vec::new(),
                spooled: Some(file),
                location,
                tries: 1,
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()?;
        Ok(Answer {
            status,
            etag,
            retry_after,
            body,
            spooled: None,
            location,
            tries: 1,
        })
    }

    /// Classify a transport error; the flag says whether another try may help.
    fn transport_error(&self, op: Op, e: ureq::Error, tries: u32) -> (ApiError, bool) {
        let host = self.host();
        match e {
            ureq::Error::Timeout(ureq::Timeout::Resolve) => (ApiError::Dns { host }, false),
            ureq::Error::Timeout(_) => (
                ApiError::Timeout {
                    host,
                    op,
                    after: self.config.timeout,
                },
                false,
            ),
            ureq::Error::HostNotFound => (ApiError::Dns { host }, false),
            ureq::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
                | ErrorKind::BrokenPipe => (ApiError::Dropped { host, op, tries }, true),
                ErrorKind::TimedOut | ErrorKind::WouldBlock => (
                    ApiError::Timeout {
                        host,
                        op,
                        after: self.config.timeout,
                    },
                    false,
                ),
                ErrorKind::ConnectionRefused => (
                    ApiError::Connect {
                        host,
                        detail: "connection refused (is TS_API_URL right, and the server up?)"
                            .to_string(),
                    },
                    false,
                ),
                // std's resolver reports a failed lookup as an uncategorized error.
                _ if io.to_string().contains("lookup address") => (ApiError::Dns { host }, false),
                _ => (
                    ApiError::Connect {
                        host,
                        detail: self.scrub(&io.to_string()),
                    },
                    false,
                ),
            },
            ureq::Error::ConnectionFailed => (
                ApiError::Connect {
                    host,
                    detail: "no address of the host accepted a connection".to_string(),
                },
                false,
            ),
            ureq::Error::Tls(detail) => (
                ApiError::Tls {
                    host,
                    detail: detail.to_string(),
                },
                false,
            ),
            ureq::Error::Rustls(err) => (
                ApiError::Tls {
                    host,
                    detail: err.to_string(),
                },
                false,
            ),
            // A connection closed mid-answer surfaces as a protocol error.
            ureq::Error::Protocol(_) => (ApiError::Dropped { host, op, tries }, true),
            ureq::Error::BodyExceedsLimit(n) => (
                ApiError::Other {
                    host,
                    op,
                    detail: format!("the answer is larger than {n} bytes"),
                },
                false,
            ),
            other => (
                ApiError::Other {
                    host,
                    op,
                    detail: self.scrub(&other.to_string()),
                },
                false,
            ),
        }
    }
}

/// The certificates a server may chain to: the system's store (with `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` honoured, as Go's crypto/x509 does), so CI behind a TLS-inspecting proxy
/// works as it does with Tailscale's Go tools, plus Mozilla's roots bundled in the binary,
/// so a machine without a store (a scratch container) works too. Unreadable system
/// certificates are skipped (and named with `TSACL_DEBUG=1`).
fn root_certs(debug: bool) -> ureq::tls::RootCerts {
    let system = rustls_native_certs::load_native_certs();
    if debug {
        eprintln!(
            "tsacl: debug: {} system root certificates, {} bundled",
            system.certs.len(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        for e in &system.errors {
            eprintln!("tsacl: debug: skipped system certificates: {e}");
        }
    }
    system
        .certs
        .iter()
        .chain(webpki_root_certs::TLS_SERVER_ROOT_CERTS)
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect::<Vec<_>>()
        .into()
}

/// One request, as every try sends it.
#[derive(Clone, Copy)]
struct Request<'a> {
    method: Method,
    url: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Option<&'a [u8]>,
    /// Put a 200 answer's body in a temporary file (no size limit).
    spool: bool,
}

/// `{"<key>": [...], ...}` with the elements of `key` written to `out`, one per line,
/// as they are read; everything else is skipped. Deserializes to whether `key` was there
/// and how many elements it had.
struct ListOf<'a> {
    key: &'a str,
    out: &'a mut dyn std::io::Write,
}

impl<'de> serde::de::DeserializeSeed<'de> for ListOf<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ListOf<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an object with a `{}` list", self.key)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<Option<usize>, A::Error> {
        let mut copied = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == self.key && copied.is_none() {
                copied = Some(map.next_value_seed(Elements {
                    out: &mut *self.out,
                })?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(copied)
    }
}

struct Elements<'a> {
    out: &'a mut dyn std::io::Write,
}

impl<'de> serde::de::DeserializeSeed<'de> for Elements<'_> {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Elements<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        use serde::de::Error as _;
        let mut n = 0;
        while let Some(element) = seq.next_element::<serde_json::Value>()? {
            let sep: &[u8] = if n == 0 { b"\n" } else { b",\n" };
            self.out
                .write_all(sep)
                .and_then(|()| serde_json::to_writer(&mut *self.out, &element).map_err(Into::into))
                .map_err(A::Error::custom)?;
            n += 1;
        }
        if n > 0 {
            self.out.write_all(b"\n").map_err(A::Error::custom)?;
        }
        Ok(n)
    }
}

#[derive(Copy, Clone, Debug)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Escape a tailnet name for a URL path segment (like Go's `url.PathEscape`).
pub fn path_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(path_escape("-"), "-");
        assert_eq!(path_escape("alice@gmail.com"), "alice@gmail.com");
        assert_eq!(path_escape("a/b c"), "a%2Fb%20c");
        assert_eq!(form_escape("a b&c"), "a%20b%26c");
    }
}
