//! `claude-mem search`, `claude-mem reindex` and `claude-mem models install|download`: thin clients of
//! the running worker (which owns the indexes), plus the model installer and downloader.

use anyhow::{bail, Context};
use claude_mem_core::{DataDir, Settings};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for: words, identifiers, paths, "quoted phrases".
    query: String,
    /// hybrid (default), text or vector.
    #[arg(long, default_value = "hybrid")]
    mode: String,
    #[arg(long)]
    project: Option<String>,
    /// decision, bugfix, feature, refactor, discovery or change (observations only).
    #[arg(long = "type")]
    kind: Option<String>,
    /// What to search: observation (the default), summary (session summaries), prompt (what you typed),
    /// or all; several comma-separated (summary,prompt).
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Option<String>,
    /// Only observations that read or modified this file: a path or its trailing part (src/store/db.rs,
    /// store/db.rs, db.rs; an absolute path matches the project-relative one).
    #[arg(long)]
    file: Option<String>,
    /// relevance (best first, the default) or newest (newest first among the relevant hits).
    #[arg(long, value_parser = ["relevance", "newest"])]
    order: Option<String>,
    /// Only memories newer than this: epoch ms or 30m / 12h / 7d / 2w.
    #[arg(long)]
    since: Option<String>,
    /// Only memories up to this moment, in the same forms as --since.
    #[arg(long)]
    until: Option<String>,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Hits to skip: the next page of the same ranking.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Relevance (0..1) under which hits are left out; default: the worker's floor (0.3 in hybrid and
    /// vector modes, none in text mode).
    #[arg(long)]
    min_score: Option<f32>,
    /// Print the worker's JSON answer.
    #[arg(long)]
    json: bool,
}

fn worker_url() -> anyhow::Result<String> {
    let dir = DataDir::resolve().context("cannot locate the data directory")?;
    Ok(Settings::load_effective(&dir.settings())?.worker_url())
}

fn agent(timeout: Duration) -> ureq::Agent {
    crate::worker_auth::agent(timeout)
}

fn get_json(agent: &ureq::Agent, url: &str) -> anyhow::Result<Value> {
    let mut response = agent.get(url).call().with_context(|| {
        format!("the worker is not reachable at {url} (is `claude-mem serve` running?)")
    })?;
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .context("the worker answered something that is not JSON")?;
    if !status.is_success() {
        bail!(
            "{}: {}",
            body["error"].as_str().unwrap_or("error"),
            body["reason"].as_str().unwrap_or("")
        );
    }
    Ok(body)
}

