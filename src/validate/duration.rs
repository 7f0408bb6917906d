//! Go's `time.ParseDuration` and `Duration.String`, because SSH `checkPeriod` is a Go
//! duration and the control plane's messages print it the Go way (`-1m0s`, `168h0m1s`).

/// Nanoseconds, as Go's `time.Duration`.
pub type Nanos = i128;

pub const SECOND: Nanos = 1_000_000_000;
pub const HOUR: Nanos = 3600 * SECOND;

/// Parse like Go's `time.ParseDuration`; the error is Go's text.
pub fn parse(text: &str) -> Result<Nanos, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: Nanos = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let scale: Nanos = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => 60 * SECOND,
            "h" => HOUR,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        let whole: Nanos = if int_part.is_empty() {
            0
        } else {
            int_part.parse::<Nanos>().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: Nanos = frac_part[..digits as usize]
                .parse()
                .map_err(|_| invalid())?;
            value += frac * scale / 10i128.pow(digits);
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as Nanos + 1 {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

/// Format like Go's `Duration.String` (`1h0m0s`, `-1m0s`, `1.5s`, `300ms`).
pub fn format(d: Nanos) -> String {
    if d == 0 {
        return "0s".into();
    }
    let sign = if d < 0 { "-" } else { "" };
    let u = d.unsigned_abs();
    if u < SECOND as u128 {
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", decimal(u, scale));
    }
    let hours = u / HOUR as u128;
    let rem = u % HOUR as u128;
    let minutes = rem / (60 * SECOND as u128);
    let seconds = rem % (60 * SECOND as u128);
    let secs = decimal(seconds, SECOND as u128);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

fn decimal(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_go() {
        assert_eq!(format(parse("-1m").unwrap()), "-1m0s");
        assert_eq!(format(parse("168h0m1s").unwrap()), "168h0m1s");
        assert_eq!(format(parse("168h").unwrap()), "168h0m0s");
        assert_eq!(format(parse("1.5h").unwrap()), "1h30m0s");
        assert_eq!(format(parse("300ms").unwrap()), "300ms");
        assert_eq!(format(parse("1.25s").unwrap()), "1.25s");
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert!(parse("").is_err());
        assert!(parse("12").unwrap_err().contains("missing unit"));
        assert!(parse("1w").unwrap_err().contains("unknown unit"));
    }
}
