//! The gateway's access log: one line per request, tracing target `access`.
//!
//! The line has the shape `tracing_subscriber::fmt` gives any event (text, or JSON with
//! `--log-format json`) and obeys the same filter (`GANTRY_LOG=info,access=off` turns it off),
//! but it is formatted here, straight into the log writer: the generic formatter (field
//! visitors, `Debug` escaping, float and calendar formatting) cost about 6 % of a proxied
//! request's CPU; this costs a fraction of that. Without [`crate::init`] (a library user),
//! the entry goes through `tracing` as an ordinary event.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::buffered::BufferedStderr;

/// Target of the access-log events.
pub const TARGET: &str = "access";

/// Where access lines go once [`crate::init`] installed the subscriber.
struct Sink {
    writer: BufferedStderr,
    json: bool,
    /// Whether the log filter lets access lines through, decided once at start.
    on: bool,
}

static SINK: OnceLock<Sink> = OnceLock::new();

pub(crate) fn install(writer: BufferedStderr, json: bool, on: bool) {
    let _ = SINK.set(Sink { writer, json, on });
}

/// Whether the filter `spec` (`GANTRY_LOG` syntax) enables target `access` at INFO.
///
/// Asked of a subscriber holding only that filter: the installed subscriber also holds the
/// trace exporter's layer, and with per-layer filters `tracing::enabled!` answers for any
/// layer, so `access=off` was not honoured.
pub(crate) fn wanted_by(spec: &str) -> bool {
    use tracing_subscriber::layer::SubscriberExt as _;
    let probe = tracing_subscriber::registry().with(tracing_subscriber::EnvFilter::new(spec));
    tracing::subscriber::with_default(
        probe,
        || tracing::enabled!(target: TARGET, tracing::Level::INFO),
    )
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// `X-Correlation-ID` of the request.
    pub correlation_id: &'a str,
    /// The gateway's environment.
    pub environment: &'a str,
    /// API name, `-` when no route matched.
    pub api: &'a str,
    /// Application id, `-` for anonymous calls.
    pub application: &'a str,
    /// Request method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// Response status.
    pub status: u16,
    /// Time from request head to response head.
    pub duration: Duration,
    /// Time the upstream took, when the request went upstream.
    pub upstream: Option<Duration>,
    /// Declared request body size.
    pub request_bytes: Option<u64>,
    /// Declared response body size.
    pub response_bytes: Option<u64>,
    /// Why authentication failed, if it did.
    pub failure: Option<&'static str>,
}

/// Whether access lines are wanted (the log filter enables target `access` at INFO).
pub fn enabled() -> bool {
    match SINK.get() {
        Some(sink) => sink.on,
        None => tracing::enabled!(target: TARGET, tracing::Level::INFO),
    }
}

/// Writes `entry`'s line; call when [`enabled`].
pub fn log(entry: &Entry<'_>) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            target: TARGET,
            correlation_id = entry.correlation_id,
            environment = entry.environment,
            api = entry.api,
            application = entry.application,
            method = entry.method,
            path = entry.path,
            status = entry.status,
            duration_ms = entry.duration.as_secs_f64() * 1e3,
            upstream_ms = entry.upstream.map(|d| d.as_secs_f64() * 1e3),
            request_bytes = entry.request_bytes,
            response_bytes = entry.response_bytes,
            failure = entry.failure,
            "request"
        );
        return;
    };
    thread_local! {
        static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
    }
    LINE.with(|line| {
        let Ok(mut line) = line.try_borrow_mut() else {
            return;
        };
        line.clear();
        format_line(&mut line, entry, SystemTime::now(), sink.json);
        sink.writer.append(line.as_bytes());
    });
}

fn format_line(out: &mut String, e: &Entry<'_>, now: SystemTime, json: bool) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    if json {
        out.push_str("{\"timestamp\":\"");
        timestamp(out, since_epoch);
        out.push_str("\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\"");
    } else {
        timestamp(out, since_epoch);
        out.push_str("  INFO request");
    }
    let mut line = Fields { out, json };
    line.text("correlation_id", e.correlation_id);
    line.text("environment", e.environment);
    line.text("api", e.api);
    line.text("application", e.application);
    line.text("method", e.method);
    line.text("path", e.path);
    line.number("status", e.status);
    line.millis("duration_ms", Some(e.duration));
    line.millis("upstream_ms", e.upstream);
    if let Some(n) = e.request_bytes {
        line.number("request_bytes", n);
    }
    if let Some(n) = e.response_bytes {
        line.number("response_bytes", n);
    }
    if let Some(failure) = e.failure {
        line.text("failure", failure);
    }
    out.push_str(if json {
        "},\"target\":\"access\"}\n"
    } else {
        "\n"
    });
}

/// Appends `name=value` fields in the text format, or `,"name":value` members in JSON.
struct Fields<'a> {
    out: &'a mut String,
    json: bool,
}

