//! `/hide joins`: join and part lines folded, for the users who ask, into one line per
//! channel and minute when their view is copied out (r0c's unfiltered lines stay the default
//! and stay stored as they are); and the two settings added to the saved toggles (`/hide
//! joins`, `/tz`), as text after r0c's fields.

use std::sync::Arc;

use super::{AUTHOR_SYSTEM, Message};
use crate::term::zone::Zone;

/// Names a folded line lists before it only counts the rest.
const FOLD_NAMES: usize = 6;

/// One minute, in microseconds.
const MINUTE: i64 = 60_000_000;

/// The saved form of `hide_joins` and `zone`, appended to r0c's fields: nothing while both
/// are at their defaults (so a line stays r0c's), else ` H ZONE` (`-` for UTC).
pub fn extra_prefs_to_text(prefs: &super::Prefs) -> String {
    if !prefs.hide_joins && prefs.zone.is_none() {
        return String::new();
    }
    format!(
        " {} {}",
        u8::from(prefs.hide_joins),
        prefs.zone.as_ref().map_or("-", Zone::name)
    )
}

/// Reads what [`extra_prefs_to_text`] appended: none or two fields. A zone the database no
/// longer knows reads as UTC rather than losing the user's other settings.
pub fn extra_prefs_from(fields: &[&str]) -> Option<(bool, Option<Zone>)> {
    match fields {
        [] => Some((false, None)),
        [hide, zone] => {
            let hide = match *hide {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            Some((hide, Zone::named(zone)))
        }
        _ => None,
    }
}

/// Whether `message` is a join or part line, and which, with the nick.
fn join_noise(message: &Message) -> Option<(bool, &str)> {
    if message.author != AUTHOR_SYSTEM {
        return None;
    }
    let (joined, rest) = if let Some(rest) = message.text.strip_suffix("\x02 has joined") {
        (true, rest.strip_prefix("\x0ba")?)
    } else {
        (
            false,
            message
                .text
                .strip_suffix("\x02 has left")?
                .strip_prefix("\x0bb")?,
        )
    };
    Some((joined, rest))
}

/// The minute a message was posted in.
fn minute(message: &Message) -> i64 {
    message.unix_micros.div_euclid(MINUTE)
}

/// The minute being folded: the index in the output of its standing line (if shown), the
/// minute, and the nicks that joined and left in it.
type Minute = (Option<usize>, i64, Vec<String>, Vec<String>);

/// Folds the join and part lines of `messages` (one channel's, by sequence number): per
/// minute, the first such line stands for them all (its text lists who joined and who left)
/// and the others are dropped; then messages numbered below `shown_from` are dropped too, so a
/// caller can pass the start of the first minute as context and a line folded into one already
/// shown stays hidden. A message that is the only one of its minute is kept as it is.
pub fn fold_joins(messages: Vec<Arc<Message>>, shown_from: u64) -> Vec<Arc<Message>> {
    let mut out: Vec<Arc<Message>> = Vec::with_capacity(messages.len());
    let mut current: Option<Minute> = None;
    let flush = |out: &mut Vec<Arc<Message>>, current: Option<Minute>| {
        if let Some((Some(index), _, joined, left)) = current
            && joined.len() + left.len() > 1
            && let Some(first) = out.get_mut(index)
        {
            let mut folded = Message::clone(first);
            folded.text = folded_text(&joined, &left).into();
            *first = Arc::new(folded);
        }
    };
    for message in messages {
        let Some((joined, nick)) = join_noise(&message) else {
            if message.seq >= shown_from {
                out.push(message);
            }
            continue;
        };
        let nick = nick.to_string();
        match current.as_mut() {
            Some((_, at, joins, parts)) if *at == minute(&message) => {
                if joined { joins } else { parts }.push(nick);
            }
            _ => {
                flush(&mut out, current.take());
                let index = (message.seq >= shown_from).then_some(out.len());
                let at = minute(&message);
                let (joins, parts) = if joined {
                    (vec![nick], Vec::new())
                } else {
                    (Vec::new(), vec![nick])
                };
                if index.is_some() {
                    out.push(message);
                }
                current = Some((index, at, joins, parts));
            }
        }
    }
    flush(&mut out, current);
    out
}

/// The most messages before a range that are read as context for its first minute.
const MAX_CONTEXT: usize = 500;

/// Messages `from..to` of a channel's `messages` (in memory, by sequence number), folded by
/// [`fold_joins`] with the earlier messages of the first minute as context.
pub(super) fn folded_range(
    messages: &std::collections::VecDeque<Arc<Message>>,
    from: usize,
    to: usize,
) -> Vec<Arc<Message>> {
    let Some(first) = messages.get(from) else {
        return Vec::new();
    };
    let (first_seq, first_minute) = (first.seq, minute(first));
    let mut start = from;
    while start > 0
        && from - start < MAX_CONTEXT
        && messages
            .get(start - 1)
            .is_some_and(|m| minute(m) == first_minute)
    {
        start -= 1;
    }
    fold_joins(messages.range(start..to).cloned().collect(), first_seq)
}

/// The folded line standing before `from` for the first minute of messages `from..to`,
/// with the names of the joins and parts of that minute in `from..to` added: a screen that
/// showed the line when it listed fewer names repaints it with this. `None` when no join or
/// part of `from..to` folds into a line before `from`. Reads at most [`MAX_CONTEXT`]
/// messages before `from`.
pub(super) fn refolded_before(
    messages: &std::collections::VecDeque<Arc<Message>>,
    from: usize,
    to: usize,
) -> Option<Arc<Message>> {
    let first_minute = minute(messages.get(from)?);
    let absorbed = messages
        .range(from..to.min(messages.len()))
        .take_while(|m| minute(m) == first_minute)
        .any(|m| join_noise(m).is_some());
    if !absorbed {
        return None;
    }
    let mut start = from;
    while start > 0
        && from - start < MAX_CONTEXT
        && messages
            .get(start - 1)
            .is_some_and(|m| minute(m) == first_minute)
    {
        start -= 1;
    }
    let standing = messages
        .range(start..from)
        .find(|m| join_noise(m).is_some())?
        .seq;
    let end = messages
        .range(from..to.min(messages.len()))
        .take_while(|m| minute(m) == first_minute)
        .count();
    fold_joins(messages.range(start..from + end).cloned().collect(), 0)
        .into_iter()
        .find(|m| m.seq == standing)
}

/// `alice, bob joined; carol left` (at most [`FOLD_NAMES`] names, then a count).
fn folded_text(joined: &[String], left: &[String]) -> String {
    let list = |nicks: &[String]| {
        let mut unique: Vec<&str> = Vec::new();
        for nick in nicks {
            if !unique.contains(&nick.as_str()) {
                unique.push(nick);
            }
        }
        let mut text = unique
            .iter()
            .take(FOLD_NAMES)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if unique.len() > FOLD_NAMES {
            text.push_str(&format!(" and {} more", unique.len() - FOLD_NAMES));
        }
        text
    };
    let mut parts = Vec::new();
    if !joined.is_empty() {
        parts.push(format!("{} joined", list(joined)));
    }
    if !left.is_empty() {
        parts.push(format!("{} left", list(left)));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Origin;

    fn line(seq: u64, second: i64, author: &str, text: &str) -> Arc<Message> {
        Arc::new(Message {
            seq,
            unix_micros: 1_800_000_000_000_000 + second * 1_000_000,
            author: author.into(),
            text: text.into(),
            origin: Origin::Internal,
            kind: Default::default(),
            ticket: 0,
            lines: Default::default(),
            mention_index: Default::default(),
            local_day: None,
        })
    }

    fn joined(seq: u64, second: i64, nick: &str) -> Arc<Message> {
        line(seq, second, AUTHOR_SYSTEM, &super::super::join_text(nick))
    }

    fn left(seq: u64, second: i64, nick: &str) -> Arc<Message> {
        line(
            seq,
            second,
            AUTHOR_SYSTEM,
            &format!("\x0bb{nick}\x02 has left"),
        )
    }

    fn texts(messages: &[Arc<Message>]) -> Vec<(u64, String)> {
        messages
            .iter()
            .map(|m| (m.seq, m.text.to_string()))
            .collect()
    }

    #[test]
    fn one_line_per_minute_names_who_came_and_went() {
        // 1_800_000_000 s starts a minute: seconds 0..59 are one minute, 60.. the next.
        let messages = vec![
            joined(1, 0, "alice"),
            line(2, 1, "alice", "hi"),
            joined(3, 2, "bob"),
            left(4, 30, "carol"),
            joined(5, 65, "dave"),
        ];
        let folded = fold_joins(messages, 0);
        assert_eq!(
            texts(&folded),
            [
                (1, "alice, bob joined; carol left".to_string()),
                (2, "hi".to_string()),
                (5, "\x0badave\x02 has joined".to_string()),
            ]
        );
    }

    #[test]
    fn a_standing_line_is_given_again_with_the_names_folded_into_it_since() {
        let messages: std::collections::VecDeque<Arc<Message>> = [
            joined(1, 0, "alice"),
            line(2, 1, "alice", "hi"),
            joined(3, 2, "bob"),
            line(4, 3, "bob", "yo"),
            joined(5, 65, "dave"),
        ]
        .into_iter()
        .collect();
        // Bob's join (index 2) folds into alice's line, shown before it.
        let refolded = refolded_before(&messages, 2, 4).map(|m| (m.seq, m.text.to_string()));
        assert_eq!(refolded, Some((1, "alice, bob joined".to_string())));
        // Nothing new folds into it: a plain line, or a join of another minute.
        assert_eq!(refolded_before(&messages, 3, 4), None);
        assert_eq!(refolded_before(&messages, 4, 5), None);
        // No line before the range to fold into, or nothing in it.
        assert_eq!(refolded_before(&messages, 0, 5), None);
        assert_eq!(refolded_before(&messages, 5, 5), None);
    }

    #[test]
    fn a_line_folded_into_one_already_shown_stays_hidden() {
        let messages = vec![
            joined(1, 0, "alice"),
            joined(2, 5, "bob"),
            line(3, 6, "bob", "yo"),
        ];
        assert_eq!(texts(&fold_joins(messages, 2)), [(3, "yo".to_string())]);
    }

    #[test]
    fn other_system_lines_and_many_names_are_handled() {
        let mut messages = vec![line(1, 0, AUTHOR_SYSTEM, "topic changed")];
        messages.extend((0..9).map(|i| joined(2 + i, 1, &format!("n{i}"))));
        messages.push(joined(11, 2, "n0"));
        let folded = fold_joins(messages, 0);
        assert_eq!(
            texts(&folded),
            [
                (1, "topic changed".to_string()),
                (2, "n0, n1, n2, n3, n4, n5 and 3 more joined".to_string()),
            ]
        );
    }

    #[test]
    fn extra_prefs_round_trip_and_stay_away_by_default() {
        let mut prefs = crate::world::Prefs {
            bell: 1,
            at_all: true,
            hilight_log: true,
            colored_nicks: false,
            margins: true,
            hide_joins: false,
            zone: None,
        };
        assert_eq!(extra_prefs_to_text(&prefs), "");
        prefs.hide_joins = true;
        prefs.zone = Zone::named("Europe/Berlin");
        assert_eq!(extra_prefs_to_text(&prefs), " 1 Europe/Berlin");
        assert_eq!(
            extra_prefs_from(&["1", "Europe/Berlin"]),
            Some((true, prefs.zone.clone()))
        );
        assert_eq!(extra_prefs_from(&["0", "-"]), Some((false, None)));
        assert_eq!(extra_prefs_from(&["2", "-"]), None);
        assert_eq!(extra_prefs_from(&["1"]), None);
    }
}
