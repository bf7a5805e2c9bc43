//! What a failed call looks like: the status, the server's message, a hint.
//!
//! `cargo run -p datagouv --example errors`

use datagouv::{Client, SendExt};

#[tokio::main]
async fn main() -> Result<(), datagouv::Error> {
    let client = Client::from_env()?;
    match client
        .main()
        .get_dataset()
        .dataset("this-dataset-does-not-exist")
        .send()
        .value()
        .await
    {
        Ok(dataset) => println!("found {:?}", dataset.title),
        Err(error) => {
            eprintln!("status: {:?}", error.status());
            eprintln!("message: {error}");
        }
    }
    if let Some(limit) = client.rate_limit() {
        eprintln!(
            "rate limit: {} of {:?} left",
            limit.remaining.unwrap_or_default(),
            limit.limit
        );
    }
    Ok(())
}
