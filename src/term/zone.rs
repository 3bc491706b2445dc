//! The time zone a user reads timestamps in (`/tz`): an IANA name from jiff's time zone
//! database (the system's `/usr/share/zoneinfo`), and the shift it makes to a UTC moment, so
//! the renderers keep r0c's formats and only move the clock.

use jiff::tz::TimeZone;

/// The longest zone name accepted (the longest IANA name is about 30 characters).
pub const MAX_ZONE_CHARS: usize = 40;

/// A named time zone; two are equal when their names are.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    zone: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl Zone {
    /// The zone named `name` (IANA, e.g. `Europe/Berlin`; case as the database spells it is
    /// not required), or `None` if the database has no such zone.
    pub fn named(name: &str) -> Option<Zone> {
        if name.is_empty() || name.chars().count() > MAX_ZONE_CHARS {
            return None;
        }
        let zone = jiff::tz::db().get(name).ok()?;
        let name = zone.iana_name().unwrap_or(name).to_string();
        Some(Zone { name, zone })
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `unix_micros` moved by the zone's offset at that moment: formatting the result as UTC
    /// shows the local time.
    pub fn local_micros(&self, unix_micros: i64) -> i64 {
        let Ok(moment) = jiff::Timestamp::from_microsecond(unix_micros) else {
            return unix_micros;
        };
        let offset = i64::from(self.zone.to_offset(moment).seconds());
        unix_micros.saturating_add(offset.saturating_mul(1_000_000))
    }
}

/// `unix_micros` as shown to a user in `zone` (UTC without one).
pub fn shown_micros(zone: Option<&Zone>, unix_micros: i64) -> i64 {
    zone.map_or(unix_micros, |z| z.local_micros(unix_micros))
}

/// The moment a civil date and time typed by a user in `zone` (UTC without one) names, in
/// unix microseconds; `None` if it is out of range. A time that a clock change skips or
/// repeats is read as jiff's "compatible" rule does: the later reading of a skipped time,
/// the earlier of a repeated one.
pub fn typed_micros(zone: Option<&Zone>, civil: jiff::civil::DateTime) -> Option<i64> {
    let timestamp = match zone {
        Some(zone) => zone.zone.to_timestamp(civil),
        None => TimeZone::UTC.to_timestamp(civil),
    };
    timestamp.ok().map(|t| t.as_microsecond())
}

/// Today's date in `zone` (UTC without one) at `now`.
pub fn today(zone: Option<&Zone>, now: jiff::Timestamp) -> jiff::civil::Date {
    match zone {
        Some(zone) => zone.zone.to_datetime(now).date(),
        None => TimeZone::UTC.to_datetime(now).date(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-15 12:00:00 UTC and 2026-07-15 12:00:00 UTC.
    const WINTER: i64 = 1_768_478_400_000_000;
    const SUMMER: i64 = 1_784_116_800_000_000;

    #[test]
    fn berlin_is_one_hour_ahead_in_winter_and_two_in_summer() {
        let berlin = Zone::named("Europe/Berlin").expect("the system has the tz database");
        assert_eq!(berlin.name(), "Europe/Berlin");
        assert_eq!(berlin.local_micros(WINTER) - WINTER, 3_600_000_000);
        assert_eq!(berlin.local_micros(SUMMER) - SUMMER, 7_200_000_000);
        assert_eq!(shown_micros(None, WINTER), WINTER);
    }

    #[test]
    fn a_typed_date_is_midnight_in_the_users_zone() {
        let berlin = Zone::named("Europe/Berlin").expect("the system has the tz database");
        let midnight = jiff::civil::date(2026, 1, 15).to_datetime(jiff::civil::Time::midnight());
        // 2026-01-15 00:00 in Berlin (UTC+1) is 2026-01-14 23:00 UTC.
        let utc = typed_micros(None, midnight).expect("in range");
        assert_eq!(utc, WINTER - 12 * 3_600_000_000);
        assert_eq!(
            typed_micros(Some(&berlin), midnight),
            Some(utc - 3_600_000_000)
        );
        // 23:30 UTC on the 14th is already the 15th in Berlin.
        let late = jiff::Timestamp::from_microsecond(utc - 1_800_000_000).expect("moment");
        assert_eq!(today(None, late), jiff::civil::date(2026, 1, 14));
        assert_eq!(today(Some(&berlin), late), jiff::civil::date(2026, 1, 15));
    }

    #[test]
    fn unknown_or_odd_names_are_refused() {
        assert_eq!(Zone::named("Mars/Olympus"), None);
        assert_eq!(Zone::named(""), None);
        assert_eq!(Zone::named(&"A".repeat(41)), None);
        assert_eq!(Zone::named("../../etc/passwd"), None);
    }
}
