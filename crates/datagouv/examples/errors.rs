//! What a failed call looks like: the status, the server's message, a hint.
//!
//! `cargo run -p datagouv --example errors`

use datagouv::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = Client::from_env()?;
    let missing = client
        .main()
        .get_dataset()
        .dataset("this-dataset-does-not-exist");
    match missing.send().value().await {
        Ok(dataset) => println!("found {}", dataset.title),
        Err(error) => eprintln!("status: {:?}\nmessage: {error}", error.status()),
    }
    if let Some(limit) = client.rate_limit() {
        eprintln!(
            "rate limit: {:?} of {:?} left",
            limit.remaining, limit.limit
        );
    }
    Ok(())
}
