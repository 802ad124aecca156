//! Users, teams and API tokens.
//!
//! A token is shown once, when issued; the database keeps only its SHA-256, so a copy of the database
//! (a backup, a leaked dump) holds no working credentials. Tokens carry 256 random bits, so a plain hash
//! (no salt, no slow KDF) is enough: there is nothing to guess.

use crate::{PgStore, TeamError};
use claude_mem_core::clock::now_ms;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "cm_";

/// `last_used_at` is refreshed at most this often: every hook call authenticates, and a write per call
/// would double the database's write load for a timestamp nobody needs to the millisecond.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// Who a request acts for: every row it writes is owned by this user and team, every read is limited
/// to this team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub user_id: i64,
    pub team_id: i64,
    pub user: String,
    pub team: String,
}

/// A token as `team tokens` lists it: who, what for, and when, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: i64,
    pub team: String,
    pub user: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A user as `team users` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub live_tokens: i64,
    pub observations: i64,
}

/// A freshly issued token: shown once, only its hash is stored.
#[derive(Debug, Clone, Serialize)]
pub struct NewToken {
    pub owner: Owner,
    pub token: String,
}

/// `cm_` + 64 hex characters from the OS RNG.
pub fn generate_token() -> Result<String, TeamError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| TeamError::Other(format!("no OS randomness for a token: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Hex SHA-256 of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_name(what: &'static str, name: &str) -> Result<(), TeamError> {
    let reason = if name.trim().is_empty() {
        "must not be empty"
    } else if name.len() > 200 {
        "must be at most 200 bytes"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(TeamError::Invalid {
        what,
        reason: reason.to_owned(),
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl PgStore {
    pub async fn create_team(&self, name: &str) -> Result<i64, TeamError> {
        check_name("team name", name)?;
        let created: Result<(i64,), _> =
            sqlx::query_as("INSERT INTO teams (name, created_at) VALUES ($1, $2) RETURNING id")
                .bind(name)
                .bind(now_ms())
                .fetch_one(self.pool())
                .await;
        match created {
            Ok((id,)) => {
                tracing::info!(team = name, "team created");
                Ok(id)
            }
            Err(e) if is_unique_violation(&e) => Err(TeamError::Exists(format!("team {name:?}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the user in an existing team and issues their first token.
    pub async fn create_user(&self, team: &str, user: &str) -> Result<NewToken, TeamError> {
        check_name("user name", user)?;
        let mut tx = self.pool().begin().await?;
        let (team_id,): (i64,) = sqlx::query_as("SELECT id FROM teams WHERE name = $1")
            .bind(team)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| TeamError::UnknownTeam(team.to_owned()))?;
        let created: Result<(i64,), _> = sqlx::query_as(
            "INSERT INTO users (team_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(team_id)
        .bind(user)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await;
        let user_id = match created {
            Ok((id,)) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(TeamError::Exists(format!("user {user:?} in team {team:?}")))
            }
            Err(e) => return Err(e.into()),
        };
        let token = generate_token()?;
        insert_token(&mut tx, user_id, &token, "").await?;
        tx.commit().await?;
        tracing::info!(team, user, "user created");
        Ok(NewToken {
            owner: Owner {
                user_id,
                team_id,
                user: user.to_owned(),
                team: team.to_owned(),
            },
            token,
        })
    }

    /// Another token for an existing user (a second laptop).
    pub async fn issue_token(
        &self,
        team: &str,
        user: &str,
        label: &str,
    ) -> Result<NewToken, TeamError> {
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT t.id, u.id FROM teams t LEFT JOIN users u ON u.team_id = t.id AND u.name = $2
             WHERE t.name = $1",
        )
        .bind(team)
        .bind(user)
        .fetch_optional(self.pool())
        .await?;
        let (team_id, user_id) = match row {
            None => return Err(TeamError::UnknownTeam(team.to_owned())),
            Some((_, None)) => {
                return Err(TeamError::UnknownUser {
                    team: team.to_owned(),
                    user: user.to_owned(),
                })
            }
            Some((team_id, Some(user_id))) => (team_id, user_id),
        };
        let token = generate_token()?;
        let mut conn = self.pool().acquire().await?;
        insert_token(&mut conn, user_id, &token, label).await?;
        tracing::info!(team, user, label, "token issued");
        Ok(NewToken {
            owner: Owner {
                user_id,
                team_id,
                user: user.to_owned(),
                team: team.to_owned(),
            },
            token,
        })
    }

    /// True when a live token was revoked.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, TeamError> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash_token(token))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Revokes the token with this id (as `team tokens` lists it): the way to revoke a lost token, whose
    /// text nobody has any more. True when a live token was revoked.
    pub async fn revoke_token_id(&self, id: i64) -> Result<bool, TeamError> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Every token (never its text: only the hash is stored), optionally of one team and user, oldest
    /// first.
    pub async fn list_tokens(
        &self,
        team: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<TokenInfo>, TeamError> {
        Ok(sqlx::query_as::<_, TokenInfo>(
            "SELECT k.id, t.name AS team, u.name AS user, k.label, k.created_at, k.last_used_at,
                    k.revoked_at
             FROM api_tokens k JOIN users u ON u.id = k.user_id JOIN teams t ON t.id = u.team_id
             WHERE ($1::text IS NULL OR t.name = $1) AND ($2::text IS NULL OR u.name = $2)
             ORDER BY k.id",
        )
        .bind(team)
        .bind(user)
        .fetch_all(self.pool())
        .await?)
    }

    /// A team's users with their live tokens and observations.
    pub async fn list_users(&self, team: &str) -> Result<Vec<UserInfo>, TeamError> {
        let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM teams WHERE name = $1")
            .bind(team)
            .fetch_optional(self.pool())
            .await?;
        let Some((team_id,)) = known else {
            return Err(TeamError::UnknownTeam(team.to_owned()));
        };
        let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT u.id, u.name, u.created_at,
                    (SELECT COUNT(*) FROM api_tokens k WHERE k.user_id = u.id AND k.revoked_at IS NULL),
                    (SELECT COUNT(*) FROM observations o WHERE o.user_id = u.id)
             FROM users u WHERE u.team_id = $1 ORDER BY u.name",
        )
        .bind(team_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, created_at, live_tokens, observations)| UserInfo {
                    id,
                    name,
                    created_at,
                    live_tokens,
                    observations,
                },
            )
            .collect())
    }

    /// Takes a user's access away: every token of theirs is revoked. Their memories stay the team's
    /// (deleting the user row would cascade to their sessions and observations). Returns how many
    /// tokens were revoked.
    pub async fn remove_user(&self, team: &str, user: &str) -> Result<u64, TeamError> {
        let known: Option<(i64,)> = sqlx::query_as(
            "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.name = $1 AND u.name = $2",
        )
        .bind(team)
        .bind(user)
        .fetch_optional(self.pool())
        .await?;
        let Some((user_id,)) = known else {
            return Err(TeamError::UnknownUser {
                team: team.to_owned(),
                user: user.to_owned(),
            });
        };
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        tracing::info!(
            team,
            user,
            tokens = r.rows_affected(),
            "user's access removed"
        );
        Ok(r.rows_affected())
    }

    /// The owner of a live (not revoked) token; None for unknown or revoked tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Owner>, TeamError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 256 {
            return Ok(None);
        }
        let hash = hash_token(token);
        let row: Option<(i64, i64, i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT k.id, u.id, t.id, u.name, t.name, k.last_used_at
             FROM api_tokens k JOIN users u ON u.id = k.user_id JOIN teams t ON t.id = u.team_id
             WHERE k.token_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let Some((token_id, user_id, team_id, user, team, last_used)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        if last_used.is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(token_id)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(Owner {
            user_id,
            team_id,
            user,
            team,
        }))
    }
}

async fn insert_token(
    conn: &mut sqlx::PgConnection,
    user_id: i64,
    token: &str,
    label: &str,
) -> Result<(), TeamError> {
    sqlx::query(
        "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(hash_token(token))
    .bind(label)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}
