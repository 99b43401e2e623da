//! `arsgate nodes status|drain|resume`: the live FreeSWITCH nodes of a
//! running arsgate, through its admin API, as a table for people.

use std::io::Write;

use anyhow::Context;
use serde::de::DeserializeOwned;

use super::config_file::{ADMIN_TOKEN_VAR, URL_VAR, admin_token};
use crate::api::admin::{NodeList, NodeView};

/// Options of `arsgate nodes`.
#[derive(Debug, Clone, clap::Args)]
pub struct NodesArgs {
    /// The running arsgate's base URL.
    #[arg(long, env = URL_VAR, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin token (`admin.token` of the server's configuration; the
    /// server reads the same variable).
    #[arg(long, env = ADMIN_TOKEN_VAR, hide_env_values = true)]
    pub token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub action: NodesAction,
}

/// The things `arsgate nodes` can do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NodesAction {
    /// Every node: connection, heartbeat, state, calls (arsgate's and the
    /// switch's own count), limits, drain.
    Status {
        /// Print the admin API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop giving a node new calls; its live calls finish.
    Drain {
        /// The node's name.
        name: String,
    },
    /// Give a drained node new calls again.
    Resume {
        /// The node's name.
        name: String,
    },
}

/// Runs `arsgate nodes`, writing its report to `out`.
pub async fn run(args: NodesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let token = admin_token(args.token.clone())?;
    let client = reqwest::Client::new();
    let base = args.url.trim_end_matches('/');
    match &args.action {
        NodesAction::Status { json } => {
            let request = client.get(format!("{base}/admin/nodes"));
            let list: NodeList = send(request, &token).await?;
            if *json {
                serde_json::to_writer_pretty(&mut *out, &list)?;
                writeln!(out)?;
            } else {
                out.write_all(table(&list.nodes).as_bytes())?;
            }
        }
        NodesAction::Drain { name } | NodesAction::Resume { name } => {
            let verb = match args.action {
                NodesAction::Drain { .. } => "drain",
                _ => "resume",
            };
            let request = client.post(format!("{base}/admin/nodes/{name}/{verb}"));
            let node: NodeView = send(request, &token).await?;
            if node.draining {
                writeln!(
                    out,
                    "{}: draining; it takes no new calls, its {} live call(s) finish",
                    node.name, node.live_channels
                )?;
            } else {
                writeln!(out, "{}: taking new calls", node.name)?;
            }
        }
    }
    Ok(())
}

/// Sends `request` with the admin token; the JSON body of a success, or
/// an error with the server's own explanation.
async fn send<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    token: &str,
) -> anyhow::Result<T> {
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .context("calling the admin API")?;
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .context("reading the admin API's answer");
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let detail = body["detail"].as_str().unwrap_or("no explanation");
    match status.as_u16() {
        401 => anyhow::bail!("the admin token was refused: {detail}"),
        404 if detail == "no such route" => {
            anyhow::bail!("the server's admin API is off: set admin.token in its configuration")
        }
        code => anyhow::bail!("the server answered {code}: {detail}"),
    }
}

/// The nodes as an aligned table, one line each under a header.
pub fn table(nodes: &[NodeView]) -> String {
    let header = [
        "NAME",
        "CONNECTED",
        "HEARTBEAT",
        "STATUS",
        "CALLS",
        "SESSIONS",
        "CPS",
        "WEIGHT",
        "DRAINING",
        "MODULES",
    ];
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let rows: Vec<[String; 10]> = nodes
        .iter()
        .map(|node| {
            let mut state = node.state.clone();
            if node.backing_off {
                state.push_str(" (refusing)");
            }
            [
                node.name.clone(),
                yes_no(node.connected),
                node.heartbeat_age_ms.map_or_else(
                    || "-".to_owned(),
                    |ms| format!("{:.1}s ago", ms as f64 / 1000.0),
                ),
                state,
                format!("{}/{}", node.live_channels, node.max_channels),
                match (node.sessions, node.max_sessions) {
                    (Some(count), Some(max)) => format!("{count}/{max}"),
                    _ => "-".to_owned(),
                },
                node.cps.to_string(),
                node.weight.to_string(),
                yes_no(node.draining),
                match node.missing_modules.as_deref() {
                    None => "-".to_owned(),
                    Some([]) => "ok".to_owned(),
                    Some(missing) => format!("MISSING {}", missing.join(",")),
                },
            ]
        })
        .collect();
    super::table::render(header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up() {
        let node = |name: &str, draining: bool| NodeView {
            name: name.to_owned(),
            connected: !draining,
            heartbeat_age_ms: (!draining).then_some(1500),
            status_ok: (!draining).then_some(true),
            live_channels: 3,
            max_channels: 1000,
            cps: 30,
            weight: 1,
            draining,
            state: if draining { "down" } else { "up" }.to_owned(),
            backing_off: false,
            sessions: (!draining).then_some(5),
            max_sessions: (!draining).then_some(1000),
            missing_modules: (!draining).then(Vec::new),
        };
        let mut refusing = node("fs3", false);
        refusing.backing_off = true;
        refusing.missing_modules = Some(vec!["mod_xml_curl".to_owned()]);
        assert_eq!(
            table(&[node("fs1", false), node("fs-east-2", true), refusing]),
            "\
NAME       CONNECTED  HEARTBEAT  STATUS         CALLS   SESSIONS  CPS  WEIGHT  DRAINING  MODULES
fs1        yes        1.5s ago   up             3/1000  5/1000    30   1       no        ok
fs-east-2  no         -          down           3/1000  -         30   1       yes       -
fs3        yes        1.5s ago   up (refusing)  3/1000  5/1000    30   1       no        MISSING mod_xml_curl
"
        );
    }
}
