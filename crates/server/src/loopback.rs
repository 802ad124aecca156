//! Whether a host names this machine's loopback (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`): the
//! local guard (`crate::local_guard`) accepts such a `Host`, the token check (`crate::auth`) decides
//! from it whether a bind address is exposed, and the router (`crate::routes`) which extra host to
//! allow. Pure string checks, importing nothing from the crate.

use std::net::IpAddr;

/// The host of a `Host` header value (`name[:port]`, `[v6]:port`), without the port.
pub fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Whether a `Host` header value (`name[:port]`) names this machine's loopback.
pub fn is_loopback_authority(authority: &str) -> bool {
    is_loopback_host(host_part(authority.trim()))
}

pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_authorities() {
        assert!(is_loopback_authority("127.0.0.1:37777"));
        assert!(!is_loopback_authority("evil.com:37777"));
    }
}
