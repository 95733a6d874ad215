//! `bank-sandbox mfa`: answer push MFA requests from the terminal, through the running
//! sandbox's admin API (its token is in the data dir).

use anyhow::{Context, bail};
use bank_sandbox::ADMIN_TOKEN_FILE;
use bank_sandbox::authz::{DeviceRequestInfo, MfaRequestInfo};
use bank_sandbox::serve::CommonArgs;
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum MfaCommand {
    /// List pending requests: MFA pushes, and device authorizations (`dev_…`) waiting for
    /// their person.
    List {
        /// Only this user's requests.
        #[arg(long)]
        user: Option<String>,
        /// Print the admin API's JSON (with each request's `authorization_details`).
        #[arg(long)]
        json: bool,
    },
    /// Approve a request with the number its browser shows: the one pending push showing
    /// that number, or by ID, or --user's. Three wrong numbers deny the push.
    Approve(Approve),
    /// Deny a request: by ID (a push or a device request), or the oldest pending push (of
    /// --user, or of anyone).
    Deny(Decide),
}

#[derive(Args)]
pub struct Approve {
    /// The two-digit number shown in the browser that is waiting (number matching).
    #[arg(long, value_name = "NN")]
    code: String,
    #[command(flatten)]
    which: Decide,
}

#[derive(Args)]
#[group(required = false, multiple = false)]
pub struct Decide {
    /// This user's request.
    #[arg(long)]
    user: Option<String>,
    /// The request ID (mfa_…, or dev_… to deny a device request), as shown by `mfa list`.
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
    let (decision, user, id, code) = match command {
        MfaCommand::List { user, json } => {
            let admin = admin_file(common)?;
            let mut request = client
                .get(format!("{}/admin/mfa", admin.issuer.trim_end_matches('/')))
                .bearer_auth(&admin.token);
            if let Some(user) = &user {
                request = request.query(&[("user", user)]);
            }
            let body: serde_json::Value = checked(request.send().await).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(());
            }
            let pending: Vec<MfaRequestInfo> = serde_json::from_value(body["pending"].clone())?;
            let devices: Vec<DeviceRequestInfo> =
                serde_json::from_value(body["devices"].clone()).unwrap_or_default();
            if pending.is_empty() && devices.is_empty() {
                eprintln!("No pending MFA or device requests.");
            }
            // One line per push, with what it approves, who asked and when: two pending
            // pushes can be told apart at a glance. Text from the server is escaped.
            for r in pending {
                let line = format!("{}  {}  {}", r.id, r.username, r.summary());
                println!("{}", bank_protocol::text::escape_hidden(&line, &[]));
                print_batch(r.authorization_details.as_ref());
            }
            // Device authorizations waiting for their person (RFC 8628): who signed in so
            // far, what they ask for, and how far they got.
            for d in devices {
                let user = d.username.as_deref().unwrap_or("-");
                let line = format!("{}  {user}  {}", d.id, d.summary());
                println!("{}", bank_protocol::text::escape_hidden(&line, &[]));
                print_batch(d.authorization_details.as_ref());
            }
            return Ok(());
        }
        MfaCommand::Approve(a) => ("approve", a.which.user, a.which.id, Some(a.code)),
        MfaCommand::Deny(d) => ("deny", d.user, d.id, None),
    };
    let admin = admin_file(common)?;
    let body: serde_json::Value = checked(
        client
            .post(format!(
                "{}/admin/mfa/decide",
                admin.issuer.trim_end_matches('/')
            ))
            .bearer_auth(&admin.token)
            .json(
                &serde_json::json!({ "decision": decision, "id": id, "user": user, "code": code }),
            )
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
            "{}",
            bank_protocol::text::escape_hidden(
                &format!("{done} {} for {}: {}.", r.id, r.username, r.summary()),
                &[]
            )
        ),
        None => eprintln!("{done}."),
    }
    Ok(())
}

/// Payments listed under a request that approves more than one (the rest counted).
const LISTED_PAYMENTS: usize = 10;

/// Under a batch's line: its count and totals, then its first payments, one a line, and
/// how many more (`--json` has them all). Nothing for one payment, whose line says it all.
fn print_batch(approval: Option<&bank_protocol::Approval>) {
    let Some(approval) = approval.filter(|a| a.single().is_none()) else {
        return;
    };
    let totals: Vec<String> = approval
        .totals()
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                bank_protocol::group_thousands(&t.amount),
                t.currency
            )
        })
        .collect();
    let mut lines = vec![format!(
        "    {} payments, totals {}",
        approval.count(),
        totals.join(", ")
    )];
    let listed = approval.listed();
    let orders = listed.as_ref().map_or(&[][..], |b| b.orders());
    for (i, order) in orders.iter().take(LISTED_PAYMENTS).enumerate() {
        let memo = order
            .memo
            .as_deref()
            .map(|m| format!("  \u{201c}{m}\u{201d}"))
            .unwrap_or_default();
        lines.push(format!(
            "    {:>4}. {} {} {}{memo}",
            i + 1,
            order.to,
            bank_protocol::group_thousands(&order.amount.to_string()),
            order.currency
        ));
    }
    if orders.len() > LISTED_PAYMENTS {
        lines.push(format!(
            "    \u{2026} and {} more (--json lists them all)",
            orders.len() - LISTED_PAYMENTS
        ));
    }
    for line in lines {
        println!("{}", bank_protocol::text::escape_hidden(&line, &[]));
    }
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
