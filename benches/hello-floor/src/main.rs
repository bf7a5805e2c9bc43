//! `hello-floor URL`: GETs a udata site answer and prints its title.

#[derive(serde::Deserialize)]
struct Site {
    title: Option<String>,
    version: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://www.data.gouv.fr/api/1/site/".to_owned());
    let site: Site = reqwest::get(url).await?.error_for_status()?.json().await?;
    println!("{} {}", site.title.unwrap_or_default(), site.version.unwrap_or_default());
    Ok(())
}