pub fn search(args: SearchArgs) -> anyhow::Result<()> {
    // The team server after `install --server`, else this machine's worker: never one for the other.
    let (_, endpoint) = crate::client_config::resolve()?;
    let client = claude_mem_api::blocking::Client::new(endpoint, Duration::from_secs(30));
    let query = claude_mem_api::wire::SearchQuery {
        q: args.query.clone(),
        mode: Some(args.mode.clone()),
        project: args.project.clone(),
        kind: args.kind.clone(),
        memories: args.kinds.clone(),
        file: args.file.clone(),
        order: args.order.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        limit: u32::try_from(args.limit).unwrap_or(u32::MAX),
        offset: Some(u32::try_from(args.offset).unwrap_or(u32::MAX)),
        min_score: args.min_score,
    };
    let body = client.get("/api/search", Some(&query))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let results = body["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        println!(
            "nothing relevant to {:?} (try other words, --mode text, or a lower --min-score)",
            args.query
        );
        return Ok(());
    }
    println!(
        "{:>6}  {:<9}  {:<16}  {:>5}  title",
        "id", "type", "project", "score"
    );
    for r in &results {
        let (id, kind, project, title) = result_columns(r);
        let title: String = title.chars().take(80).collect();
        let project: String = project.chars().take(16).collect();
        println!(
            "{:>6}  {:<9}  {:<16}  {:>5.2}  {}",
            id,
            kind,
            project,
            r["score"].as_f64().unwrap_or(0.0),
            title
        );
    }
    println!(
        "\n{} result(s), {} mode, {:.1} ms (+{:.1} ms to embed the query)",
        results.len(),
        body["mode"].as_str().unwrap_or(""),
        body["search_ms"].as_f64().unwrap_or(0.0),
        body["embed_ms"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

/// A result's id, type column, project and title: an observation's own, a summary's request (or what
/// it completed), a prompt's text on one line. A result without `kind` comes from a worker that only
/// searched observations.
fn result_columns(r: &Value) -> (String, String, String, String) {
    let kind = r["kind"].as_str().unwrap_or("observation");
    let row = &r[kind];
    let text = |key: &str| row[key].as_str().unwrap_or("").to_owned();
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (kind_column, title) = match kind {
        "summary" => {
            let request = text("request");
            let title = if request.trim().is_empty() {
                text("completed")
            } else {
                request
            };
            ("summary".to_owned(), title)
        }
        "prompt" => ("prompt".to_owned(), text("prompt")),
        _ => (text("type"), text("title")),
    };
    (
        row["id"].to_string(),
        kind_column,
        text("project"),
        one_line(title),
    )
}

pub fn reindex() -> anyhow::Result<()> {
    let (dir, settings) = crate::portability_cmd::locate()?;
    if crate::portability_cmd::running_worker(&settings).is_none() {
        return reindex_offline(&dir, &settings);
    }
    let base = worker_url()?;
    let agent = agent(Duration::from_secs(60));
    let mut response = agent
        .post(&format!("{base}/api/reindex"))
        .send_json(serde_json::json!({}))
        .with_context(|| {
            format!("the worker is not reachable at {base} (is `claude-mem serve` running?)")
        })?;
    let body: Value = response.body_mut().read_json()?;
    if !response.status().is_success() {
        bail!(
            "{}: {}",
            body["error"].as_str().unwrap_or("error"),
            body["reason"].as_str().unwrap_or("")
        );
    }
    let until = body["until_id"].as_u64().unwrap_or(0);
    let bar = indicatif::ProgressBar::new(until.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} reindexing [{bar:40}] {pos}/{len} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let health = get_json(&agent, &format!("{base}/api/health"))?;
        let index = &health["index"];
        bar.set_position(index["last_indexed_id"].as_u64().unwrap_or(0).min(until));
        if index["state"] == "ready" && index["last_indexed_id"].as_u64().unwrap_or(0) >= until {
            bar.finish_and_clear();
            println!(
                "reindexed: {} documents, {} vectors ({})",
                index["documents"],
                index["vectors"],
                index["embedder"].as_str().unwrap_or("")
            );
            return Ok(());
        }
        if let Some(err) = index["last_error"].as_str() {
            bar.println(format!("warning: {err}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `reindex` with the worker stopped: the indexes are rebuilt here from SQLite. Opening them takes the
/// index lock the worker takes, so a worker started meanwhile runs without search (and says so) instead
/// of rebuilding under us; a damaged index (the reason to reindex) is thrown away first, never read.
fn reindex_offline(dir: &DataDir, settings: &Settings) -> anyhow::Result<()> {
    let db = dir.database();
    if !db.exists() {
        bail!("there is no database at {} to index", db.display());
    }
    eprintln!(
        "no worker answers at {}; rebuilding the search indexes here",
        settings.worker_url()
    );
    let rt = crate::portability_cmd::runtime()?;
    rt.block_on(async {
        let store = claude_mem_core::Store::open(&db).await?;
        let result = async {
            let index = match claude_mem_server::worker::open_search(settings, dir).await {
                Ok(index) => index,
                Err(e) if e.contains("in use by another") => bail!("{e}: stop it first"),
                Err(e) => {
                    // Whatever is there cannot even be opened: start from nothing.
                    eprintln!("warning: {e}; removing {}", dir.index().display());
                    std::fs::remove_dir_all(dir.index())
                        .with_context(|| format!("cannot remove {}", dir.index().display()))?;
                    claude_mem_server::worker::open_search(settings, dir)
                        .await
                        .map_err(anyhow::Error::msg)?
                }
            };
            let index2 = index.clone();
            tokio::task::spawn_blocking(move || index2.reset())
                .await?
                .map_err(|e| anyhow::anyhow!("cannot reset the search index: {e}"))?;
            let bar = indicatif::ProgressBar::new_spinner();
            claude_mem_server::indexer::catch_up(&store, &index, |source, last| {
                bar.set_message(format!("{} {last}", source.as_str()));
                bar.tick();
            })
            .await
            .map_err(|e| anyhow::anyhow!("indexing failed: {e}"))?;
            bar.finish_and_clear();
            let status = index.status();
            println!(
                "reindexed: {} documents, {} vectors, {} summaries, {} prompts ({})",
                status.documents, status.vectors, status.summaries, status.prompts, status.embedder
            );
            anyhow::Ok(())
        }
        .await;
        store.close().await;
        result
    })
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Put all-MiniLM-L6-v2 where the worker looks for it (search.model_dir), checking it loads.
    Install {
        /// A directory holding the model files (config.json, tokenizer.json, model.safetensors).
        #[arg(long, env = "CLAUDE_MEM_MODEL_SOURCE")]
        from: Option<PathBuf>,
    },
    /// Download all-MiniLM-L6-v2 (87 MiB) from Hugging Face or a mirror and install it: a pinned
    /// revision, every file checked against a pinned SHA-256 before anything is installed, resumed
    /// where an interrupted download stopped. With search.embedder auto the worker does the same by
    /// itself in the background, unless search.model_download is off.
    Download {
        /// Base URL of Hugging Face or a mirror (files are fetched from
        /// {endpoint}/sentence-transformers/all-MiniLM-L6-v2/resolve/{revision}/{file}). Default:
        /// search.model_endpoint, else HF_ENDPOINT, else https://huggingface.co.
        #[arg(long)]
        endpoint: Option<String>,
        /// Another name for the pinned revision on a mirror (a branch or tag); the files must still
        /// match the pinned SHA-256s.
        #[arg(long)]
        revision: Option<String>,
        /// Download again even when the installed files already match the pins.
        #[arg(long)]
        force: bool,
    },
}

pub fn models(cmd: ModelsCommand) -> anyhow::Result<()> {
    match cmd {
        ModelsCommand::Download {
            endpoint,
            revision,
            force,
        } => download_model(endpoint.as_deref(), revision, force),
        ModelsCommand::Install { from } => {
            let Some(from) = from else {
                bail!(
                    "give the model files with --from DIR (or CLAUDE_MEM_MODEL_SOURCE); \
                     this build does not download models"
                );
            };
            let dir = DataDir::resolve().context("cannot locate the data directory")?;
            let settings = Settings::load_effective(&dir.settings())?;
            let to = settings.search.model_path(dir.root());
            claude_mem_embed::install_model(&from, &to)
                .with_context(|| format!("cannot install the model from {}", from.display()))?;
            println!(
                "installed all-MiniLM-L6-v2 in {} (restart the worker to use it)",
                to.display()
            );
            Ok(())
        }
    }
}

/// A byte progress bar for a [`claude_mem_embed::download`] transfer (drawn only on a terminal), and the
/// callback that feeds it. `len` is the expected total; the downloader's own total replaces it.
pub(crate) fn download_bar(
    len: u64,
) -> (
    indicatif::ProgressBar,
    impl FnMut(claude_mem_embed::download::Progress) + Send,
) {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let progress = move |p: claude_mem_embed::download::Progress| {
        progress_bar.set_length(p.total);
        progress_bar.set_position(p.done);
    };
    (bar, progress)
}

/// `claude-mem models download`: a progress bar on a terminal (indicatif draws nothing otherwise), the
/// outcome on stdout, failures as errors (non-zero exit) that name the file and what went wrong.
fn download_model(
    endpoint: Option<&str>,
    revision: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
    use claude_mem_embed::model_download::{self, ModelDownload, Outcome};
    let dir = DataDir::resolve().context("cannot locate the data directory")?;
    let settings = Settings::load_effective(&dir.settings())?;
    let endpoint = model_download::resolve_endpoint(
        endpoint,
        &settings.search.model_endpoint,
        std::env::var("HF_ENDPOINT").ok().as_deref(),
    );
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        bail!("--endpoint {endpoint:?} is not an http:// or https:// URL");
    }
    let mut request = ModelDownload::new(endpoint, settings.search.model_path(dir.root()));
    if let Some(revision) = revision.filter(|r| !r.trim().is_empty()) {
        request.revision = revision.trim().to_owned();
    }
    request.force = force;
    eprintln!(
        "downloading {} at {} from {}",
        model_download::MINILM_REPO,
        request.revision,
        request.endpoint
    );
    let (bar, mut progress) = download_bar(model_download::minilm_download_size());
    let rt = crate::portability_cmd::runtime()?;
    let outcome = rt.block_on(model_download::download_model(&request, &mut progress));
    bar.finish_and_clear();
    match outcome.with_context(|| format!("cannot download the model from {}", request.endpoint))? {
        Outcome::AlreadyInstalled => println!(
            "all-MiniLM-L6-v2 is already installed in {} (checksums verified)",
            request.model_dir.display()
        ),
        Outcome::Installed => println!(
            "installed all-MiniLM-L6-v2 in {} (restart the worker to use it)",
            request.model_dir.display()
        ),
    }
    Ok(())
}
