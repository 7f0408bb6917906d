//! Errors of the API client, each worded with its likely cause and the host it
//! concerns. None of them ever holds a credential: server text is scrubbed of the
//! secrets in use before it is stored here.

use std::fmt;
use std::time::Duration;

/// What the client was doing, for messages and for the scope a 403 points at.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    GetPolicy,
    ValidatePolicy,
    SetPolicy,
    ListDevices,
    ListUsers,
    OAuthToken,
}

impl Op {
    pub fn describe(self) -> &'static str {
        match self {
            Op::GetPolicy => "read the policy file",
            Op::ValidatePolicy => "validate the policy file",
            Op::SetPolicy => "write the policy file",
            Op::ListDevices => "list devices",
            Op::ListUsers => "list users",
            Op::OAuthToken => "exchange the OAuth client for an access token",
        }
    }

    /// The OAuth scope the operation needs.
    pub fn scope(self) -> &'static str {
        match self {
            Op::GetPolicy | Op::ValidatePolicy => "policy_file:read",
            Op::SetPolicy => "policy_file",
            Op::ListDevices => "devices:core:read",
            Op::ListUsers => "users:read",
            Op::OAuthToken => "policy_file",
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 401: the credential was not accepted.
    Unauthorized {
        host: String,
        op: Op,
        oauth: bool,
        message: String,
    },
    /// 403: the credential lacks a scope or the user lacks a role.
    Forbidden {
        host: String,
        op: Op,
        message: String,
    },
    /// 404 on a tailnet endpoint.
    TailnetNotFound {
        host: String,
        tailnet: String,
    },
    /// The OAuth token endpoint refused the client.
    OAuthRejected {
        host: String,
        status: u16,
        message: String,
    },
    /// The server rejected the policy (400 on validate or write), with its per-test
    /// details (`data`), one line each.
    Rejected {
        status: u16,
        message: String,
        details: Vec<String>,
    },
    /// Another HTTP status, after any retries.
    Status {
        host: String,
        op: Op,
        status: u16,
        message: String,
        tries: u32,
    },
    Timeout {
        host: String,
        op: Op,
        after: Duration,
    },
    Dns {
        host: String,
    },
    Tls {
        host: String,
        detail: String,
    },
    Connect {
        host: String,
        detail: String,
    },
    /// The connection was reset or closed before an answer arrived.
    Dropped {
        host: String,
        op: Op,
        tries: u32,
    },
    /// Anything else the transport reported, or an answer tsacl cannot read.
    Other {
        host: String,
        op: Op,
        detail: String,
    },
    /// Writing an answer to a local file failed (a full disk, a permission).
    LocalWrite {
        detail: String,
    },
}

impl ApiError {
    /// Exit code: 1 when the server rejected the policy, else 3 (runtime failure).
    pub fn exit_code(&self) -> u8 {
        match self {
            ApiError::Rejected { .. } => crate::cli::EXIT_FINDINGS,
            _ => crate::cli::EXIT_RUNTIME,
        }
    }

    /// True when a write surely did not happen: the request never reached the server
    /// (DNS, TLS, connection), or the server refused it before acting (401, 403, 404,
    /// a rejected policy). After a timeout, a dropped connection or a 5xx, only
    /// reading the policy again can tell.
    pub fn surely_not_applied(&self) -> bool {
        matches!(
            self,
            ApiError::Dns { .. }
                | ApiError::Tls { .. }
                | ApiError::Connect { .. }
                | ApiError::Unauthorized { .. }
                | ApiError::Forbidden { .. }
                | ApiError::TailnetNotFound { .. }
                | ApiError::OAuthRejected { .. }
                | ApiError::Rejected { .. }
        )
    }
}

