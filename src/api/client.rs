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
/// Refuse answers larger than this (the official Go client's limit).
const MAX_BODY: u64 = 10 << 20;

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
    body: Vec<u8>,
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

    /// `GET /devices?fields=all`: the `devices` array.
    pub fn devices(&mut self) -> Result<serde_json::Value, ApiError> {
        self.get_list(Op::ListDevices, "devices?fields=all", "devices")
    }

    /// `GET /users`: the `users` array.
    pub fn users(&mut self) -> Result<serde_json::Value, ApiError> {
        self.get_list(Op::ListUsers, "users", "users")
    }

    fn get_list(&mut self, op: Op, rest: &str, key: &str) -> Result<serde_json::Value, ApiError> {
        let url = self.tailnet_url(rest);
        let ans = self.send(
            op,
            Method::Get,
            &url,
            &[("Accept", "application/json")],
            None,
        )?;
        if ans.status != 200 {
            return Err(self.failure(op, ans));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&ans.body).map_err(|e| ApiError::Other {
                host: self.host(),
                op,
                detail: format!("the answer is not JSON: {e}"),
            })?;
        match value.get(key) {
            Some(list @ serde_json::Value::Array(_)) => Ok(list.clone()),
            _ => Err(ApiError::Other {
                host: self.host(),
                op,
                detail: format!("the answer has no `{key}` list"),
            }),
        }
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
        let message = self.body_text(&ans.body);
        let oauth = matches!(self.config.credentials, Credentials::OAuth { .. });
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
            400 if op == Op::SetPolicy => ApiError::Rejected {
                status: 400,
                message,
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

    /// The bearer token for the next request, exchanging the OAuth client when there
    /// is no token or it expires within [`RENEW_BEFORE_EXPIRY`].
    fn bearer(&mut self) -> Result<Secret, ApiError> {
        let (client_id, client_secret) = match &self.config.credentials {
            Credentials::ApiKey(key) => return Ok(key.clone()),
            Credentials::OAuth {
                client_id,
                client_secret,
            } => (client_id.clone(), client_secret.clone()),
        };
        if let Some((token, expires)) = &self.token
            && Instant::now() + RENEW_BEFORE_EXPIRY < *expires
        {
            return Ok(token.clone());
        }
        let url = format!("{}/api/v2/oauth/token", self.config.base_url);
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            form_escape(&client_id),
            form_escape(client_secret.expose())
        );
        let form = Secret::new(form);
        let started = Instant::now();
        let ans = self.send_inner(
            Op::OAuthToken,
            Method::Post,
            &url,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
            Some(form.expose().as_bytes()),
            false,
        )?;
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
        let ans = self.send_inner(op, method, url, headers, body, true)?;
        // An OAuth token can be revoked before it expires: get a new one, once.
        if ans.status == 401 && matches!(self.config.credentials, Credentials::OAuth { .. }) {
            self.token = None;
            let again = self.send_inner(op, method, url, headers, body, true)?;
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
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        authenticate: bool,
    ) -> Result<Answer, ApiError> {
        let mut tried = 0;
        loop {
            tried += 1;
            let auth = if authenticate {
                Some(self.bearer()?)
            } else {
                None
            };
            let started = Instant::now();
            let result = self.once(method, url, headers, body, auth.as_ref());
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

    fn once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        auth: Option<&Secret>,
    ) -> Result<Answer, ureq::Error> {
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
        let status = response.status().as_u16();
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
