//! Lists the datasets of an organization, lazily, page by page.
//!
//! `cargo run -p datagouv --example list_datasets -- <organization id or slug>`

use datagouv::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let organization = std::env::args().nth(1).unwrap_or("premier-ministre".into());
    let client = Client::from_env()?;
    let list = client
        .main()
        .list_datasets()
        .organization(organization)
        .page_size(100);
    let mut datasets = list.items().prefetch(2).max_items(250);
    while let Some(dataset) = datasets.try_next().await? {
        println!("{}\t{}", dataset.id, dataset.title);
    }
    Ok(())
}
