//! The one error shape of the HTTP API: a status and `{"error": code, "reason": text}`, so hooks, the
//! viewer and scripts can all branch on `error` and show `reason`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_mem_core::storage::StorageError;
use claude_mem_core::{HookEventError, StoreError};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub reason: String,
    /// The input field at fault (a setting's dotted key), so a form can show the reason beside it.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: reason.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    pub fn bad_request(code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.field {
            Some(field) => json!({ "error": self.code, "reason": self.reason, "field": field }),
            None => json!({ "error": self.code, "reason": self.reason }),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<HookEventError> for ApiError {
    fn from(e: HookEventError) -> Self {
        let status = if e.is_syntax_error() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        Self::new(status, e.code(), e.to_string())
    }
}

/// A backend's failure, whichever backend: the kind decides the status.
impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            // A team server's refusal (another team's rows, a request with no team): the caller's
            // mistake, not the server's trouble.
            StorageError::Forbidden(reason) => {
                tracing::warn!(reason = %reason, "request refused");
                Self::new(StatusCode::FORBIDDEN, "forbidden", reason)
            }
            StorageError::NotFound(reason) => Self::not_found(reason),
            StorageError::Invalid(reason) => Self::bad_request("invalid_request", reason),
            StorageError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the worker is shutting down",
            ),
            // 507, not a generic 503: a retry cannot succeed until the user frees space, and the hook
            // runner and the viewer can say exactly that.
            StorageError::DiskFull(detail) => {
                tracing::error!(error = %detail, "disk full");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "disk_full",
                    format!(
                        "the disk holding the claude-mem data directory is full; nothing was stored. \
                         Free some space and capture resumes on its own ({detail})"
                    ),
                )
            }
            StorageError::Backend(detail) => {
                tracing::error!(error = %detail, "store error");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    detail,
                )
            }
        }
    }
}

/// The SQLite store's own calls (admin, export, health) answer like any backend's.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        StorageError::from(e).into()
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "unreadable_body"
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request("invalid_query", rejection.body_text())
    }
}

/// Unknown routes: the viewer's files for a browser's GET, else a JSON 404 instead of axum's empty one.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        if let Some(page) = crate::viewer::serve(&uri) {
            return page;
        }
    }
    ApiError::not_found("no such endpoint").into_response()
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
