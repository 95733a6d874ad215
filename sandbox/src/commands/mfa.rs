//! `bank-sandbox mfa`: answer push MFA requests from the terminal, through the running
//! sandbox's admin API (its token is in the data dir).

use anyhow::{Context, bail};
use bank_sandbox::ADMIN_TOKEN_FILE;
use bank_sandbox::authz::MfaRequestInfo;
use bank_sandbox::serve::CommonArgs;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum MfaCommand {
    /// List pending requests.
    List {
        /// Only this user's requests.
        #[arg(long)]
        user: Option<String>,
    },
    /// Approve a request: by ID, or the oldest pending one (of --user).
    Approve(Decide),
    /// Deny a request: by ID, or the oldest pending one (of --user).
    Deny(Decide),
}

#[derive(Args)]
pub struct Decide {
    /// Only consider this user's requests.
    #[arg(long)]
    user: Option<String>,
    /// The request ID (mfa_…), as shown by `mfa list`.
    id: Option<String>,
}

/// The admin token file a running `serve` wrote.
#[derive(serde::Deserialize)]
struct AdminFile {
    issuer: String,
    token: String,
}

impl std::fmt::Debug for AdminFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminFile")
            .field("issuer", &self.issuer)
            .field("token", &"[redacted]")
            .finish()
    }
}

fn admin_file(common: &CommonArgs) -> anyhow::Result<AdminFile> {
    let config = common.load_config()?;
    let path = common.data_dir(&config)?.join(ADMIN_TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "could not read {} — is `bank-sandbox serve` running with this data dir?",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid admin token file", path.display()))
}

pub async fn cmd_mfa(common: &CommonArgs, command: MfaCommand) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let (decision, user, id) = match command {
        MfaCommand::List { user } => {
            let admin = admin_file(common)?;
            let mut request = client
                .get(format!("{}/admin/mfa", admin.issuer))
                .bearer_auth(&admin.token);
            if let Some(user) = &user {
                request = request.query(&[("user", user)]);
            }
            let body: serde_json::Value = checked(request.send().await).await?;
            let pending: Vec<MfaRequestInfo> = serde_json::from_value(body["pending"].clone())?;
            if pending.is_empty() {
                eprintln!("No pending MFA requests.");
            }
            for r in pending {
                println!(
                    "{}  {}  {} wants: {}",
                    r.id,
                    r.username,
                    r.client_name,
                    r.scopes.join(" ")
                );
            }
            return Ok(());
        }
        MfaCommand::Approve(d) => ("approve", d.user, d.id),
        MfaCommand::Deny(d) => ("deny", d.user, d.id),
    };
    let admin = admin_file(common)?;
    let body: serde_json::Value = checked(
        client
            .post(format!("{}/admin/mfa/decide", admin.issuer))
            .bearer_auth(&admin.token)
            .json(&serde_json::json!({ "decision": decision, "id": id, "user": user }))
            .send()
            .await,
    )
    .await?;
    let done = if decision == "approve" {
        "Approved"
    } else {
        "Denied"
    };
    match serde_json::from_value::<Option<MfaRequestInfo>>(body["decided"].clone())? {
        Some(r) => eprintln!(
            "{done} {} ({} for {}: {}).",
            r.id,
            r.client_name,
            r.username,
            r.scopes.join(" ")
        ),
        None => eprintln!("{done}."),
    }
    Ok(())
}

async fn checked(
    response: reqwest::Result<reqwest::Response>,
) -> anyhow::Result<serde_json::Value> {
    let response = response.context("could not reach the sandbox — is it running?")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("request failed");
        bail!("{message} (HTTP {status})");
    }
    Ok(body)
}
