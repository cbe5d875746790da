//! Number text on the render path, without the general machinery where an exact shortcut
//! exists: integers written digit by digit, decimal JSON numbers of up to 15 digits read by
//! one exact division, and doubles whose shortest form has up to 14 digits printed without
//! the shortest-digits search. Each shortcut gives the same text or value as the general
//! path (ryu, `str::parse`), which the tests check; outside them that path runs.

/// Exact powers of ten as doubles (every one up to 1e22 is exact).
const P10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Appends `i` in decimal.
pub fn write_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut u = i.unsigned_abs();
    loop {
        at -= 1;
        // `u % 10` is below 10: the cast keeps it.
        buf[at] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    push_ascii(out, &buf[at..]);
}

/// Appends ASCII digits (no UTF-8 check needed for them).
fn push_ascii(out: &mut String, digits: &[u8]) {
    out.reserve(digits.len());
    for &d in digits {
        out.push(char::from(d));
    }
}

/// Appends Java's `Double.toString` of a finite, non-zero `f` with 1e-3 ≤ |f| < 1e7 when its
/// shortest round-trip form has at most 14 significant digits; false (nothing written)
/// otherwise.
///
/// Why it is the shortest form: the smallest `k` for which `m = round(|f|·10^k)` divides back
/// to `f` gives the fewest fraction digits, hence the fewest significant digits, of any
/// decimal that reads back as `f`. With `m ≤ 1e14` the product's rounding error is far below
/// one half, so `m` is the nearest integer to the exact product and no shorter candidate is
/// missed; and decimals of ≤ 15 significant digits are spaced wider than one ulp of a
/// double, so that candidate is the only one of its length (the one ryu picks).
pub fn write_short_float(out: &mut String, f: f64) -> bool {
    let a = f.abs();
    if !(1e-3..1e7).contains(&a) {
        return false;
    }
    for (k, p) in P10.iter().enumerate() {
        let s = a * p;
        if s > 1e14 {
            return false;
        }
        // `s + 0.5` is exact below 1e14 and the cast truncates: `m` is `s` rounded (half
        // up), without a libm call.
        let m = (s + 0.5) as u64;
        if m as f64 / p == a {
            let scale = 10u64.pow(k as u32);
            if f < 0.0 {
                out.push('-');
            }
            write_int(out, (m / scale) as i64);
            out.push('.');
            if k == 0 {
                out.push('0');
            } else {
                let frac = m % scale;
                let mut digits = [b'0'; 16];
                let mut x = frac;
                for d in digits[..k].iter_mut().rev() {
                    *d = b'0' + (x % 10) as u8;
                    x /= 10;
                }
                push_ascii(out, &digits[..k]);
            }
            return true;
        }
    }
    false
}

/// A JSON number's value when it is plain (`-?digits(.digits)?`) with at most 15 digits in
/// all: `Ok(int)` without a fraction, `Err(double)` with one (or for `-0`); `None` for the
/// general reader. The double is `m / 10^k` for the digits `m`: both exact, so the one IEEE
/// division is correctly rounded, the same value `str::parse` gives.
pub fn parse_plain(s: &str) -> Option<Result<i64, f64>> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut m: u64 = 0;
    let mut frac: Option<usize> = None;
    let mut n = 0usize;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(c - b'0');
                n += 1;
            }
            b'.' if frac.is_none() && i > 0 && i + 1 < digits.len() => frac = Some(i),
            _ => return None,
        }
    }
    if n > 15 {
        return None;
    }
    match frac {
        None if neg && m == 0 => Some(Err(-0.0)),
        // Below 1e15: fits.
        None => Some(Ok(if neg { -(m as i64) } else { m as i64 })),
        Some(dot) => {
            let k = digits.len() - dot - 1;
            let v = m as f64 / P10[k];
            Some(Err(if neg { -v } else { v }))
        }
    }
}

/// Whether a JSON number's text is what Java prints for its value (a `long`, or a `double`
/// as `Double.toString`), so that printing it needs neither reading nor formatting: an
/// integer of up to 15 digits other than `-0`; or `I.F` with up to 15 digits in all, no
/// trailing zero in `F` (but `F` = `0` after a non-zero `I`), and a value in [1e-3, 1e7).
/// Such a decimal is the only one of ≤ 15 digits that reads as its double (see
/// [`write_short_float`]) and has no shorter form, so it is the shortest form Java prints.
#[cfg(test)]
pub(crate) fn is_java_form(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    let all_digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !all_digits(int) || (int.len() > 1 && int[0] == b'0') || !frac.is_none_or(all_digits) {
        return false;
    }
    java_form_parts(digits.len() != b.len(), int, frac)
}

