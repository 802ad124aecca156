//! Forgetting and editing single memories, sessions and whole projects (issue 21): what a user does on
//! seeing a wrong or private memory.
//!
//! Forgetting is a real delete, in one transaction on the writer connection, of the memory and of what it
//! was made from: an observation takes the raw hook events it was compressed from (`source_event_ids`,
//! when they are finished), so neither an export nor a later re-compression brings its text back; a
//! session takes everything recorded in it; a project takes all of its sessions. The durable vectors
//! follow by the schema's triggers (`memory_vectors_*_gone`). The caller removes the returned ids from
//! the search indexes, as after a prune, so search stops finding them at once.
//!
//! An edit rewrites an observation's title, narrative, facts or type; the caller re-indexes it.

use super::{Store, StoreError};
use crate::model::{ForgetReport, ForgetTarget, ObservationEdit};
use sqlx::{Connection, SqliteConnection};

async fn ids(conn: &mut SqliteConnection, sql: &str, bind: &str) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(sql).bind(bind).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

async fn delete(
    conn: &mut SqliteConnection,
    report: &mut ForgetReport,
    table: &str,
    filter: &str,
    bind: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE {filter}"))
        .bind(bind)
        .execute(conn)
        .await?
        .rows_affected();
    *report.deleted.entry(table.to_owned()).or_default() += done;
    Ok(done)
}

/// Deletes one session's memories and events and the session itself.
async fn forget_session(
    conn: &mut SqliteConnection,
    report: &mut ForgetReport,
    session: &str,
) -> Result<bool, sqlx::Error> {
    report.observation_ids.extend(
        ids(
            conn,
            "SELECT id FROM observations WHERE session_id = ?1",
            session,
        )
        .await?,
    );
    report.summary_ids.extend(
        ids(
            conn,
            "SELECT id FROM session_summaries WHERE session_id = ?1",
            session,
        )
        .await?,
    );
    report.prompt_ids.extend(
        ids(
            conn,
            "SELECT id FROM user_prompts WHERE session_id = ?1",
            session,
        )
        .await?,
    );
    // Children first, so the counts say what went (the schema would cascade them anyway).
    for table in [
        "observations",
        "session_summaries",
        "user_prompts",
        "pending_messages",
    ] {
        delete(conn, report, table, "session_id = ?1", session).await?;
    }
    Ok(delete(conn, report, "sdk_sessions", "id = ?1", session).await? > 0)
}

pub(super) async fn forget_on(
    conn: &mut SqliteConnection,
    targets: &[ForgetTarget],
) -> Result<ForgetReport, sqlx::Error> {
    let mut report = ForgetReport::default();
    // Deleted rows' bytes are overwritten, not left in free pages a copy of the file would carry.
    sqlx::query("PRAGMA secure_delete = ON")
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    for target in targets {
        let found = match target {
            ForgetTarget::Observation(id) => {
                let sources: Option<(String,)> =
                    sqlx::query_as("SELECT source_event_ids FROM observations WHERE id = ?1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match sources {
                    None => false,
                    Some((sources,)) => {
                        let events: Vec<i64> = serde_json::from_str(&sources).unwrap_or_default();
                        delete(
                            &mut tx,
                            &mut report,
                            "observations",
                            "id = ?1",
                            &id.to_string(),
                        )
                        .await?;
                        report.observation_ids.push(*id);
                        // Its raw events, once finished (work still queued is not ours to drop).
                        for event in events {
                            delete(
                                &mut tx,
                                &mut report,
                                "pending_messages",
                                "id = ?1 AND state IN ('done', 'skipped', 'failed')",
                                &event.to_string(),
                            )
                            .await?;
                        }
                        true
                    }
                }
            }
            ForgetTarget::Summary(id) => {
                let n = delete(
                    &mut tx,
                    &mut report,
                    "session_summaries",
                    "id = ?1",
                    &id.to_string(),
                )
                .await?;
                if n > 0 {
                    report.summary_ids.push(*id);
                }
                n > 0
            }
            ForgetTarget::Prompt(id) => {
                let n = delete(
                    &mut tx,
                    &mut report,
                    "user_prompts",
                    "id = ?1",
                    &id.to_string(),
                )
                .await?;
                if n > 0 {
                    report.prompt_ids.push(*id);
                }
                n > 0
            }
            ForgetTarget::Session(session) => forget_session(&mut tx, &mut report, session).await?,
            ForgetTarget::Project(project) => {
                let sessions: Vec<(String,)> =
                    sqlx::query_as("SELECT id FROM sdk_sessions WHERE project = ?1")
                        .bind(project)
                        .fetch_all(&mut *tx)
                        .await?;
                for (session,) in &sessions {
                    forget_session(&mut tx, &mut report, session).await?;
                }
                // Memories filed under the project from sessions of another (saved memories).
                report.observation_ids.extend(
                    ids(
                        &mut tx,
                        "SELECT id FROM observations WHERE project = ?1",
                        project,
                    )
                    .await?,
                );
                report.summary_ids.extend(
                    ids(
                        &mut tx,
                        "SELECT id FROM session_summaries WHERE project = ?1",
                        project,
                    )
                    .await?,
                );
                delete(
                    &mut tx,
                    &mut report,
                    "observations",
                    "project = ?1",
                    project,
                )
                .await?;
                delete(
                    &mut tx,
                    &mut report,
                    "session_summaries",
                    "project = ?1",
                    project,
                )
                .await?;
                !sessions.is_empty()
            }
        };
        if !found {
            report.missing.push(target.clone());
        }
    }
    tx.commit().await?;
    // And out of the write-ahead log, which still holds the pages as they were.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *conn)
        .await?;
    for ids in [
        &mut report.observation_ids,
        &mut report.summary_ids,
        &mut report.prompt_ids,
    ] {
        ids.sort_unstable();
        ids.dedup();
    }
    Ok(report)
}

