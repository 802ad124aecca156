//! `claude-mem team …`: teams, users and API tokens of a team server, straight against its database
//! (an administrator's tool: whoever can reach the database already holds every right).

use anyhow::{bail, Context};
use claude_mem_team::{NewToken, PgStore};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct DbArgs {
    /// The team server's database (postgres://user:password@host:5432/claude_mem).
    #[arg(long, env = "CLAUDE_MEM_DATABASE_URL", hide_env_values = true)]
    database: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum TeamCommand {
    /// Create a team: its members share memories, nobody else sees them.
    CreateTeam {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Add a user to a team and print their first API token (shown once; only its hash is kept).
    AddUser {
        #[arg(long)]
        team: String,
        #[arg(long)]
        user: String,
        /// Print {"team", "user", "token", …} as JSON, for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Issue another token for an existing user (a second laptop, a CI job).
    Token {
        #[arg(long)]
        team: String,
        #[arg(long)]
        user: String,
        /// What the token is for, to recognise it later.
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a token: requests carrying it are refused from now on. Give the token, or its id from
    /// `team tokens` (a lost token's text is gone: only its hash is kept).
    Revoke {
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        token: Option<String>,
        #[arg(long)]
        id: Option<i64>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens (id, team, user, label, created, last used, revoked), never their text.
    Tokens {
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List a team's users with their live tokens and observations.
    Users {
        #[arg(long)]
        team: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Take a user's access away: revokes all their tokens; their memories stay with the team.
    RemoveUser {
        #[arg(long)]
        team: String,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

impl TeamCommand {
    fn database(&self) -> &str {
        match self {
            TeamCommand::CreateTeam { db, .. }
            | TeamCommand::AddUser { db, .. }
            | TeamCommand::Token { db, .. }
            | TeamCommand::Revoke { db, .. }
            | TeamCommand::Tokens { db, .. }
            | TeamCommand::Users { db, .. }
            | TeamCommand::RemoveUser { db, .. } => &db.database,
        }
    }
}

pub fn run(cmd: TeamCommand) -> anyhow::Result<()> {
    let url = cmd.database().to_owned();
    if !claude_mem_team::is_postgres_url(&url) {
        bail!("--database must be a postgres:// (or postgresql://) URL");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = PgStore::connect(&url, 2)
            .await
            .context("cannot open the team database")?;
        let result = execute(&store, cmd).await;
        store.close().await;
        result
    })
}

async fn execute(store: &PgStore, cmd: TeamCommand) -> anyhow::Result<()> {
    match cmd {
        TeamCommand::CreateTeam { name, json, .. } => {
            let id = store
                .create_team(&name)
                .await
                .with_context(|| format!("cannot create team {name:?}"))?;
            if json {
                println!("{}", json!({ "team": name, "team_id": id }));
            } else {
                println!("created team {name:?} (id {id})");
                println!("next: claude-mem team add-user --team {name} --user NAME");
            }
        }
        TeamCommand::AddUser {
            team, user, json, ..
        } => {
            let issued = store
                .create_user(&team, &user)
                .await
                .with_context(|| format!("cannot add user {user:?} to team {team:?}"))?;
            print_token(&issued, json, "created user");
        }
        TeamCommand::Token {
            team,
            user,
            label,
            json,
            ..
        } => {
            let issued = store
                .issue_token(&team, &user, &label)
                .await
                .with_context(|| format!("cannot issue a token for {user:?} in {team:?}"))?;
            print_token(&issued, json, "new token for");
        }
        TeamCommand::Revoke { token, id, .. } => {
            let revoked = match (id, token) {
                (Some(id), _) => store.revoke_token_id(id).await,
                (None, Some(token)) => store.revoke_token(token.trim()).await,
                (None, None) => bail!("give the token or --id (see `claude-mem team tokens`)"),
            }
            .context("cannot revoke the token")?;
            if !revoked {
                bail!("no live token matches (unknown, or already revoked)");
            }
            println!("token revoked");
        }
        TeamCommand::Tokens {
            team, user, json, ..
        } => {
            let tokens = store
                .list_tokens(team.as_deref(), user.as_deref())
                .await
                .context("cannot list the tokens")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                let when = |ms: Option<i64>| {
                    ms.map_or_else(|| "-".to_owned(), claude_mem_core::clock::format_utc)
                };
                println!(
                    "{:>5}  {:<16} {:<16} {:<20} {:<20} {:<20} revoked",
                    "id", "team", "user", "label", "created", "last used"
                );
                for t in &tokens {
                    println!(
                        "{:>5}  {:<16} {:<16} {:<20} {:<20} {:<20} {}",
                        t.id,
                        t.team,
                        t.user,
                        t.label,
                        when(Some(t.created_at)),
                        when(t.last_used_at),
                        when(t.revoked_at)
                    );
                }
            }
        }
        TeamCommand::Users { team, json, .. } => {
            let users = store
                .list_users(&team)
                .await
                .with_context(|| format!("cannot list the users of {team:?}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!(
                    "{:<20} {:>11} {:>12}",
                    "user", "live tokens", "observations"
                );
                for u in &users {
                    println!(
                        "{:<20} {:>11} {:>12}",
                        u.name, u.live_tokens, u.observations
                    );
                }
            }
        }
        TeamCommand::RemoveUser { team, user, .. } => {
            let revoked = store
                .remove_user(&team, &user)
                .await
                .with_context(|| format!("cannot remove {user:?} from {team:?}"))?;
            println!(
                "{user} can no longer reach {team}: {revoked} token(s) revoked; their memories stay with the team"
            );
        }
    }
    Ok(())
}

fn print_token(issued: &NewToken, json: bool, what: &str) {
    let o = &issued.owner;
    if json {
        println!(
            "{}",
            json!({
                "team": o.team, "team_id": o.team_id,
                "user": o.user, "user_id": o.user_id,
                "token": issued.token,
            })
        );
    } else {
        println!("{what} {:?} in team {:?}", o.user, o.team);
        println!("token: {}", issued.token);
        println!("(shown once: only its hash is stored; hooks send it as `Authorization: Bearer <token>`)");
    }
}
