//! The API token on every request the CLI sends to the worker (see `claude_mem_server::auth`): the
//! worker refuses memory routes without it, loopback included.

use claude_mem_core::DataDir;
use std::time::Duration;
use ureq::http::{header, HeaderValue};

/// `Bearer <token>` from `$CLAUDE_MEM_API_TOKEN` or the data directory's `api-token` file.
pub(crate) fn authorization(data_dir: Option<&DataDir>) -> Option<String> {
    match data_dir {
        Some(dir) => claude_mem_server::auth::client_authorization(dir),
        None => DataDir::resolve()
            .ok()
            .and_then(|dir| claude_mem_server::auth::client_authorization(&dir)),
    }
}

/// An agent for the worker: status codes are answers, not errors, and every request carries the token
/// (read once, when the agent is made).
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    let auth = authorization(None).and_then(|v| HeaderValue::from_str(&v).ok());
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .middleware(
            move |mut request: ureq::http::Request<ureq::SendBody>,
                  next: ureq::middleware::MiddlewareNext| {
                if let Some(value) = &auth {
                    if !request.headers().contains_key(header::AUTHORIZATION) {
                        request
                            .headers_mut()
                            .insert(header::AUTHORIZATION, value.clone());
                    }
                }
                next.handle(request)
            },
        )
        .build()
        .into()
}
