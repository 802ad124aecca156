//! Team search ranks as the laptop does: calibrated relevance and the laptop's floor, within one team.

use crate::pg_cluster::TempCluster;
use crate::search::TeamSearch;
use crate::tests::{event, owner, setup};
use crate::vectors::Vectors;
use crate::{Owner, PgStore};
use claude_mem_core::clock::now_ms;
use claude_mem_core::model::{ObservationDraft, ObservationType};
use claude_mem_core::store::CompletedBatch;
use claude_mem_core::{DataDir, IngestOutcome, Settings, Storage};
use claude_mem_search::Mode;
use serde_json::json;
use std::sync::Arc;

/// Stores one observation of `who` (in a session of its own) and returns its id.
async fn remember(
    store: &PgStore,
    who: &Owner,
    session: &str,
    title: &str,
    narrative: &str,
) -> i64 {
    let stored = store
        .scoped(who.clone())
        .ingest(event(
            "Stop",
            json!({"session_id": session, "cwd": "/w/api", "stop_hook_active": false}),
        ))
        .await
        .unwrap();
    let IngestOutcome::Stored { event_id, .. } = stored else {
        panic!("{stored:?}");
    };
    store.ready_sessions(now_ms(), 20, 0, 8).await.unwrap();
    let new = store
        .complete_batch(CompletedBatch {
            session_id: session.into(),
            project: "api".into(),
            compressor: "local".into(),
            observations: vec![ObservationDraft {
                kind: ObservationType::Discovery,
                title: title.to_owned(),
                subtitle: String::new(),
                narrative: narrative.to_owned(),
                facts: vec![],
                concepts: vec![],
                files_read: vec![],
                files_modified: vec![],
                keywords: vec![],
                source_event_ids: vec![event_id],
                prompt_number: 1,
                input_tokens: 0,
                output_tokens: 0,
            }],
            done: vec![event_id],
            ..Default::default()
        })
        .await
        .unwrap();
    new[0]
}

