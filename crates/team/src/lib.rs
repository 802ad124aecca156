//! Team mode: the worker on a shared PostgreSQL database.
//!
//! The same processor as the laptop (through [`claude_mem_core::Storage`]) drives a PostgreSQL queue
//! that several stateless replicas share; full text is PostgreSQL's (tsvector + GIN); vectors live in the
//! table (`real[]`, or pgvector where installed) and each replica keeps its own hnsw_rs graph current
//! through LISTEN/NOTIFY. Every row is owned by a user and a team, and every read is scoped to the
//! caller's team.

pub mod auth;
pub mod error;
pub mod migrate;
pub mod pg_cluster;
pub mod pg_store;
pub mod search;
pub mod server;
pub mod vectors;

#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod tests;

pub use auth::{NewToken, Owner, TokenInfo, UserInfo};
pub use error::TeamError;
pub use pg_store::PgStore;
pub use server::{TeamConfig, TeamWorker};

/// True for the URLs team mode takes (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
