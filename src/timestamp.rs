//! How reev writes an instant: RFC 3339 in UTC with `Z` and milliseconds, in session files,
//! manifests, lock files, logs and reports alike.

pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
