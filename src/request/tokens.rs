//! Access tokens: a static bearer token, or Server-to-Server OAuth with one shared token.
//!
//! Zoom's S2S OAuth has no refresh token: a new token is asked for with the account's client
//! credentials. Asking per request is both slow and harmful (persistent 401s after many concurrent
//! token requests, devforum 94662), so one [`TokenSource`] serves every worker:
//! - the token is renewed ahead of expiry (a tenth of its life, at most a minute, early);
//! - a call answered with code 124 renews it once: [`TokenSource::renew`] takes the generation of
//!   the token the caller used, and only the first caller with that generation fetches — the rest
//!   wait on the same lock and then find the new token (single flight, whatever the worker count);
//! - the granted `scope` is kept so the run can check it before the first call.
//!
//! Secrets stay in [`SecretString`]; nothing here formats them.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;

use super::{Context, RetryPolicy, Settled, Verdict, drive};
use crate::zoom::oauth::{Grant, Refusal, post_for_token};
pub use crate::zoom::oauth::{S2sCredentials, Token};

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint refused the credentials (wrong account id, client id or secret).
    #[error("the token endpoint {url} refused the credentials: {reason} ({error})")]
    Rejected {
        /// Token endpoint.
        url: String,
        /// Zoom's `reason`.
        reason: String,
        /// Zoom's `error`, e.g. `invalid_client`.
        error: String,
    },
    /// The token endpoint could not be reached or answered nonsense, after retries.
    #[error("could not get a token from {url}: {detail}")]
    Unavailable {
        /// Token endpoint.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A static `ZOOM_ACCESS_TOKEN` was rejected; it cannot be renewed.
    #[error(
        "the access token from ZOOM_ACCESS_TOKEN was rejected ({0}); it cannot be renewed: \
         set a fresh one, or use Server-to-Server OAuth credentials"
    )]
    StaticRejected(String),
}

struct Cached {
    secret: SecretString,
    generation: u64,
    renew_at: Instant,
    scopes: Option<Vec<String>>,
}

enum Kind {
    Static(SecretString),
    S2s {
        creds: S2sCredentials,
        url: String,
        http: reqwest::Client,
    },
}

/// The one source of access tokens for a process.
pub struct TokenSource {
    kind: Kind,
    /// The current S2S token; `None` before the first fetch. The lock is held across a fetch,
    /// which is what makes renewal single-flight.
    current: Mutex<Option<Cached>>,
    /// Number of tokens fetched, for the summary and tests.
    fetched: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Static(_) => f.write_str("TokenSource::Static((redacted))"),
            Kind::S2s { creds, url, .. } => f
                .debug_struct("TokenSource::S2s")
                .field("creds", creds)
                .field("url", url)
                .finish(),
        }
    }
}

impl TokenSource {
    /// A static bearer token (`ZOOM_ACCESS_TOKEN`), used as is and never renewed.
    pub fn from_static(token: SecretString) -> TokenSource {
        TokenSource {
            kind: Kind::Static(token),
            current: Mutex::new(None),
            fetched: 0.into(),
        }
    }

    /// Server-to-Server OAuth against `url` (normally `https://zoom.us/oauth/token`).
    pub fn s2s(creds: S2sCredentials, url: String, http: reqwest::Client) -> TokenSource {
        TokenSource {
            kind: Kind::S2s { creds, url, http },
            current: Mutex::new(None),
            fetched: 0.into(),
        }
    }

    /// True when tokens can be renewed (S2S), false for a static token.
    pub fn renewable(&self) -> bool {
        matches!(self.kind, Kind::S2s { .. })
    }

    /// How many tokens were fetched from the token endpoint.
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token valid for a while yet; fetches or renews it when needed.
    pub async fn token(&self) -> Result<Token, AuthError> {
        let (creds, url, http) = match &self.kind {
            Kind::Static(t) => {
                return Ok(Token {
                    secret: t.clone(),
                    generation: 0,
                });
            }
            Kind::S2s { creds, url, http } => (creds, url, http),
        };
        let mut cur = self.current.lock().await;
        if let Some(c) = cur.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(Token {
                secret: c.secret.clone(),
                generation: c.generation,
            });
        }
        let next_gen = cur.as_ref().map_or(1, |c| c.generation + 1);
        let fresh = self.fetch(creds, url, http, next_gen).await?;
        let token = Token {
            secret: fresh.secret.clone(),
            generation: fresh.generation,
        };
        *cur = Some(fresh);
        Ok(token)
    }

    /// Renews after a call with the token of generation `used` was answered code 124.
    /// Only the first caller for a generation fetches; later ones get the already-new token.
    pub async fn renew(&self, used: u64) -> Result<Token, AuthError> {
        if let Kind::Static(_) = self.kind {
            return Err(AuthError::StaticRejected("code 124".into()));
        }
        {
            let mut cur = self.current.lock().await;
            if let Some(c) = cur.as_mut()
                && c.generation == used
            {
                // Force the next `token()` to fetch, while still holding the lock.
                c.renew_at = Instant::now();
            }
        }
        self.token().await
    }

    /// The scopes granted to the current token, if the endpoint said (S2S only).
    pub async fn granted_scopes(&self) -> Option<Vec<String>> {
        self.current
            .lock()
            .await
            .as_ref()
            .and_then(|c| c.scopes.clone())
    }

    /// Fetches a token: one POST to the token endpoint through the request policy (its own
    /// retries and backoff), the answer read into a [`Cached`] token or an [`AuthError`].
    async fn fetch(
        &self,
        creds: &S2sCredentials,
        url: &str,
        http: &reqwest::Client,
        generation: u64,
    ) -> Result<Cached, AuthError> {
        let policy = RetryPolicy::token_endpoint();
        let settled = drive(Context::bare(&policy), || async {
            Ok(post_for_token(http, url, creds).await)
        })
        .await;
        let parsed = token_answer(settled, url)?;
        let life = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let margin = (life / 10).min(Duration::from_secs(60));
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(
            generation,
            expires_in = life.as_secs(),
            "fetched an access token"
        );
        Ok(Cached {
            secret: SecretString::from(parsed.access_token),
            generation,
            renew_at: Instant::now() + life - margin,
            scopes: parsed
                .scope
                .map(|s| s.split_whitespace().map(str::to_string).collect()),
        })
    }
}

/// What the token endpoint's last answer comes to: a token response, the credentials refused
/// (with OAuth's reason), or the endpoint unavailable.
fn token_answer(settled: Settled, url: &str) -> Result<Grant, AuthError> {
    let unavailable = |detail: String| AuthError::Unavailable {
        url: url.to_string(),
        detail,
    };
    match settled.verdict {
        Verdict::Done { .. } => serde_json::from_slice(&settled.body)
            .map_err(|e| unavailable(format!("the answer is not a Zoom token response: {e}"))),
        Verdict::Rejected(info) => {
            let err: Refusal = serde_json::from_slice(&settled.body).unwrap_or_default();
            Err(AuthError::Rejected {
                url: url.to_string(),
                reason: err
                    .reason
                    .map(|r| crate::zoom::classify::truncate(&r, 200))
                    .unwrap_or_else(|| info.message.clone()),
                error: err
                    .error
                    .map(|r| crate::zoom::classify::truncate(&r, 100))
                    .unwrap_or_else(|| "unknown".into()),
            })
        }
        Verdict::GaveUp(info) | Verdict::NotFound(info) | Verdict::Halted(Some(info)) => {
            Err(unavailable(info.message))
        }
        Verdict::Halted(None) | Verdict::Interrupted => Err(unavailable("stopped".into())),
    }
}