/// [`is_java_form`] of a number read as an optional `-`, the integer digits `int` (no
/// leading zero but for `0` itself) and the fraction digits `frac` (non-empty), no exponent.
#[inline]
pub fn java_form_parts(negative: bool, int: &[u8], frac: Option<&[u8]>) -> bool {
    match frac {
        None => int.len() <= 15 && (!negative || int != b"0"),
        Some(f) => {
            if int.len() + f.len() > 15 {
                return false;
            }
            if int == b"0" {
                // 0.001 ≤ v < 1: a non-zero digit among the first three, none trailing.
                f.last() != Some(&b'0') && f.iter().take(3).any(|&c| c != b'0')
            } else {
                int.len() <= 7 && (f == b"0" || f.last() != Some(&b'0'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ryu_form(f: f64) -> String {
        ryu::Buffer::new().format_finite(f).to_string()
    }

    /// A fixed xorshift sequence.
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn integers_as_the_standard_library() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut vals = vec![0, 1, -1, 9, 10, -10, i64::MAX, i64::MIN, 1_000_000];
        for _ in 0..100_000 {
            let r = xorshift(&mut x) as i64;
            vals.push(r);
            vals.push(r % 100_000);
        }
        for i in vals {
            let mut s = String::new();
            write_int(&mut s, i);
            assert_eq!(s, i.to_string());
        }
    }

    /// The shortcut writes what ryu writes whenever it writes anything, and takes the
    /// common prices and measures.
    #[test]
    fn short_floats_as_ryu() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut vals = vec![
            4.99,
            0.1,
            0.2,
            0.3,
            1.0,
            2.5,
            0.001,
            9_999_999.5,
            0.1 + 0.2,
            1.0 / 3.0,
            123.456,
            1e-3,
            0.0011,
            9_999_999.999_999_9,
            5e-324,
            1e7,
            0.000_999,
        ];
        for _ in 0..300_000 {
            let r = xorshift(&mut x);
            let f = f64::from_bits(r);
            let scaled =
                10f64.powf((r % 10_000) as f64 / 1000.0 - 3.0) * (1.0 + (f.abs() % 1.0).min(0.999));
            vals.push(scaled);
            vals.push(-scaled);
            // Prices, measures: few digits.
            for d in [1.0, 100.0, 1000.0, 1e6] {
                vals.push((scaled * d).round() / d);
            }
            vals.push(f64::from_bits(r >> 2));
        }
        let mut taken = 0;
        for f in vals {
            let mut s = String::new();
            if write_short_float(&mut s, f) {
                taken += 1;
                assert_eq!(s, ryu_form(f), "{f:e}");
            }
        }
        assert!(taken > 600_000, "{taken}");
        for f in [4.99, 0.1, 2.5, -7.25, 1.0, 12.0] {
            let mut s = String::new();
            assert!(write_short_float(&mut s, f), "{f}");
        }
    }

    /// A number text said to be in Java's form prints as itself through the general path
    /// (read, then written as Java does).
    #[test]
    fn java_form_texts_print_as_themselves() {
        let general = |t: &str| {
            let mut s = String::new();
            match parse_plain(t) {
                Some(Ok(i)) => write_int(&mut s, i),
                Some(Err(f)) => {
                    if !write_short_float(&mut s, f) {
                        s = ryu_form(f);
                    }
                }
                None => {
                    let f: f64 = t.parse().unwrap();
                    if !write_short_float(&mut s, f) {
                        s = ryu_form(f);
                    }
                }
            }
            s
        };
        let mut x = 0x0123_4567_89ab_cdef_u64;
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1",
            "12",
            "-7",
            "4.99",
            "0.5",
            "0.001",
            "0.0001",
            "0.0010",
            "1.0",
            "1.50",
            "9999999.5",
            "10000000.5",
            "-0.0",
            "0.0",
            "123456789012345",
            "1234567890123456",
            "99999999999999.9",
            "0.1",
            "0.30000000000000004",
            "5.0",
            "100.25",
            "1e5",
            "-1.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            let r = xorshift(&mut x);
            let int = (r % 10u64.pow((r >> 5) as u32 % 9)).to_string();
            let fd = (r >> 12) as u32 % 9;
            let t = if fd == 0 {
                int
            } else {
                let f = xorshift(&mut x) % 10u64.pow(fd);
                format!("{int}.{f:0width$}", width = fd as usize)
            };
            texts.push(if r & 1 == 1 { format!("-{t}") } else { t });
        }
        let mut taken = 0;
        for t in &texts {
            if is_java_form(t) {
                taken += 1;
                assert_eq!(&general(t), t);
            }
        }
        assert!(taken > 100_000, "{taken}");
        for t in ["4.99", "12", "0", "-3.25", "0.001"] {
            assert!(is_java_form(t), "{t}");
        }
        for t in [
            "-0",
            "1.50",
            "0.0",
            "-0.0",
            "0.0001",
            "1e5",
            "10000000.5",
            "1234567890123456",
        ] {
            assert!(!is_java_form(t), "{t}");
        }
    }

    #[test]
    fn plain_numbers_as_the_standard_library() {
        let mut x = 0x1234_5678_9abc_def1_u64;
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1",
            "-1",
            "4.99",
            "-0.0",
            "0.0",
            "123456789012345",
            "1234567890123456",
            "0.1",
            "0.30000000000000004",
            "1.5",
            "99.99",
            "-12.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..100_000 {
            let r = xorshift(&mut x);
            let digits = (r % 16 + 1) as usize;
            let m = (xorshift(&mut x) % 10u64.pow(digits as u32)).to_string();
            let dot = (r >> 8) as usize % (m.len() + 1);
            // A leading zero stays only as the whole integer part (JSON's rule).
            let t = if dot == 0 || dot == m.len() || (m.starts_with('0') && dot > 1) {
                m.clone()
            } else {
                format!("{}.{}", &m[..dot], &m[dot..])
            };
            texts.push(if r & 1 == 1 { format!("-{t}") } else { t });
        }
        for t in texts {
            let Some(v) = parse_plain(&t) else {
                continue;
            };
            match v {
                Ok(i) => assert_eq!(Ok(i), t.parse::<i64>(), "{t}"),
                Err(f) => {
                    let g: f64 = t.parse().unwrap();
                    assert_eq!(f.to_bits(), g.to_bits(), "{t}");
                }
            }
        }
        assert_eq!(parse_plain("4.99"), Some(Err(4.99)));
        assert_eq!(parse_plain("12"), Some(Ok(12)));
        assert!(parse_plain("1e5").is_none());
        assert!(parse_plain("1.").is_none());
        assert!(parse_plain("1234567890123456").is_none());
    }
}
