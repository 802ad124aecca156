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
    /// Revoke a token: requests carrying it are refused from now on.
    Revoke {
        token: String,
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
            | TeamCommand::Revoke { db, .. } => &db.database,
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
        TeamCommand::Revoke { token, .. } => {
            let revoked = store
                .revoke_token(token.trim())
                .await
                .context("cannot revoke the token")?;
            if !revoked {
                bail!("no live token matches (unknown, or already revoked)");
            }
            println!("token revoked");
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
