//! Per-client rate limit: a token bucket (GCRA, from `governor`) per peer IP address.
//!
//! It exists to stop a runaway or hostile network client from starving the hooks, not to meter normal
//! use, so the defaults are far above anything Claude Code sends, and loopback peers (this machine's own
//! hooks, CLI and viewer) are exempt unless `security.rate_limit_loopback` is set.

use crate::api_error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use claude_mem_core::settings::SecuritySettings;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Every this many checks, buckets that have refilled completely are dropped, so a stream of distinct
/// addresses cannot grow the table without bound.
const PRUNE_EVERY: u64 = 4096;

#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    include_loopback: bool,
    checks: Arc<AtomicU64>,
}

impl RateLimit {
    pub fn new(settings: &SecuritySettings) -> Self {
        // Validation already refuses zeros; `MIN` keeps a hand-built settings value from panicking.
        let rate = NonZeroU32::new(settings.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            clock: DefaultClock::default(),
            include_loopback: settings.rate_limit_loopback,
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// `Ok` to serve, or the whole seconds the client should wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if ip.is_loopback() && !self.include_loopback {
            return Ok(());
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Round up: a client that retries after the header's value must find a token.
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

pub async fn limit(State(limit): State<RateLimit>, request: Request, next: Next) -> Response {
    // An in-process router has no peer address; it shares one bucket rather than escaping the limit.
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
    match limit.check(ip) {
        Ok(()) => next.run(request).await,
        Err(wait_s) => {
            let wait_s = wait_s.max(1);
            tracing::warn!(client = %ip, path = %request.uri().path(), "rate limit exceeded");
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from {ip}; retry in {wait_s} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait_s));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: u32, burst: u32, loopback: bool) -> SecuritySettings {
        SecuritySettings {
            rate_limit_per_second: rate,
            rate_limit_burst: burst,
            rate_limit_loopback: loopback,
            ..SecuritySettings::default()
        }
    }

    #[test]
    fn a_burst_past_the_bucket_is_refused_with_a_wait() {
        let limit = RateLimit::new(&settings(1, 3, false));
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limit.check(remote), Ok(()));
        }
        let wait = limit.check(remote).unwrap_err();
        assert!((1..=1).contains(&wait), "{wait}");
        // Buckets are per address.
        assert_eq!(limit.check("192.0.2.8".parse().unwrap()), Ok(()));
    }

    #[test]
    fn loopback_is_exempt_unless_asked() {
        let exempt = RateLimit::new(&settings(1, 1, false));
        for _ in 0..100 {
            assert_eq!(exempt.check(IpAddr::V4(Ipv4Addr::LOCALHOST)), Ok(()));
        }
        let strict = RateLimit::new(&settings(1, 1, true));
        assert_eq!(strict.check(IpAddr::V4(Ipv4Addr::LOCALHOST)), Ok(()));
        assert!(strict.check(IpAddr::V4(Ipv4Addr::LOCALHOST)).is_err());
    }
}