/// Two teams' memories, every one embedded (the hashing embedder, as the e2e suites run) and in this
/// replica's graphs.
async fn two_teams(name: &str) -> Teams {
    let (cluster, store) = setup(name).await;
    let alice = owner(&store, "acme", "alice").await;
    let mallory = owner(&store, "evil", "mallory").await;
    let mut ours = Vec::new();
    for (i, (title, narrative)) in [
        (
            "Heron queue drains oldest first",
            "The heron queue drains oldest first so retries never starve.",
        ),
        (
            "Quokka exporter batches uploads",
            "The quokka exporter batches uploads in groups of 500.",
        ),
        (
            "Login test waits for readiness",
            "The flaky login test slept; it now waits for the readiness probe.",
        ),
        (
            "Billing invoices are rounded per line",
            "Invoice totals round each line to cents before summing.",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        ours.push(remember(&store, &alice, &format!("a{i}"), title, narrative).await);
    }
    let theirs = vec![
        remember(
            &store,
            &mallory,
            "m0",
            "Heron queue secrets of another team",
            "The heron queue of another team drains oldest first.",
        )
        .await,
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.search.embedder = "hash".into();
    let vectors = Vectors::open(&store, &settings, &DataDir::new(dir.path()))
        .await
        .unwrap();
    assert!(!vectors.semantic(), "the hashing embedder is not semantic");
    while vectors.embed_batch().await.unwrap() > 0 {}
    assert_eq!(vectors.catch_up().await.unwrap(), ours.len() + theirs.len());
    let search = TeamSearch::new(store, Arc::clone(&vectors), &settings.search);
    Teams {
        _cluster: cluster,
        search,
        alice,
        mallory,
        ours,
        theirs,
    }
}

struct Teams {
    /// Keeps the shared PostgreSQL up while the test runs.
    _cluster: Arc<TempCluster>,
    search: TeamSearch,
    alice: Owner,
    mallory: Owner,
    /// alice's observations, in the order stored; mallory's.
    ours: Vec<i64>,
    theirs: Vec<i64>,
}

#[tokio::test]
async fn a_question_nothing_answers_finds_nothing_in_any_mode() {
    let t = two_teams("search_nothing").await;
    let (search, alice) = (&t.search, &t.alice);
    for mode in [Mode::Hybrid, Mode::Vector, Mode::Text] {
        let hits = search
            .search(
                alice.team_id,
                "zzqxjv nonexistentterm",
                None,
                mode,
                20,
                None,
            )
            .await
            .unwrap();
        assert!(
            hits.is_empty(),
            "{mode:?}: {:?}",
            hits.iter()
                .map(|h| (h.observation.id, h.score, h.text_score, h.vector_score))
                .collect::<Vec<_>>()
        );
    }
    // An explicit `min_score` replaces the floor, as on the laptop: a query that finds its memory
    // finds nothing once the caller asks for more relevance than any hit has.
    let found = |min_score| {
        search.search(
            alice.team_id,
            "heron queue retries",
            None,
            Mode::Hybrid,
            20,
            min_score,
        )
    };
    assert!(!found(None).await.unwrap().is_empty());
    assert!(found(Some(1.01)).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_memory_holding_the_words_ranks_first_and_scores_are_calibrated() {
    let t = two_teams("search_first").await;
    let (search, alice, ours) = (&t.search, &t.alice, &t.ours);
    for (query, want) in [
        ("heron queue", ours[0]),
        ("how does the quokka exporter upload", ours[1]),
        ("readiness of the login test", ours[2]),
    ] {
        let hits = search
            .search(alice.team_id, query, None, Mode::Hybrid, 20, None)
            .await
            .unwrap();
        let first = hits.first().unwrap_or_else(|| panic!("{query}: no hit"));
        assert_eq!(first.observation.id, want, "{query}");
        // The calibrated relevance: bounded, every hit over the floor, both sides filled in.
        assert!(hits.iter().all(|h| (0.0..=1.0).contains(&h.score)));
        assert!(hits
            .iter()
            .all(|h| h.score >= claude_mem_search::calibration::LEXICAL_EMBEDDER_MIN_SCORE));
        assert!(
            first.text_score.is_some_and(|s| s > 0.9),
            "{query}: {first:?}"
        );
        assert!(first.vector_score.is_some(), "{query}: {first:?}");
        // A memory sharing none of the words is not an answer.
        assert!(
            hits.iter().all(|h| h.observation.id != ours[3]),
            "{query}: {hits:?}"
        );
    }
    // Text mode ranks by the share of the query a memory holds.
    let hits = search
        .search(
            alice.team_id,
            "heron queue retries",
            None,
            Mode::Text,
            20,
            None,
        )
        .await
        .unwrap();
    assert_eq!(hits.first().map(|h| h.observation.id), Some(ours[0]));
    assert!(hits.iter().all(|h| h.vector_score.is_none()));
    // Vector mode finds a memory by (nearly) its own words.
    let hits = search
        .search(
            alice.team_id,
            "The heron queue drains oldest first so retries never starve.",
            None,
            Mode::Vector,
            20,
            None,
        )
        .await
        .unwrap();
    assert_eq!(hits.first().map(|h| h.observation.id), Some(ours[0]));
    assert!(hits.iter().all(|h| h.text_score.is_none()));
}

#[tokio::test]
async fn another_teams_memories_never_appear() {
    let t = two_teams("search_teams").await;
    let (search, alice, mallory) = (&t.search, &t.alice, &t.mallory);
    let (ours, theirs) = (&t.ours, &t.theirs);
    for mode in [Mode::Hybrid, Mode::Vector, Mode::Text] {
        for query in [
            "heron queue drains oldest first",
            "Heron queue secrets of another team",
        ] {
            let mine = search
                .search(alice.team_id, query, None, mode, 20, None)
                .await
                .unwrap();
            assert!(
                mine.iter().all(|h| ours.contains(&h.observation.id)),
                "{mode:?} {query}: {mine:?}"
            );
            let other = search
                .search(mallory.team_id, query, None, mode, 20, None)
                .await
                .unwrap();
            assert!(
                other.iter().all(|h| theirs.contains(&h.observation.id)),
                "{mode:?} {query}: {other:?}"
            );
            assert_eq!(
                other.first().map(|h| h.observation.id),
                Some(theirs[0]),
                "{mode:?} {query}"
            );
        }
    }
    // A project nobody has finds nothing.
    let hits = search
        .search(
            alice.team_id,
            "heron queue",
            Some("elsewhere"),
            Mode::Hybrid,
            20,
            None,
        )
        .await
        .unwrap();
    assert!(hits.is_empty(), "{hits:?}");
}
