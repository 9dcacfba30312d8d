//! One parser and one range for every duration reev accepts: `--timeout`, `--kill-grace`,
//! `--wait` (and `REEV_TIMEOUT`, `REEV_WAIT`, `settings:` in reev.yml), and `timeout:` /
//! `duration_at_most:` in benchmark and agent files.
//!
//! A duration is a bare number of seconds (`30`, `1.5`, `2e3`) or humantime text (`1500ms`,
//! `90s`, `5m`, `1h 30m`). Every accepted value lies in a documented range, so no later
//! `Instant + timeout` or `Duration` arithmetic can overflow and panic.

use std::time::Duration;

/// The longest duration reev accepts anywhere: 7 days.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The shortest time limit: 1 ms (a limit of zero would time out every session).
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Which range a duration must lie in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// A time limit (`--timeout`, `timeout:`, `duration_at_most:`): 1 ms to 7 days.
    Timeout,
    /// A wait (`--wait`, `--kill-grace`): 0 (do not wait) to 7 days.
    Wait,
}

impl Range {
    fn min(self) -> Duration {
        match self {
            Range::Timeout => MIN_TIMEOUT,
            Range::Wait => Duration::ZERO,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Range::Timeout => "a time limit must be between 1ms and 7 days",
            Range::Wait => "a wait must be between 0s and 7 days",
        }
    }
}

/// Why text is not a duration reev accepts: what is wrong, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// A negative or infinite number of seconds.
    #[error("`{0}` is not a non-negative number of seconds")]
    NotSeconds(String),
    /// Neither a number nor humantime text.
    #[error("`{text}` is not a duration ({cause}); try 30s, 1500ms or 5m")]
    Syntax {
        text: String,
        cause: humantime::DurationError,
    },
    /// Outside the range (or too large for a `Duration` at all).
    #[error("`{text}` {range}")]
    OutOfRange { text: String, range: OutOfRange },
}

/// A duration outside `Range`; said as the end of a sentence starting with the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is out of range: {}", .0.describe())]
pub struct OutOfRange(pub Range);

/// Parse `text` as a duration in `range`; the error says what is wrong and what is allowed.
pub fn parse(text: &str, range: Range) -> Result<Duration, DurationError> {
    let text = text.trim();
    let out_of_range = || DurationError::OutOfRange {
        text: text.to_string(),
        range: OutOfRange(range),
    };
    let d = match syntax(text) {
        Ok(d) => d,
        Err(Some(e)) => return Err(e),
        Err(None) => return Err(out_of_range()),
    };
    check(d, range).map_err(|_| out_of_range())
}

/// Is `d` in `range`? The error is the end of a sentence starting with the value.
pub fn check(d: Duration, range: Range) -> Result<Duration, OutOfRange> {
    if d < range.min() || d > MAX {
        Err(OutOfRange(range))
    } else {
        Ok(d)
    }
}

/// For clap: a time limit (`--timeout`).
pub fn parse_timeout(text: &str) -> Result<Duration, DurationError> {
    parse(text, Range::Timeout)
}

/// For clap: a wait (`--wait`, `--kill-grace`).
pub fn parse_wait(text: &str) -> Result<Duration, DurationError> {
    parse(text, Range::Wait)
}

/// The syntax alone: a bare number of seconds, or humantime text. `Err(None)`: too large
/// for a `Duration` (an error here, never a panic).
fn syntax(text: &str) -> Result<Duration, Option<DurationError>> {
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(Some(DurationError::NotSeconds(text.to_string())));
        }
        return Duration::try_from_secs_f64(secs).map_err(|_| None);
    }
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => None,
        cause => Some(DurationError::Syntax {
            text: text.to_string(),
            cause,
        }),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Instant;

    #[test]
    fn range_edges() {
        assert_eq!(parse("0", Range::Wait), Ok(Duration::ZERO));
        assert!(parse("0", Range::Timeout).is_err());
        assert!(parse("0s", Range::Timeout).is_err());
        assert_eq!(parse("1ms", Range::Timeout), Ok(MIN_TIMEOUT));
        assert_eq!(parse("7days", Range::Timeout), Ok(MAX));
        assert_eq!(parse("604800", Range::Wait), Ok(MAX));
        assert!(parse("604800.001", Range::Wait).is_err());
        assert_eq!(
            parse(" 1.5 ", Range::Timeout),
            Ok(Duration::from_millis(1500))
        );
        for bad in ["1e300", "1e19", "inf", "NaN", "-1", "-0.5", "", "5 parsecs"] {
            assert!(parse(bad, Range::Timeout).is_err(), "{bad}");
            assert!(parse(bad, Range::Wait).is_err(), "{bad}");
        }
        let e = parse("1e300", Range::Timeout).unwrap_err().to_string();
        assert!(e.contains("out of range") && e.contains("7 days"), "{e}");
    }

    pub(crate) fn accepted_is_safe(d: Duration) {
        assert!(d <= MAX);
        let now = Instant::now();
        // What the executor does: deadline, then grace after it.
        let deadline = now.checked_add(d).expect("deadline fits");
        assert!(deadline.checked_add(MAX).is_some());
        assert!(u64::try_from(d.as_millis()).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_values_are_in_range(
            text in "[-+ ]?[0-9]{0,25}(\\.[0-9]{0,12})?([eE][-+]?[0-9]{0,4})? ?(ns|us|ms|s|m|h|d|days|w|y|M|)"
        ) {
            for range in [Range::Timeout, Range::Wait] {
                if let Ok(d) = parse(&text, range) {
                    accepted_is_safe(d);
                    prop_assert!(d >= range.min());
                }
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            if let Ok(d) = parse(&text, Range::Wait) {
                accepted_is_safe(d);
            }
        }
    }
}
