//! `claude-mem retry --all | --id N`: puts events the compressor gave up on (parked as `failed`) back in
//! the queue, e.g. after fixing an API key.
//!
//! With a worker running, the worker does it (`POST /api/admin/retry`) and compresses them at once;
//! otherwise the CLI requeues them in the database itself and the next worker start picks them up.

use crate::portability_cmd::{locate, post_json, running_worker, runtime};
use anyhow::bail;
use claude_mem_core::Store;
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["all", "id"]))]
pub struct RetryArgs {
    /// Retry every parked event.
    #[arg(long)]
    all: bool,
    /// Retry one parked event, by its id (`pending_messages.id`, as the viewer and the logs show it).
    #[arg(long, value_name = "N")]
    id: Option<i64>,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: RetryArgs) -> anyhow::Result<()> {
    let (dir, settings) = locate()?;
    let body = match args.id {
        Some(id) => json!({ "id": id }),
        None => json!({ "all": true }),
    };
    let (outcome, live): (Value, bool) = if let Some(base) = running_worker(&settings) {
        (post_json(&base, "/api/admin/retry", &body)?, true)
    } else {
        let db = dir.database();
        if !db.exists() {
            bail!(
                "there is no database at {} (nothing was ever parked)",
                db.display()
            );
        }
        let outcome = runtime()?.block_on(async {
            let store = Store::open(&db).await?;
            let result = offline(&store, args.id).await;
            store.close().await;
            result
        })?;
        (outcome, false)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    let n = outcome["requeued"].as_u64().unwrap_or(0);
    let left = outcome["parked"].as_u64().unwrap_or(0);
    match (n, live) {
        (0, _) => println!("Nothing to retry: no event is parked."),
        (n, true) => println!("Requeued {n} parked event(s); the worker is compressing them now."),
        (n, false) => println!(
            "Requeued {n} parked event(s); they are compressed when the worker next starts."
        ),
    }
    if left > 0 {
        println!("{left} event(s) are still parked.");
    }
    Ok(())
}

/// The same checks and the same answer as the endpoint, on a store the CLI opened.
async fn offline(store: &Store, id: Option<i64>) -> anyhow::Result<Value> {
    if let Some(id) = id {
        match store.event_state(id).await?.as_deref() {
            None => bail!("there is no event {id}"),
            Some("failed") => {}
            Some(other) => bail!("event {id} is not parked (it is {other})"),
        }
    }
    let requeued = store.requeue_failed(id).await?;
    let parked = store.parked_count().await?;
    Ok(json!({ "requeued": requeued, "parked": parked }))
}
