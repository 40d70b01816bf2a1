//! Rate limits: a token bucket per token id for every request that presents a valid token (Bearer, or HTTP Basic
//! with the token as password, as TAXII clients send it), and one per client address (an IPv6 client: its /64) for
//! requests without one — so guessing tokens is limited too. Behind a trusted reverse proxy
//! (`http.trusted_proxies`), the client address is the one the proxy names ([`super::forwarded`]). A request over its rate is answered 429 with
//! `Retry-After` (seconds until the bucket holds a request again) before any work is done for it: a problem
//! document on the API, a TAXII error message under `/taxii2/`.
//!
//! The operational endpoints (`/healthz`, `/readyz`, `/metrics`) are not limited: probes and scrapers must keep
//! answering while a client is being held back, and they cost next to nothing.
//!
//! Buckets live in memory, one process each (a deployment of several gateway processes allows each token the rate
//! once per process). At most [`MAX_BUCKETS`] are kept: when full, buckets that have refilled (and are therefore
//! the same as no bucket) are dropped, and if that is not enough the newcomers share one bucket, so an attacker with
//! many addresses cannot grow the table, only slow the addresses that are new to it.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{HttpConfig, connections::client_key, forwarded::TrustedProxies};
use crate::{ApiError, Authenticator, metrics as names, taxii};

/// The most buckets kept (tokens and client addresses together).
pub const MAX_BUCKETS: usize = 100_000;

/// Paths never limited.
const UNLIMITED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Who a bucket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A token, by id.
    Token(String),
    /// A client address without a valid token.
    Address(IpAddr),
    /// Newcomers while the table is full.
    Overflow,
}

/// A rate: requests per second and the burst allowed after a quiet period.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    burst: f64,
}

impl Rate {
    fn new(per_second: u32, burst: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets, and when refilled ones were last dropped.
#[derive(Debug, Default)]
struct Table {
    buckets: HashMap<Key, Bucket>,
    last_pruned: Option<Instant>,
}

/// The rate limits of one HTTP server.
#[derive(Debug)]
pub struct RateLimiter {
    per_token: Option<Rate>,
    per_address: Option<Rate>,
    /// How long the slower bucket takes to refill from empty: a bucket untouched for that long is as good as none.
    refill: Duration,
    auth: Authenticator,
    /// Whose `X-Forwarded-For` names the client.
    proxies: TrustedProxies,
    table: Mutex<Table>,
}

impl RateLimiter {
    /// Returns the limiter of `config`, resolving tokens with `auth`.
    pub fn new(config: &HttpConfig, auth: Authenticator) -> Self {
        let per_token = Rate::new(config.rate_limit_per_second, config.rate_limit_burst);
        let per_address = Rate::new(
            config.anonymous_rate_limit_per_second,
            config.anonymous_rate_limit_burst,
        );
        let refill = [per_token, per_address]
            .into_iter()
            .flatten()
            .map(|rate| Duration::from_secs_f64(rate.burst / rate.per_second))
            .max()
            .unwrap_or_default();
        Self {
            per_token,
            per_address,
            refill,
            auth,
            proxies: TrustedProxies::new(&config.trusted_proxies),
            table: Mutex::default(),
        }
    }

    /// Takes one request from `key`'s bucket at `now`; `Err` carries how long until one is available.
    fn take(&self, key: Key, rate: Rate, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if table.buckets.contains_key(&key) || table.make_room(self.refill, now) {
            key
        } else {
            Key::Overflow
        };
        let bucket = table.buckets.entry(key).or_insert(Bucket {
            tokens: rate.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - bucket.tokens) / rate.per_second,
        ))
    }

    /// Returns whose bucket a request draws from and at which rate: its token's when it presents a valid one, else
    /// its client address's; `None` when that kind of limit is off (or the address is unknown, in-process calls).
    fn key_of(&self, request: &Request) -> Option<(Key, Rate, &'static str)> {
        let principal = taxii::presented_token(request.headers())
            .and_then(|token| self.auth.authenticate(&token).ok());
        if let Some(principal) = principal {
            return Some((Key::Token(principal.token_id), self.per_token?, "token"));
        }
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()?
            .0
            .ip();
        let address = self.proxies.client(peer, request.headers());
        Some((
            Key::Address(client_key(address)),
            self.per_address?,
            "address",
        ))
    }
}

impl Table {
    /// Returns whether there is room for one more bucket; when the table is full, first drops the buckets that have
    /// refilled (untouched for `refill`), at most once a second so that a full table costs no more than a lookup.
    fn make_room(&mut self, refill: Duration, now: Instant) -> bool {
        if self.buckets.len() < MAX_BUCKETS {
            return true;
        }
        if self
            .last_pruned
            .is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(1))
        {
            return false;
        }
        self.last_pruned = Some(now);
        self.buckets.retain(|key, bucket| {
            *key == Key::Overflow || now.saturating_duration_since(bucket.updated) < refill
        });
        self.buckets.len() < MAX_BUCKETS
    }
}