impl Fields<'_> {
    fn name(&mut self, name: &str) {
        if self.json {
            self.out.push_str(",\"");
            self.out.push_str(name);
            self.out.push_str("\":");
        } else {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push('=');
        }
    }

    fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        if self.json {
            json_string(self.out, value);
        } else {
            quoted(self.out, value);
        }
    }

    fn number(&mut self, name: &str, value: impl Into<u64>) {
        self.name(name);
        push_digits(self.out, value.into(), 1);
    }

    fn millis(&mut self, name: &str, value: Option<Duration>) {
        if let Some(d) = value {
            self.name(name);
            millis(self.out, d);
        }
    }
}

/// Milliseconds with microsecond precision, e.g. `0.612`, from integers only.
fn millis(out: &mut String, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    push_digits(out, micros / 1000, 1);
    out.push('.');
    push_digits(out, micros % 1000, 3);
}

/// `n` in decimal, left-padded with zeros to at least `width` digits (at most 20). The
/// `Display` machinery (padding flags, `Formatter`) was most of this line's cost.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in count..width {
        out.push('0');
    }
    for &digit in digits[..count].iter().rev() {
        out.push(char::from(digit));
    }
}

/// `2026-11-26T18:24:40.123456Z` (RFC 3339, UTC, microseconds), as tracing-subscriber writes.
fn timestamp(out: &mut String, since_epoch: Duration) {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    push_digits(out, u64::try_from(year).unwrap_or(0), 4);
    out.push('-');
    push_digits(out, month.into(), 2);
    out.push('-');
    push_digits(out, day.into(), 2);
    out.push('T');
    push_digits(out, rem / 3600, 2);
    out.push(':');
    push_digits(out, rem / 60 % 60, 2);
    out.push(':');
    push_digits(out, rem % 60, 2);
    out.push('.');
    push_digits(out, since_epoch.subsec_micros().into(), 6);
    out.push('Z');
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn needs_escape(value: &str) -> bool {
    value
        .bytes()
        .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
}

/// `"value"` as `Debug` quotes it (the text format's field values).
fn quoted(out: &mut String, value: &str) {
    if needs_escape(value) {
        let _ = write!(out, "{value:?}");
    } else {
        out.push('"');
        out.push_str(value);
        out.push('"');
    }
}

/// A JSON string.
fn json_string(out: &mut String, value: &str) {
    if !needs_escape(value) {
        out.push('"');
        out.push_str(value);
        out.push('"');
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            correlation_id: "c-1",
            environment: "Default",
            api: "Orders \"v1\"",
            application: "-",
            method: "GET",
            path: "/orders/1.0.0/items\\x",
            status: 200,
            duration: Duration::from_micros(1_234),
            upstream: Some(Duration::from_micros(987)),
            request_bytes: None,
            response_bytes: Some(43),
            failure: None,
        }
    }

    #[test]
    fn json_lines_parse_and_carry_every_field() {
        let mut line = String::new();
        let now = UNIX_EPOCH + Duration::from_micros(1_795_718_680_123_456);
        format_line(&mut line, &entry(), now, true);
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["target"], "access");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["timestamp"], "2026-11-26T18:44:40.123456Z");
        let f = &v["fields"];
        assert_eq!(f["message"], "request");
        assert_eq!(f["api"], "Orders \"v1\"");
        assert_eq!(f["path"], "/orders/1.0.0/items\\x");
        assert_eq!(f["status"], 200);
        assert_eq!(f["duration_ms"], 1.234);
        assert_eq!(f["upstream_ms"], 0.987);
        assert_eq!(f["response_bytes"], 43);
        assert!(f.get("request_bytes").is_none());
        assert!(f.get("failure").is_none());
    }

    #[test]
    fn text_lines_quote_like_debug() {
        let mut line = String::new();
        format_line(&mut line, &entry(), UNIX_EPOCH, false);
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000000Z  INFO request correlation_id=\"c-1\" environment=\"Default\" \
             api=\"Orders \\\"v1\\\"\" application=\"-\" method=\"GET\" path=\"/orders/1.0.0/items\\\\x\" \
             status=200 duration_ms=1.234 upstream_ms=0.987 response_bytes=43\n"
        );
    }

    #[test]
    fn the_filter_decides_whether_access_lines_are_written() {
        assert!(wanted_by("info"));
        assert!(wanted_by("warn,access=info"));
        assert!(!wanted_by("info,access=off"));
        assert!(!wanted_by("warn"));
        assert!(wanted_by("debug"));
    }

    #[test]
    fn digits_are_padded_to_the_width_asked() {
        for (n, width, text) in [
            (0, 1, "0"),
            (7, 3, "007"),
            (1234, 2, "1234"),
            (u64::MAX, 1, "18446744073709551615"),
            (42, 6, "000042"),
        ] {
            let mut out = String::new();
            push_digits(&mut out, n, width);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn calendar_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_783), (2026, 11, 26));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn control_characters_are_escaped_in_json() {
        let mut out = String::new();
        json_string(&mut out, "a\u{1}b\nc");
        assert_eq!(out, "\"a\\u0001b\\nc\"");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\u{1}b\nc");
    }
}