pub fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// `500 ms`, `2.5 s`, `30 s`.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn tries_text(tries: u32) -> String {
    if tries > 1 {
        format!(" (after {tries} tries)")
    } else {
        String::new()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unauthorized {
                host,
                op,
                oauth,
                message,
            } => {
                write!(
                    f,
                    "{host} answered 401 Unauthorized when asked to {}: ",
                    op.describe()
                )?;
                if *oauth {
                    write!(
                        f,
                        "the OAuth access token was not accepted; the OAuth client may have been revoked"
                    )?;
                } else {
                    write!(
                        f,
                        "the API key was not accepted; it may be expired (keys last at most 90 days) or revoked. \
                         Create a new key, or use an OAuth client (TS_OAUTH_CLIENT_ID/TS_OAUTH_CLIENT_SECRET), which does not expire"
                    )?;
                }
                if !message.is_empty() {
                    write!(f, "; the server said: {message}")?;
                }
                Ok(())
            }
            ApiError::Forbidden { host, op, message } => {
                write!(
                    f,
                    "{host} answered 403 Forbidden when asked to {}: the credential lacks the `{}` scope \
                     (an OAuth client needs it; an API key's user needs an admin role)",
                    op.describe(),
                    op.scope()
                )?;
                if !message.is_empty() {
                    write!(f, "; the server said: {message}")?;
                }
                Ok(())
            }
            ApiError::TailnetNotFound { host, tailnet } => write!(
                f,
                "tailnet {tailnet:?} was not found at {host} (404): check TS_TAILNET; `-` (the default) \
                 means the credential's own tailnet"
            ),
            ApiError::OAuthRejected {
                host,
                status,
                message,
            } => {
                write!(
                    f,
                    "{host} refused the OAuth client ({status} {}): check TS_OAUTH_CLIENT_ID and \
                     TS_OAUTH_CLIENT_SECRET; the client may have been deleted",
                    status_reason(*status)
                )?;
                if !message.is_empty() {
                    write!(f, "; the server said: {message}")?;
                }
                Ok(())
            }
            ApiError::Rejected {
                status,
                message,
                details,
            } => {
                write!(f, "the server rejected the policy ({status}): {message}")?;
                for d in details {
                    write!(f, "\n  - {d}")?;
                }
                Ok(())
            }
            ApiError::Status {
                host,
                op,
                status,
                message,
                tries,
            } => {
                write!(
                    f,
                    "{host} answered {status} {} when asked to {}{}",
                    status_reason(*status),
                    op.describe(),
                    tries_text(*tries)
                )?;
                if *status == 429 {
                    write!(f, ": rate limited; try again later")?;
                }
                // The same 500 on every try for one policy is an answer about the policy,
                // not an outage: some policies always get one (a nodeAttrs target of
                // autogroup:self, in the recorded captures).
                if *status == 500 && *tries > 1 && matches!(op, Op::ValidatePolicy | Op::SetPolicy)
                {
                    write!(
                        f,
                        ": the server fails on this policy every time, so it is most likely rejecting \
                         something in it rather than down (`tsacl check` names what it knows; for example \
                         autogroup:self as a nodeAttrs target gets 500)"
                    )?;
                }
                if !message.is_empty() {
                    write!(f, "; the server said: {message}")?;
                }
                Ok(())
            }
            ApiError::Timeout { host, op, after } => write!(
                f,
                "{host} did not answer within {} when asked to {}; raise --timeout or TS_API_TIMEOUT",
                human(*after),
                op.describe()
            ),
            ApiError::Dns { host } => write!(
                f,
                "cannot resolve the host {host} (DNS lookup failed); check TS_API_URL and the network"
            ),
            ApiError::Tls { host, detail } => {
                write!(f, "TLS with {host} failed: {detail}")
            }
            ApiError::Connect { host, detail } => {
                write!(f, "cannot connect to {host}: {detail}")
            }
            ApiError::Dropped { host, op, tries } => write!(
                f,
                "{host} closed the connection without an answer when asked to {}{}",
                op.describe(),
                tries_text(*tries)
            ),
            ApiError::Other { host, op, detail } => {
                write!(f, "talking to {host} to {} failed: {detail}", op.describe())
            }
            ApiError::LocalWrite { detail } => write!(f, "cannot write the answer: {detail}"),
        }
    }
}

impl std::error::Error for ApiError {}
