//! Catalog searches (datasets, dataservices, reuses, topics) through udata's
//! API v2 `…/search/` endpoints, whose search requires every word of `q`.
//!
//! Users (and models) add generic words to their questions — "données",
//! "fichier csv" — that records rarely hold, and then nothing matches. So,
//! as data.gouv.fr's own MCP server does, those words are left out of the
//! query sent; when what is left finds nothing, the words as given are
//! tried. A query made only of such words lists everything, as an empty
//! query does.

use datagouv::Error;
use serde_json::Value;

use super::DatagouvMcp;
use crate::api_path::ApiPath;

/// Words left out of search queries (compared in lower case): generic
/// words about data and file formats, which udata's every-word search turns
/// into "nothing found".
const STOP_WORDS: [&str; 14] = [
    "données", "donnée", "donnees", "donnee", "fichier", "fichiers", "tableau", "tableaux", "csv",
    "excel", "xlsx", "xls", "json", "xml",
];

/// `query` without its stop words, words separated by one space.
pub(crate) fn without_stop_words(query: &str) -> String {
    query
        .split_whitespace()
        .filter(|word| !STOP_WORDS.contains(&word.to_lowercase().as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A search's answer and the query that found it.
pub(super) struct Searched {
    /// udata's page: `data`, `total`.
    pub found: Value,
    /// `total`.
    pub total: u64,
    /// The `q` sent for this answer (empty: none).
    pub sent: String,
}

impl Searched {
    /// A line saying what was searched when it differs from what was asked.
    pub fn note(&self, asked: &str) -> String {
        if self.sent == asked.split_whitespace().collect::<Vec<_>>().join(" ") {
            return String::new();
        }
        if self.sent.is_empty() {
            format!(
                "(Searched with no words: '{asked}' holds only generic words such as 'données' or \
                 'csv', which records rarely contain.)\n"
            )
        } else {
            format!(
                "(Searched for '{}': generic words such as 'données' or 'csv' are left out, since \
                 every word must match.)\n",
                self.sent
            )
        }
    }
}

impl DatagouvMcp {
    /// A v2 search below `endpoint` (`datasets/search`) with `params`
    /// besides `q`, `page` and `page_size`: `query` without its stop words,
    /// then, when that finds nothing, `query` as given.
    pub(super) async fn search(
        &self,
        endpoint: &'static str,
        query: &str,
        (page, size): (u64, u64),
        params: &[(&'static str, Option<String>)],
    ) -> Result<Searched, Error> {
        let cleaned = without_stop_words(query);
        let asked = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut attempts = vec![cleaned.clone()];
        if cleaned != asked && !cleaned.is_empty() {
            attempts.push(asked);
        }
        let mut last = None;
        for sent in attempts {
            let mut pairs: Vec<(&str, Option<String>)> = vec![
                ("q", (!sent.is_empty()).then(|| sent.clone())),
                ("page", Some(page.to_string())),
                ("page_size", Some(size.to_string())),
            ];
            pairs.extend(params.iter().cloned());
            let found = self.v2(&ApiPath::new(endpoint).query(&pairs)).await?;
            let total = found["total"].as_u64().unwrap_or(0);
            let searched = Searched { found, total, sent };
            if total > 0 {
                return Ok(searched);
            }
            last = Some(searched);
        }
        Ok(last.expect("one attempt at least"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_words_are_left_out_of_queries() {
        assert_eq!(
            without_stop_words("Données  transport CSV fichier"),
            "transport"
        );
        assert_eq!(
            without_stop_words("qualité de l'air données json"),
            "qualité de l'air"
        );
        assert_eq!(without_stop_words("fichiers Excel"), "");
        assert_eq!(without_stop_words("élections"), "élections");
    }
}
