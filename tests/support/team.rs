//! Team-mode helpers shared by the tests that run a team server: a private PostgreSQL, the
//! `claude-mem team` CLI, a member's token and the team worker.

use crate::{Sandbox, Worker};
use claude_mem_team::pg_cluster::TempCluster;
use serde_json::Value;

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh PostgreSQL server and one empty database on it (the cluster handle keeps the server up).
pub fn database(name: &str) -> (TempCluster, String) {
    let cluster =
        TempCluster::start().expect("start a private PostgreSQL (apt-get install postgresql)");
    let url = runtime()
        .block_on(cluster.create_database(name))
        .expect("create database");
    (cluster, url)
}

/// Runs `claude-mem team …` against `url`; panics with its output when it fails.
pub fn team_cli(sandbox: &Sandbox, url: &str, args: &[&str]) -> String {
    let out = sandbox
        .command()
        .arg("team")
        .args(args)
        .args(["--database", url])
        .output()
        .expect("run claude-mem team");
    assert!(
        out.status.success(),
        "claude-mem team {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates the team (if `new_team`) and a user in it; returns the user's token.
pub fn user_token(sandbox: &Sandbox, url: &str, team: &str, user: &str, new_team: bool) -> String {
    if new_team {
        team_cli(sandbox, url, &["create-team", team]);
    }
    let out = team_cli(
        sandbox,
        url,
        &["add-user", "--team", team, "--user", user, "--json"],
    );
    let answer: Value = serde_json::from_str(out.trim()).expect("add-user --json prints JSON");
    assert_eq!(answer["team"], team, "{answer}");
    let token = answer["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("cm_"), "{token}");
    token
}

/// A team worker on `url`: events compressed at once, the hashing embedder (deterministic and the same
/// on every replica: no model files needed).
pub fn team_worker(sandbox: &Sandbox, url: &str) -> Worker {
    Worker::start_with(
        sandbox,
        &[
            ("CLAUDE_MEM_DATABASE_URL", url),
            ("CLAUDE_MEM_BATCH_LINGER_MS", "0"),
            ("CLAUDE_MEM_EMBEDDER", "hash"),
        ],
    )
}
