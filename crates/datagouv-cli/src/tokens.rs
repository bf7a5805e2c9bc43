//! `datagouv tokens …`: the named API tokens of the key's user (udata 16+,
//! `/api/1/me/api_tokens/`), and what `auth status` learns from them about
//! the token in use — never the token itself.
//!
//! The secret of a new token is printed once, on standard output, in the
//! command's output; the CLI installs no logger, and nothing else prints it.

use clap::Subcommand;
use datagouv::main_api::v1::types::{ApiTokenCreated, ApiTokenRead, ApiTokenWrite};
use datagouv::{Client, SendExt};
use serde_json::{Value, json};

use crate::{
    error::CliError,
    output::{Output, Record},
};

/// Table and CSV columns of a token.
const TOKEN_FIELDS: &[&str] = &[
    "id",
    "name",
    "token_prefix",
    "scopes",
    "created_at",
    "last_used_at",
    "expires_at",
];

/// `tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// The active tokens of the key's user, with their scopes, expiry and
    /// last use (never the tokens themselves: the server keeps only a hash).
    List,
    /// Create a token and print it, once: store it now, the server cannot
    /// show it again.
    Create {
        /// A name to recognise it by.
        name: String,
        /// When it stops working: a date (`2027-06-30`) or a date and time
        /// (`2027-06-30T12:00:00Z`), in the future [default: never].
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// A scope (repeatable; udata 17 knows `admin`, the default).
        #[arg(long, value_name = "SCOPE")]
        scope: Vec<String>,
    },
    /// Revoke a token: it is refused from then on.
    Revoke {
        /// The token's id, or its prefix as `tokens list` shows it.
        token: String,
    },
}

/// Runs a `tokens` command.
pub async fn run(client: &Client, command: TokensCommand, output: &Output) -> Result<(), CliError> {
    match command {
        TokensCommand::List => {
            output.check_fields(datagouv::model_fields::<ApiTokenRead>())?;
            let tokens = client.main().list_api_tokens().send().value().await?;
            let records = tokens
                .iter()
                .map(Record::from_serialize)
                .collect::<Result<Vec<_>, _>>()?;
            output.print(records, Some(TOKEN_FIELDS)).await
        }
        TokensCommand::Create {
            name,
            expires,
            scope,
        } => {
            output.check_fields(datagouv::model_fields::<ApiTokenCreated>())?;
            let mut body = json!({ "name": name });
            if let Some(expires) = expires {
                body["expires_at"] = json!(expiry(&expires)?);
            }
            if !scope.is_empty() {
                body["scopes"] = json!(scope);
            }
            let body: ApiTokenWrite = serde_json::from_value(body)
                .map_err(|e| CliError::usage(format!("not a token: {e}")))?;
            let created = client
                .main()
                .create_api_token()
                .body(body)
                .send()
                .value()
                .await?;
            let record = Record::from_serialize(&created)?;
            let mut fields = TOKEN_FIELDS.to_vec();
            fields.push("token");
            eprintln!("the token is shown this once: store it now (the server keeps only a hash)");
            output.print_one(record, Some(&fields)).await
        }
        TokensCommand::Revoke { token } => {
            let tokens = client.main().list_api_tokens().send().value().await?;
            let matching: Vec<&ApiTokenRead> = tokens
                .iter()
                .filter(|t| {
                    t.id.as_deref() == Some(token.as_str())
                        || t.token_prefix.as_deref() == Some(token.as_str())
                })
                .collect();
            let id = match matching.as_slice() {
                [one] => one.id.clone().unwrap_or_default(),
                [] => {
                    return Err(CliError::not_found(format!(
                        "no active token `{token}` of the key's user"
                    ))
                    .with_hint("`datagouv tokens list` lists them, with their ids and prefixes"));
                }
                _ => {
                    return Err(CliError::usage(format!(
                        "several tokens have the prefix `{token}`"
                    ))
                    .with_hint("name it by its id (`datagouv tokens list`)"));
                }
            };
            client
                .main()
                .revoke_api_token()
                .api_token(&id)
                .send()
                .value()
                .await?;
            output
                .print_one(Record::from_pairs([("revoked", Value::from(id))]), None)
                .await
        }
    }
}

/// `--expires` as udata reads it (ISO 8601); a date alone is its midnight
/// UTC. Refused before any request when it is not a date.
fn expiry(text: &str) -> Result<String, CliError> {
    let text = text.trim();
    let refuse = || {
        CliError::usage(format!("--expires `{text}` is not a date"))
            .with_hint("write a date (2027-06-30) or a date and time (2027-06-30T12:00:00Z)")
    };
    let is_date = |date: &str| {
        let parts: Vec<&str> = date.split('-').collect();
        parts.len() == 3
            && [4, 2, 2]
                .iter()
                .zip(&parts)
                .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_digit()))
    };
    match text.split_once('T') {
        None if is_date(text) => Ok(format!("{text}T00:00:00+00:00")),
        Some((date, time)) if is_date(date) && !time.is_empty() => Ok(text.to_owned()),
        _ => Err(refuse()),
    }
}

/// What `auth status` adds when a key is set: which token it is (its name
/// and prefix, as the server lists it), its scopes, expiry and last use —
/// or why the server refused it. The key itself is never printed.
pub async fn status_rows(client: &Client, key: &str) -> Vec<Record> {
    let row = |setting: &str, value: String| {
        Record::from_pairs([
            ("setting", setting.into()),
            ("value", value.into()),
            ("source", "server".into()),
        ])
    };
    match client.main().list_api_tokens().send().value().await {
        Ok(tokens) => {
            let used = tokens.iter().find(|t| {
                t.token_prefix
                    .as_deref()
                    .is_some_and(|prefix| !prefix.is_empty() && key.starts_with(prefix))
            });
            match used {
                Some(token) => {
                    let text = |value: &Option<String>, none: &str| {
                        value.clone().unwrap_or_else(|| none.to_owned())
                    };
                    vec![
                        row(
                            "token",
                            format!(
                                "{} ({}…)",
                                text(&token.name, "unnamed"),
                                text(&token.token_prefix, "")
                            ),
                        ),
                        row("token_id", text(&token.id, "")),
                        row("scopes", token.scopes.clone().unwrap_or_default().join(",")),
                        row(
                            "expires_at",
                            text(&token.expires_at.map(|d| d.to_rfc3339()), "never"),
                        ),
                        row(
                            "last_used_at",
                            text(&token.last_used_at.map(|d| d.to_rfc3339()), "never"),
                        ),
                    ]
                }
                None => vec![row(
                    "token",
                    "accepted, but not among the user's named tokens (a legacy API key?)".into(),
                )],
            }
        }
        Err(error) => {
            let why = match error.status().map(|s| s.as_u16()) {
                Some(401) => {
                    format!("refused by the server (revoked, expired or unknown): {error}")
                }
                _ => format!("not checked: {error}"),
            };
            vec![row("token", why)]
        }
    }
}
