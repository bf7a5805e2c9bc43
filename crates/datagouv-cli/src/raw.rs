//! `datagouv api get|post|put|patch|delete <path>`: any Main API request,
//! JSON in and out, through `Client::raw` (same key handling, redirects and
//! retries as every other command).

use datagouv::Client;
use reqwest::Method;
use serde_json::Value;
use std::io::{Read, Write};

use crate::{
    cli::{ApiArgs, ApiCommand},
    error::CliError,
    output::{Format, Output, Record},
};

/// Runs an `api` command.
pub async fn run(client: &Client, command: ApiCommand, output: &Output) -> Result<(), CliError> {
    let (method, args) = match command {
        ApiCommand::Get(args) => (Method::GET, args),
        ApiCommand::Post(args) => (Method::POST, args),
        ApiCommand::Put(args) => (Method::PUT, args),
        ApiCommand::Patch(args) => (Method::PATCH, args),
        ApiCommand::Delete(args) => (Method::DELETE, args),
    };
    let ApiArgs { path, data } = args;
    let body = data.as_deref().map(read_body).transpose()?;
    let response = client.raw(method, &path, body).await?;
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CliError::from(datagouv::Error::Transport(e)))?;
    if bytes.is_empty() {
        return Ok(());
    }
    let value = if is_json {
        serde_json::from_slice::<Value>(&bytes).ok()
    } else {
        None
    };
    let Some(value) = value else {
        // Not JSON (CSV, RDF, …): the body as it came.
        std::io::stdout().lock().write_all(&bytes)?;
        return Ok(());
    };
    // JSON in, JSON out, unless another format is asked for.
    let output = output.defaulting_to(Format::Json);
    match value {
        value if output.format() == Format::Json && output.fields().is_empty() => {
            let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
            writeln!(std::io::stdout().lock(), "{text}")?;
            Ok(())
        }
        Value::Array(items) => output.print(records(&items)?, None).await,
        // A page: its items.
        Value::Object(mut map) if map.get("data").is_some_and(Value::is_array) => {
            let items = match map.remove("data") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            output.print(records(&items)?, None).await
        }
        value => {
            output
                .print_one(Record::from_serialize(&value)?, None)
                .await
        }
    }
}

fn records(items: &[Value]) -> Result<Vec<Record>, CliError> {
    items.iter().map(Record::from_serialize).collect()
}

/// Reads `--data`: JSON text, `@file`, or `@-` for stdin; refused before
/// any request when it is not JSON.
fn read_body(data: &str) -> Result<Value, CliError> {
    let (text, origin) = match data.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read the body from stdin: {e}")))?;
            (text, "stdin".to_owned())
        }
        Some(file) => (
            std::fs::read_to_string(file)
                .map_err(|e| CliError::usage(format!("cannot read the body from {file}: {e}")))?,
            file.to_owned(),
        ),
        None => (data.to_owned(), "--data".to_owned()),
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!("the body from {origin} is not JSON: {e}"))
            .with_hint("--data takes JSON text, @file or @- (stdin)")
    })
}
