//! Message times in the reader's time zone, the same on the server and in the browser.
//!
//! The browser keeps its UTC offset in a cookie, so server rendering formats times as
//! the browser will and hydration finds the same text.

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

/// The cookie with the browser's offset from UTC, in minutes east.
pub const TZ_COOKIE: &str = "chat_tz";

/// The reader's offset from UTC in minutes (east positive); 0 when unknown.
pub fn offset_minutes() -> i32 {
    #[cfg(browser)]
    {
        // JavaScript reports minutes *behind* UTC.
        let offset = -(js_sys::Date::new_0().get_timezone_offset() as i32);
        crate::browser::remember_tz(offset);
        offset
    }
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| {
                let cookies = parts.headers.get("cookie")?.to_str().ok()?.to_string();
                crate::config::cookie_value(&cookies, TZ_COOKIE)?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }
    #[cfg(not(any(browser, feature = "ssr")))]
    {
        0
    }
}

fn local(at: DateTime<Utc>, offset_minutes: i32) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"));
    at.with_timezone(&offset)
}

/// `14:05`. (Formatted by hand: chrono's format strings cost the browser bundle.)
pub fn clock(at: DateTime<Utc>, offset_minutes: i32) -> String {
    let t = local(at, offset_minutes);
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// `24 Nov 2026, 14:05`, for tooltips.
pub fn full(at: DateTime<Utc>, offset_minutes: i32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = local(at, offset_minutes);
    format!(
        "{} {} {}, {:02}:{:02}",
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_shown_in_the_readers_zone() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).unwrap();
        assert_eq!(clock(at, 0), "23:30");
        assert_eq!(clock(at, 60), "00:30");
        assert_eq!(full(at, -300), "24 Nov 2026, 18:30");
    }
}
