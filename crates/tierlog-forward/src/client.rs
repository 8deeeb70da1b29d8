//! Sending one remote-write request over HTTP(S) (`ureq`, TLS by rustls) and classifying
//! the answer: delivered, worth retrying, or refused for good.

use std::time::Duration;

use base64::Engine;

/// Credentials sent with every request.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// None.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        match self {
            Auth::None => write!(f, "None"),
            Auth::Bearer(_) => write!(f, "Bearer(..)"),
            Auth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, .. }}"),
        }
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer: the receiver took the batch.
    Delivered,
    /// Worth trying again (5xx, 429, no connection, timeout); `reason` is the failure's
    /// name in the stats (`http_503`, `http_429`, `connection`).
    Retry {
        /// Failure name.
        reason: String,
        /// What went wrong, for the log.
        detail: String,
    },
    /// Refused for good (a 4xx other than 429): the batch is dropped.
    Refused {
        /// HTTP status.
        status: u16,
        /// The start of the receiver's answer, for the log.
        detail: String,
    },
}

/// An HTTP client for one remote-write URL.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    auth: Option<String>,
}

impl Client {
    /// A client posting to `url` with the given timeouts (connect; whole request).
    pub fn new(url: &str, auth: &Auth, connect_timeout: Duration, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .user_agent(concat!("tierlog/", env!("CARGO_PKG_VERSION")))
            // Statuses are classified below, not turned into errors.
            .http_status_as_error(false)
            .build()
            .into();
        let auth = match auth {
            Auth::None => None,
            Auth::Bearer(t) => Some(format!("Bearer {}", t.trim())),
            Auth::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
        };
        Client {
            agent,
            url: url.to_owned(),
            auth,
        }
    }

    /// Posts one snappy-compressed `WriteRequest` body.
    pub fn send(&self, body: &[u8]) -> Outcome {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        match req.send(body) {
            Ok(resp) if resp.status().is_success() => Outcome::Delivered,
            Ok(resp) => {
                let status = resp.status().as_u16();
                let detail = answer_text(resp);
                if status == 429 || status >= 500 {
                    Outcome::Retry {
                        reason: format!("http_{status}"),
                        detail: format!("HTTP {status}: {detail}"),
                    }
                } else {
                    Outcome::Refused { status, detail }
                }
            }
            Err(e) => Outcome::Retry {
                reason: "connection".into(),
                detail: e.to_string(),
            },
        }
    }
}

/// The first 512 bytes of an answer's body, as text on one line.
fn answer_text(mut resp: ureq::http::Response<ureq::Body>) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    let _ = resp.body_mut().as_reader().take(512).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().replace('\n', " ")
}