impl Store {
    /// Deletes what `targets` name, in one transaction (see the module doc). Targets that name nothing
    /// are listed in [`ForgetReport::missing`], not an error: forgetting is idempotent.
    pub async fn forget(&self, targets: Vec<ForgetTarget>) -> Result<ForgetReport, StoreError> {
        let report = self
            .write(move |conn| Box::pin(async move { Ok(forget_on(conn, &targets).await?) }))
            .await?;
        if report.total() > 0 {
            self.notify_change();
        }
        Ok(report)
    }

    /// Applies `edit` to observation `id`; `false` when there is no such observation. The caller
    /// validates the edit ([`ObservationEdit::problem`]) and re-indexes the observation.
    pub async fn edit_observation(
        &self,
        id: i64,
        edit: ObservationEdit,
    ) -> Result<bool, StoreError> {
        let changed = self
            .write(move |conn| {
                Box::pin(async move {
                    let facts = edit
                        .facts
                        .as_ref()
                        .map(|f| serde_json::to_string(f).unwrap_or_else(|_| "[]".into()));
                    let done = sqlx::query(
                        "UPDATE observations SET title = COALESCE(?2, title),
                            narrative = COALESCE(?3, narrative), facts = COALESCE(?4, facts),
                            type = COALESCE(?5, type)
                         WHERE id = ?1",
                    )
                    .bind(id)
                    .bind(edit.title.as_deref().map(str::trim))
                    .bind(edit.narrative.as_deref())
                    .bind(facts)
                    .bind(edit.kind.as_deref())
                    .execute(&mut *conn)
                    .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?;
        if changed {
            self.notify_change();
        }
        Ok(changed)
    }
}

impl Store {
    /// Files everything of project `from` under `to` (a rename, or a merge when `to` exists): sessions,
    /// memories, sessions not recorded, and the stored vectors' filter metadata. Returns the rows moved;
    /// the caller rebuilds the search indexes, whose documents carry the project. Errors when `from` has
    /// nothing.
    pub async fn rename_project(&self, from: &str, to: &str) -> Result<u64, StoreError> {
        let (from, to) = (from.to_owned(), to.to_owned());
        let moved = self
            .write(move |conn| {
                Box::pin(async move {
                    let mut tx = conn.begin().await?;
                    let mut moved = 0;
                    for table in ["sdk_sessions", "observations", "session_summaries", "sessions_off"] {
                        moved += sqlx::query(&format!(
                            "UPDATE {table} SET project = ?2 WHERE project = ?1"
                        ))
                        .bind(&from)
                        .bind(&to)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                    let vectors: Option<(String,)> = sqlx::query_as(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'memory_vectors'",
                    )
                    .fetch_optional(&mut *tx)
                    .await?;
                    if vectors.is_some() {
                        sqlx::query("UPDATE memory_vectors SET project = ?2 WHERE project = ?1")
                            .bind(&from)
                            .bind(&to)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok::<_, StoreError>(moved)
                })
            })
            .await?;
        if moved > 0 {
            self.notify_change();
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_checked_before_they_reach_the_store() {
        assert!(ObservationEdit::default().problem().is_some());
        let ok = ObservationEdit {
            title: Some("Fix the flaky login test".into()),
            kind: Some("bugfix".into()),
            ..ObservationEdit::default()
        };
        assert_eq!(ok.problem(), None);
        for bad in [
            ObservationEdit {
                title: Some("  ".into()),
                ..ObservationEdit::default()
            },
            ObservationEdit {
                kind: Some("gossip".into()),
                ..ObservationEdit::default()
            },
            ObservationEdit {
                facts: Some(vec![String::new(); 101]),
                ..ObservationEdit::default()
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }

    #[test]
    fn targets_read_as_the_api_writes_them() {
        let t: Vec<ForgetTarget> = serde_json::from_str(
            r#"[{"kind":"observation","id":3},{"kind":"session","id":"s-1"},{"kind":"project","id":"acme"}]"#,
        )
        .unwrap();
        assert_eq!(
            t,
            [
                ForgetTarget::Observation(3),
                ForgetTarget::Session("s-1".into()),
                ForgetTarget::Project("acme".into())
            ]
        );
    }
}
