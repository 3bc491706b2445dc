//! `/search`: what the user typed, read into words and filters ([`parse_search`], pure like
//! the rest of the parser), and the job that runs it off the async workers
//! ([`run_search`]): the store's reader pool finds candidates, the world keeps those the user
//! may see and lists them in the status window.

use std::sync::Arc;

use crate::store::{SearchQuery, fts_expression};
use crate::text::channel::normalize_channel_name;
use crate::world::{AUTHOR_ERROR, UserId, World};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words of one query.
pub const MAX_WORDS: usize = 8;
/// The most results listed.
pub const MAX_RESULTS: usize = 20;
/// How many candidates the index is asked for: more than are listed, since those in channels
/// the user may not see are dropped afterwards.
pub const MAX_CANDIDATES: usize = 100;

/// What `/search` answers to an empty or unreadable query.
pub const SEARCH_USAGE: &str = "[invalid argument]\n  usage: /search WORDS [in:#chan] [from:nick] [before:2026-01-01] [after:2026-01-01]";

/// A `/search` as typed: plain words (all must match) and filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub words: Vec<String>,
    /// `in:#chan`, without the `#`.
    pub channel: Option<String>,
    /// `from:nick`.
    pub author: Option<String>,
    /// `before:DATE`, UTC midnight of that day (or `DATE HH:MM` as `DATETHH:MM`).
    pub before: Option<i64>,
    /// `after:DATE`.
    pub after: Option<i64>,
}

impl SearchRequest {
    /// The store query for this request, asking for `limit` rows.
    pub fn query(&self, limit: usize) -> SearchQuery {
        SearchQuery {
            expression: fts_expression(self.words.iter().map(String::as_str)),
            channel: self.channel.clone(),
            author: self.author.clone(),
            before: self.before,
            after: self.after,
            limit,
        }
    }
}

/// Reads what follows `/search`; the error is the one line the user reads.
pub fn parse_search(arg: &str) -> Result<SearchRequest, String> {
    if arg.chars().count() > MAX_QUERY_CHARS {
        return Err(format!(
            "[invalid argument]\n  a search is at most {MAX_QUERY_CHARS} characters"
        ));
    }
    let mut request = SearchRequest {
        words: Vec::new(),
        channel: None,
        author: None,
        before: None,
        after: None,
    };
    for token in arg.split_whitespace() {
        let lower = token.to_lowercase();
        if let Some(name) = lower.strip_prefix("in:") {
            let name = normalize_channel_name(name)
                .map_err(|problem| format!("[invalid argument]\n  in: {problem}"))?;
            request.channel = Some(name);
        } else if token.len() > 5 && lower.starts_with("from:") {
            request.author = token.get(5..).map(str::to_string);
        } else if let Some(date) = lower.strip_prefix("before:") {
            request.before = Some(parse_date(date)?);
        } else if let Some(date) = lower.strip_prefix("after:") {
            request.after = Some(parse_date(date)?);
        } else if token.chars().any(char::is_alphanumeric) {
            request.words.push(token.to_string());
        } else {
            return Err(format!(
                "[invalid argument]\n  \"{token}\" has no letter or digit to look for"
            ));
        }
    }
    if request.words.is_empty() {
        return Err(SEARCH_USAGE.to_string());
    }
    if request.words.len() > MAX_WORDS {
        return Err(format!(
            "[invalid argument]\n  a search has at most {MAX_WORDS} words"
        ));
    }
    Ok(request)
}

/// `2026-01-01` (midnight UTC) or `2026-01-01T14:30` (UTC), as unix microseconds.
fn parse_date(text: &str) -> Result<i64, String> {
    use jiff::civil::{Date, DateTime, Time};
    let parsed = Date::strptime("%Y-%m-%d", text)
        .map(|date| date.to_datetime(Time::midnight()))
        .or_else(|_| DateTime::strptime("%Y-%m-%dt%H:%M", text));
    parsed
        .ok()
        .and_then(crate::command::parse::utc)
        .ok_or_else(|| {
            format!("[invalid argument]\n  \"{text}\" is no date: write 2026-01-01 or 2026-01-01T14:30 (UTC)")
        })
}

/// Runs a search for `user` off the async workers: a permit of the store's reader pool, the
/// query on a blocking thread, then the world filters and lists the hits.
pub async fn run_search(request: SearchRequest, world: Arc<World>, user: UserId) {
    let store = world.store().clone();
    let permit = store.pool().permits().clone().acquire_owned().await.ok();
    let query = request.query(MAX_CANDIDATES);
    let task = tokio::task::spawn_blocking(move || {
        let found = store.read_pooled(|reader| reader.search(&query));
        drop(permit);
        found
    });
    match task.await {
        Ok(Ok(hits)) => world.list_search_hits(user, &request.words, &hits, MAX_RESULTS),
        Ok(Err(error)) => {
            tracing::error!(%error, "search failed");
            world.tell(
                user,
                AUTHOR_ERROR,
                "[error]\n  the search could not be run; try other words",
            );
        }
        Err(error) => {
            tracing::error!(%error, "search task failed");
            world.tell(user, AUTHOR_ERROR, "[error]\n  the search could not be run");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_filters_are_told_apart() {
        let request = parse_search(
            "deploy friday in:#ops from:Alice after:2026-01-01 before:2026-02-01T10:30",
        )
        .expect("parses");
        assert_eq!(request.words, ["deploy", "friday"]);
        assert_eq!(request.channel.as_deref(), Some("ops"));
        assert_eq!(request.author.as_deref(), Some("Alice"));
        assert_eq!(request.after, Some(1_767_225_600_000_000));
        assert_eq!(request.before, Some(1_769_941_800_000_000));
        assert_eq!(request.query(5).expression, "\"deploy\" \"friday\"");
    }

    #[test]
    fn bad_queries_get_one_clear_answer() {
        assert_eq!(parse_search(""), Err(SEARCH_USAGE.to_string()));
        assert_eq!(parse_search("in:#ops"), Err(SEARCH_USAGE.to_string()));
        assert!(parse_search("x before:yesterday").is_err_and(|e| e.contains("no date")));
        assert!(parse_search("x in:#").is_err_and(|e| e.contains("in:")));
        assert!(parse_search("***").is_err_and(|e| e.contains("no letter")));
        assert!(parse_search(&"a ".repeat(9)).is_err_and(|e| e.contains("at most 8 words")));
        assert!(parse_search(&"a".repeat(201)).is_err_and(|e| e.contains("200 characters")));
    }

    #[test]
    fn fts_operators_typed_by_the_user_stay_words() {
        let request = parse_search("NEAR(x OR \"y*").expect("parses");
        assert_eq!(request.query(1).expression, "\"NEAR(x\" \"OR\" \"\"\"y*\"");
    }
}
