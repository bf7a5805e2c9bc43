//! Reads the first rows of a CSV resource through the Tabular API.
//!
//! `cargo run -p datagouv --example tabular_rows -- <resource id>`

use datagouv::{Client, SendExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(rid) = std::env::args().nth(1) else {
        return Err("give a resource id (a UUID)".into());
    };
    let client = Client::from_env()?;
    let page = client
        .tabular()
        .get_resource_data()
        .rid(rid.as_str())
        .send()
        .value()
        .await?;
    for row in page.data.unwrap_or_default() {
        println!("{}", serde_json::Value::Object(row));
    }
    Ok(())
}
