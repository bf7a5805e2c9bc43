//! Reads the first rows of a CSV resource through the Tabular API.
//!
//! `cargo run -p datagouv --example tabular_rows -- <resource id>`

use datagouv::prelude::*;
use serde_json::{Map, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rid = std::env::args()
        .nth(1)
        .ok_or("give a resource id (a UUID)")?;
    let client = Client::from_env()?;
    let mut rows = client
        .tabular_resource(&rid)?
        .rows::<Map<String, Value>>()
        .take(20);
    while let Some(row) = rows.try_next().await? {
        println!("{}", Value::Object(row));
    }
    Ok(())
}
