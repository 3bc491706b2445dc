//! `/search`: what the user typed, read into words and filters ([`parse_search`], pure like
//! the rest of the parser), and the job that runs it off the async workers
//! ([`run_search`]): the store's reader pool finds candidates, the world keeps those the user
//! may see and lists them in the status window.

use std::sync::{Arc, Mutex};

use jiff::civil::DateTime;

use crate::store::{SearchQuery, fts_expression};
use crate::term::zone::{Zone, typed_micros};
use crate::text::channel::normalize_channel_name;
use crate::world::{AUTHOR_ERROR, Found, UserId, World};

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
    /// `before:DATE`: midnight of that day (or `DATETHH:MM`), in the user's zone.
    pub before: Option<DateTime>,
    /// `after:DATE`.
    pub after: Option<DateTime>,
}

impl SearchRequest {
    /// The store query for this request, asking for `limit` rows, with its dates read in
    /// the user's `zone` (UTC without one) and the searcher's `principal` (whose own stored
    /// conversations are searched too; `None` for a guest).
    pub fn query(
        &self,
        limit: usize,
        zone: Option<&Zone>,
        principal: Option<String>,
    ) -> SearchQuery {
        // A date too far out for a moment bounds nothing on its side.
        let moment = |civil: Option<DateTime>| civil.and_then(|c| typed_micros(zone, c));
        SearchQuery {
            expression: fts_expression(self.words.iter().map(String::as_str)),
            channel: self.channel.clone(),
            author: self.author.clone(),
            before: moment(self.before),
            after: moment(self.after),
            principal,
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

/// `2026-01-01` (midnight) or `2026-01-01T14:30`, a civil time the user's zone reads later.
fn parse_date(text: &str) -> Result<DateTime, String> {
    use jiff::civil::{Date, Time};
    Date::strptime("%Y-%m-%d", text)
        .map(|date| date.to_datetime(Time::midnight()))
        .or_else(|_| DateTime::strptime("%Y-%m-%dt%H:%M", text))
        .map_err(|_| {
            format!("[invalid argument]\n  \"{text}\" is no date: write 2026-01-01 or 2026-01-01T14:30 (in your /tz zone)")
        })
}

/// Runs a search for `user` off the async workers: a permit of the store's reader pool, the
/// query on a blocking thread, then the world filters and lists the hits, which replace
/// `results` (what `/g rN` goes to).
pub async fn run_search(
    request: SearchRequest,
    world: Arc<World>,
    user: UserId,
    results: Arc<Mutex<Vec<Found>>>,
) {
    let store = world.store().clone();
    let (zone, principal) = world.search_context(user);
    let query = request.query(MAX_CANDIDATES, zone.as_ref(), principal);
    let permit = store.pool().permits().clone().acquire_owned().await.ok();
    let task = tokio::task::spawn_blocking(move || {
        let found = store.read_pooled(|reader| reader.search(&query));
        drop(permit);
        found
    });
    match task.await {
        Ok(Ok(hits)) => {
            let found = world.list_search_hits(user, &request.words, &hits, MAX_RESULTS);
            if let Ok(mut results) = results.lock() {
                *results = found;
            }
        }
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
        let query = request.query(5, None, None);
        assert_eq!(query.after, Some(1_767_225_600_000_000));
        assert_eq!(query.before, Some(1_769_941_800_000_000));
        assert_eq!(query.expression, "\"deploy\" \"friday\"");
        // In Berlin (UTC+1 in winter) the same dates are an hour earlier.
        let berlin = Zone::named("Europe/Berlin").expect("tz database");
        let query = request.query(5, Some(&berlin), Some("account:al".into()));
        assert_eq!(query.after, Some(1_767_225_600_000_000 - 3_600_000_000));
        assert_eq!(query.before, Some(1_769_941_800_000_000 - 3_600_000_000));
        assert_eq!(query.principal.as_deref(), Some("account:al"));
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
        assert_eq!(
            request.query(1, None, None).expression,
            "\"NEAR(x\" \"OR\" \"\"\"y*\""
        );
    }
}
