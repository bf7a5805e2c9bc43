//! Lists the datasets of an organization, lazily, page by page.
//!
//! `cargo run -p datagouv --example list_datasets -- <organization id or slug>`

use datagouv::{Client, Paginator};
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), datagouv::Error> {
    let organization = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "premier-ministre".to_owned());
    let client = Client::from_env()?;
    let main = client.main().clone();
    let mut datasets = Paginator::new(move |page| {
        let (main, organization) = (main.clone(), organization.clone());
        async move {
            main.list_datasets()
                .organization(organization)
                .page(page)
                .page_size(100)
                .send()
                .await
        }
    })
    .prefetch(2)
    .max_items(250)
    .items();
    while let Some(dataset) = datasets.try_next().await? {
        println!(
            "{}\t{}",
            dataset.id.unwrap_or_default(),
            dataset.title.unwrap_or_default()
        );
    }
    Ok(())
}
