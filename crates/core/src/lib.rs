//! The GUI-free core of claude-mem. Everything here runs headless (the `serve` command, CI, servers)
//! and is shared by the desktop shell, so nothing in this crate may depend on a GUI or an HTTP server.

pub mod capture;
/// The clock lives with the wire (`claude-mem-api`), whose clients need it without the rest of core.
pub use claude_mem_api::clock;
pub mod compress;
pub mod context;
pub mod hook_event;
pub mod legacy_import;
pub mod limits;
pub mod model;
pub mod paths;
pub mod processor;
pub mod project;
pub mod settings;
pub mod spool;
pub mod storage;
pub mod store;

pub use hook_event::{HookEvent, HookEventError};
pub use paths::DataDir;
pub use settings::{Settings, SettingsError};
pub use storage::Storage;
pub use store::{IngestOutcome, Store, StoreError};

/// Stamped into `/api/health` and the CLI so a user can tell which build answered.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
