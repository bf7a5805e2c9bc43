//! `cargo xtask fetch`: get the upstream documents, store them verbatim,
//! write the normalised ones, or check that the committed files are current.

use anyhow::{Context, Result, bail};
use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    apis::{Api, UPSTREAM_DIR, UPSTREAM_EXTENSIONS},
    normalize,
};

/// Where the upstream documents come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Production's live URLs.
    Live,
    /// A folder holding `main.json`, `main-v2.json`, `tabular.yaml`, ….
    Dir(PathBuf),
    /// A base URL under which the same file names are served.
    BaseUrl(String),
}

impl Source {
    /// Reads `--from`: an `http(s)://` base URL, else a folder.
    pub fn parse(from: Option<&str>) -> Source {
        match from {
            None => Source::Live,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Source::BaseUrl(url.trim_end_matches('/').to_owned())
            }
            Some(dir) => Source::Dir(PathBuf::from(dir)),
        }
    }

    /// The `--from` argument that reproduces this source, for messages.
    fn as_argument(&self) -> String {
        match self {
            Source::Live => String::new(),
            Source::Dir(dir) => format!(" --from {}", dir.display()),
            Source::BaseUrl(url) => format!(" --from {url}"),
        }
    }
}

/// One upstream document as fetched.
pub struct Fetched {
    /// Which API it describes.
    pub api: Api,
    /// The extension it is stored under (`json` or `yaml`).
    pub extension: &'static str,
    /// The bytes exactly as served.
    pub text: String,
}

fn http_client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("datagouv-rs-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

fn download(client: &reqwest::blocking::Client, url: &str) -> Result<Option<String>> {
    let response = client
        .get(url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = response
        .error_for_status()
        .with_context(|| format!("GET {url}"))?;
    Ok(Some(
        response.text().with_context(|| format!("reading {url}"))?,
    ))
}

/// The extension a document is stored under, from its content.
fn extension_of(text: &str) -> &'static str {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        "json"
    } else {
        "yaml"
    }
}

/// Fetches one API's document from the source.
pub fn fetch_one(source: &Source, api: Api) -> Result<Fetched> {
    let stem = api.upstream_stem();
    let text = match source {
        Source::Live => download(&http_client()?, api.live_url())?
            .with_context(|| format!("{} answered 404", api.live_url()))?,
        Source::Dir(dir) => {
            let path = UPSTREAM_EXTENSIONS
                .iter()
                .map(|ext| dir.join(format!("{stem}.{ext}")))
                .find(|path| path.exists())
                .with_context(|| format!("no {stem}.json or {stem}.yaml in {}", dir.display()))?;
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        }
        Source::BaseUrl(base) => {
            let client = http_client()?;
            let mut found = None;
            for ext in UPSTREAM_EXTENSIONS {
                if let Some(text) = download(&client, &format!("{base}/{stem}.{ext}"))? {
                    found = Some(text);
                    break;
                }
            }
            found.with_context(|| format!("no {stem}.json or {stem}.yaml under {base}"))?
        }
    };
    Ok(Fetched {
        api,
        extension: extension_of(&text),
        text,
    })
}

/// Every file `fetch` writes, with its content, relative to the root.
pub fn planned_files(root: &Path, fetched: &[Fetched]) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for item in fetched {
        let upstream = normalize::parse_document(&item.text)
            .with_context(|| format!("{} is not JSON or YAML", item.api.upstream_stem()))?;
        let normalized = normalize::normalize(item.api, &upstream, root)?;
        files.push((
            PathBuf::from(format!(
                "{UPSTREAM_DIR}/{}.{}",
                item.api.upstream_stem(),
                item.extension
            )),
            item.text.clone(),
        ));
        files.push((
            PathBuf::from(item.api.normalized_path()),
            normalize::render(&normalized),
        ));
    }
    Ok(files)
}

/// Upstream copies under another extension than the one just fetched.
fn stale_upstream_files(root: &Path, fetched: &[Fetched]) -> Vec<PathBuf> {
    let mut stale = Vec::new();
    for item in fetched {
        for ext in UPSTREAM_EXTENSIONS
            .iter()
            .filter(|ext| **ext != item.extension)
        {
            let path = PathBuf::from(format!("{UPSTREAM_DIR}/{}.{ext}", item.api.upstream_stem()));
            if root.join(&path).exists() {
                stale.push(path);
            }
        }
    }
    stale
}

/// Runs `fetch`: writes the files, or with `check` compares them.
pub fn run(root: &Path, source: &Source, check: bool) -> Result<()> {
    let fetched = Api::ALL
        .iter()
        .map(|api| fetch_one(source, *api))
        .collect::<Result<Vec<_>>>()?;
    let files = planned_files(root, &fetched)?;
    let stale = stale_upstream_files(root, &fetched);
    if check {
        let mut differ = String::new();
        for (path, content) in &files {
            if fs::read_to_string(root.join(path)).ok().as_deref() != Some(content.as_str()) {
                writeln!(differ, "  {}", path.display())?;
            }
        }
        for path in &stale {
            writeln!(differ, "  {} (should not exist)", path.display())?;
        }
        if !differ.is_empty() {
            bail!(
                "the committed specs are out of date:\n{differ}run `cargo xtask fetch{}` and commit the result",
                source.as_argument()
            );
        }
        println!("specs are up to date ({} files checked)", files.len());
        return Ok(());
    }
    for (path, content) in &files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("files live in folders"))?;
        if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    for path in stale {
        fs::remove_file(root.join(&path))?;
        println!("removed {}", path.display());
    }
    Ok(())
}
