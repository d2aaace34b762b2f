//! Times in the reader's time zone, said the way people say them ("14:05",
//! "Yesterday", "Monday", "24 Nov"), the same on the server and in the browser.
//!
//! The browser keeps its UTC offset in a cookie, so server rendering formats times as
//! the browser will. The [`Clock`] a page was rendered with (offset and today's date)
//! travels in the page, so hydration finds the same text even across midnight.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The reader's time zone (as an offset) and their date today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Minutes east of UTC.
    pub offset: i32,
    pub today: NaiveDate,
}

impl Clock {
    /// The clock at `now` for a reader `offset` minutes east of UTC.
    pub fn at(now: DateTime<Utc>, offset: i32) -> Self {
        Self {
            offset,
            today: local(now, offset).date_naive(),
        }
    }

    /// The reader's date at `at`.
    pub fn date(&self, at: DateTime<Utc>) -> NaiveDate {
        local(at, self.offset).date_naive()
    }

    /// `14:05`. (Formatted by hand: chrono's format strings cost the browser bundle.)
    pub fn time(&self, at: DateTime<Utc>) -> String {
        let t = local(at, self.offset);
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    /// `24 Nov 2026, 14:05`, for tooltips.
    pub fn full(&self, at: DateTime<Utc>) -> String {
        let t = local(at, self.offset);
        format!(
            "{} {} {}, {:02}:{:02}",
            t.day(),
            MONTHS[t.month0() as usize],
            t.year(),
            t.hour(),
            t.minute()
        )
    }

    /// A day heading: `Today`, `Yesterday`, a weekday within the last week,
    /// `24 Nov` this year, `24 Nov 2025` before.
    pub fn day(&self, date: NaiveDate) -> String {
        let days_ago = (self.today - date).num_days();
        match days_ago {
            0 => "Today".to_string(),
            1 => "Yesterday".to_string(),
            2..=6 => WEEKDAYS[date.weekday().num_days_from_monday() as usize].to_string(),
            _ if date.year() == self.today.year() => {
                format!("{} {}", date.day(), MONTHS[date.month0() as usize])
            }
            _ => format!(
                "{} {} {}",
                date.day(),
                MONTHS[date.month0() as usize],
                date.year()
            ),
        }
    }

    /// A short time for lists: `14:05` today, otherwise the day (`Yesterday`, `Mon`,
    /// `24 Nov`…).
    pub fn short(&self, at: DateTime<Utc>) -> String {
        let date = self.date(at);
        match (self.today - date).num_days() {
            0 => self.time(at),
            2..=6 => WEEKDAYS[date.weekday().num_days_from_monday() as usize][..3].to_string(),
            _ => self.day(date),
        }
    }
}

fn local(at: DateTime<Utc>, offset_minutes: i32) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    at.with_timezone(&offset)
}

/// The clock to render this page with. On the server: the reader's offset from their
/// cookie (UTC when unknown) and the current time. In the browser: the one the
/// server put in the page, so hydration renders the same text.
pub fn page_clock() -> Clock {
    #[cfg(feature = "ssr")]
    {
        let offset = leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| {
                let cookies = parts.headers.get("cookie")?.to_str().ok()?.to_string();
                crate::config::cookie_value(&cookies, crate::config::TZ_COOKIE)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        Clock::at(DateTime::<Utc>::from(std::time::SystemTime::now()), offset)
    }
    #[cfg(not(feature = "ssr"))]
    {
        crate::browser::page_meta(crate::CLOCK_META).unwrap_or_else(|| {
            let now = DateTime::from_timestamp_millis(crate::browser::now_ms() as i64)
                .unwrap_or_default();
            Clock::at(now, crate::browser::tz_offset())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_shown_in_the_readers_zone() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).unwrap();
        assert_eq!(Clock::at(at, 0).time(at), "23:30");
        assert_eq!(Clock::at(at, 60).time(at), "00:30");
        assert_eq!(Clock::at(at, -300).full(at), "24 Nov 2026, 18:30");
        assert_eq!(
            Clock::at(at, 60).today,
            NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
        );
    }

    #[test]
    fn days_are_named_as_people_name_them() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap(); // a Tuesday
        let clock = Clock::at(now, 0);
        let day = |d: u32, m: u32, y: i32| clock.day(NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(day(1, 12, 2026), "Today");
        assert_eq!(day(30, 11, 2026), "Yesterday");
        assert_eq!(day(27, 11, 2026), "Friday");
        assert_eq!(day(24, 11, 2026), "24 Nov");
        assert_eq!(day(24, 11, 2025), "24 Nov 2025");
        let earlier = Utc.with_ymd_and_hms(2026, 11, 28, 9, 5, 0).unwrap();
        assert_eq!(clock.short(now), "12:00");
        assert_eq!(clock.short(earlier), "Sat");
        assert_eq!(
            clock.short(Utc.with_ymd_and_hms(2026, 11, 30, 9, 5, 0).unwrap()),
            "Yesterday"
        );
    }
}