/// The middleware: answers 429 with `Retry-After` when the caller is over its rate, else passes the request on.
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if UNLIMITED_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let Some((key, rate, kind)) = limiter.key_of(&request) else {
        return next.run(request).await;
    };
    let Err(wait) = limiter.take(key, rate, Instant::now()) else {
        return next.run(request).await;
    };
    metrics::counter!(names::HTTP_RATE_LIMITED, "by" => kind).increment(1);
    // Whole seconds, rounded up: a client that waits that long finds a request in its bucket.
    let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let retry_after = retry_after.max(1);
    if path.starts_with("/taxii2/") {
        return taxii::TaxiiError::TooManyRequests { retry_after }.into_response();
    }
    ApiError::TooManyRequests { retry_after }.into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Directory;

    fn limiter(per_second: u32, burst: u32) -> RateLimiter {
        let config = HttpConfig {
            rate_limit_per_second: per_second,
            rate_limit_burst: burst,
            ..HttpConfig::default()
        };
        RateLimiter::new(
            &config,
            Authenticator::new(Arc::new(Directory::new()), None),
        )
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let limiter = limiter(10, 3);
        let rate = limiter.per_token.unwrap();
        let start = Instant::now();
        let key = || Key::Token("tok-a".to_owned());
        for _ in 0..3 {
            assert!(limiter.take(key(), rate, start).is_ok());
        }
        let wait = limiter.take(key(), rate, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // Another token is not affected.
        assert!(
            limiter
                .take(Key::Token("tok-b".to_owned()), rate, start)
                .is_ok()
        );
        // A tenth of a second later, one more request fits, and only one.
        let later = start + Duration::from_millis(100);
        assert!(limiter.take(key(), rate, later).is_ok());
        assert!(limiter.take(key(), rate, later).is_err());
        // After a quiet period the bucket holds its burst again, never more.
        let quiet = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.take(key(), rate, quiet).is_ok());
        }
        assert!(limiter.take(key(), rate, quiet).is_err());
    }

    #[test]
    fn a_full_table_drops_refilled_buckets_and_then_shares_one() {
        let limiter = limiter(1_000, 1);
        let rate = limiter.per_token.unwrap();
        let start = Instant::now();
        for n in 0..MAX_BUCKETS {
            let key = Key::Token(format!("tok-{n}"));
            assert!(limiter.take(key, rate, start).is_ok());
        }
        // Every bucket is empty (burst 1): a newcomer shares the overflow bucket.
        assert!(
            limiter
                .take(Key::Token("new-1".to_owned()), rate, start)
                .is_ok()
        );
        assert!(
            limiter
                .take(Key::Token("new-2".to_owned()), rate, start)
                .is_err()
        );
        // Once they have refilled they are dropped (at most once a second) and a newcomer gets its own.
        let later = start + Duration::from_secs(10);
        assert!(
            limiter
                .take(Key::Token("new-3".to_owned()), rate, later)
                .is_ok()
        );
        let table = limiter.table.lock().unwrap();
        assert!(table.buckets.len() < 10, "{}", table.buckets.len());
    }
}
