//! `/tz` and the day change: a reader in another zone than UTC is not shown the server's
//! day-change lines (posted into every channel at UTC midnight, and stored), and the first
//! message of each day in their zone is marked on their copy, so their screen draws the
//! day-change line before it, at their own midnight.

use std::sync::Arc;

use super::{AUTHOR_BROADCAST, Message};
use crate::term::zone::{Zone, shown_micros};

/// How the server's day-change line starts, as stored (`server.rs` posts it).
const DAY_CHANGE_PREFIX: &str = "\x0b6day changed to ";

/// The most messages looked back for the one before a range (skipping day-change lines).
const LOOK_BACK: usize = 8;

/// Whether `message` is the server's day-change line.
pub fn is_day_change(message: &Message) -> bool {
    message.author == AUTHOR_BROADCAST && message.text.starts_with(DAY_CHANGE_PREFIX)
}

/// The text of the day-change line for `date`, as the server words it.
pub fn day_change_text(date: jiff::civil::Date) -> String {
    format!("{DAY_CHANGE_PREFIX}\x02{date}")
}

/// The date of `unix_micros` in `zone`.
fn local_date(zone: &Zone, unix_micros: i64) -> Option<jiff::civil::Date> {
    let shown = jiff::Timestamp::from_microsecond(shown_micros(Some(zone), unix_micros)).ok()?;
    Some(jiff::tz::TimeZone::UTC.to_datetime(shown).date())
}

/// The message before a range starting at index `from` of a channel's `messages`, for
/// [`local_days`]: the nearest that is not a day-change line, looking back a few.
pub(super) fn message_before(
    messages: &std::collections::VecDeque<Arc<Message>>,
    from: usize,
) -> Option<&Message> {
    messages
        .range(..from.min(messages.len()))
        .rev()
        .take(LOOK_BACK)
        .find(|m| !is_day_change(m))
        .map(|m| &**m)
}

/// `messages` (consecutive in their channel, oldest first) as a reader in `zone` sees them:
/// without the server's day-change lines, and with the first message of each of the reader's
/// days marked ([`Message::local_day`], on a copy). `before` is the message before the
/// first, if known; without it the first is never marked.
pub fn local_days(
    messages: Vec<Arc<Message>>,
    before: Option<&Message>,
    zone: &Zone,
) -> Vec<Arc<Message>> {
    let mut previous = before.map(|m| local_date(zone, m.unix_micros));
    messages
        .into_iter()
        .filter(|m| !is_day_change(m))
        .map(|m| {
            let day = local_date(zone, m.unix_micros);
            let starts = day.is_some() && previous.is_some_and(|p| p != day);
            previous = Some(day);
            if starts {
                let mut copy = Message::clone(&m);
                copy.local_day = day;
                Arc::new(copy)
            } else {
                m
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Origin;

    /// 2026-01-14 22:30 UTC: 23:30 in Berlin (UTC+1 in winter).
    const LATE: i64 = 1_768_429_800_000_000;
    const MINUTE: i64 = 60_000_000;

    fn line(seq: u64, unix_micros: i64, author: &str, text: &str) -> Arc<Message> {
        Arc::new(Message {
            seq,
            unix_micros,
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

    #[test]
    fn the_utc_line_goes_and_the_first_message_after_local_midnight_is_marked() {
        let berlin = Zone::named("Europe/Berlin").expect("tz database");
        let messages = vec![
            line(1, LATE, "al", "before midnight in berlin"),
            line(2, LATE + 40 * MINUTE, "al", "after midnight in berlin"),
            line(3, LATE + 41 * MINUTE, "al", "same day"),
            line(
                4,
                LATE + 90 * MINUTE,
                AUTHOR_BROADCAST,
                &day_change_text(jiff::civil::date(2026, 1, 15)),
            ),
            line(5, LATE + 91 * MINUTE, "al", "after utc midnight"),
        ];
        let shown = local_days(messages.clone(), None, &berlin);
        let marks: Vec<(u64, Option<jiff::civil::Date>)> =
            shown.iter().map(|m| (m.seq, m.local_day)).collect();
        assert_eq!(
            marks,
            [
                (1, None),
                (2, Some(jiff::civil::date(2026, 1, 15))),
                (3, None),
                (5, None),
            ]
        );
        // With the message before known, the first of a range is marked too.
        let from_two = local_days(messages[1..].to_vec(), Some(&messages[0]), &berlin);
        assert_eq!(from_two[0].local_day, Some(jiff::civil::date(2026, 1, 15)));
        let from_three = local_days(messages[2..].to_vec(), Some(&messages[1]), &berlin);
        assert_eq!(from_three[0].local_day, None);
        // A plain broadcast is no day change.
        assert!(!is_day_change(&line(
            9,
            0,
            AUTHOR_BROADCAST,
            "server restarting"
        )));
        let deque: std::collections::VecDeque<Arc<Message>> = messages.into_iter().collect();
        assert_eq!(message_before(&deque, 4).map(|m| m.seq), Some(3));
        assert_eq!(message_before(&deque, 0).map(|m| m.seq), None);
    }
}
