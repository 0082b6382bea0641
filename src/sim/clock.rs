//! Wall-clock formatting for transcript timestamps, without a date-time dependency: ISO-8601
//! (`interactions`) and GWS's `2014-01-09 11:58:12.035+0000` with epoch milliseconds (`chats`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC civil time: year, month, day, hour, minute, second, millisecond.
struct Civil([u64; 7]);

fn civil(t: SystemTime) -> Civil {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for all dates after 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    Civil([
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        u64::from(since.subsec_millis()),
    ])
}

/// Formats a wall-clock time as `YYYY-MM-DDThh:mm:ss.mmmZ`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let Civil([y, mo, d, h, mi, s, ms]) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Formats a wall-clock time as GWS's `chats` dialect does: `YYYY-MM-DD hh:mm:ss.mmm+0000`.
pub(crate) fn gws_timestamp(t: SystemTime) -> String {
    let Civil([y, mo, d, h, mi, s, ms]) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}+0000")
}

/// Milliseconds since the Unix epoch (`timestampSeconds` holds milliseconds despite its name).
pub(crate) fn unix_millis(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_389_261_492_035);
        assert_eq!(iso8601(t), "2014-01-09T09:58:12.035Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn gws_timestamp_and_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_389_261_492_035);
        assert_eq!(gws_timestamp(t), "2014-01-09 09:58:12.035+0000");
        assert_eq!(unix_millis(t), 1_389_261_492_035);
        assert_eq!(unix_millis(UNIX_EPOCH), 0);
    }
}
