//! Personal data out of audit records: the SQL text a record keeps, and error messages that
//! may quote it, with every number that looks like a resident ID (18 digits, the last may be
//! `X`; or the older 15) or a mobile phone number (11 digits from `13` to `19`, with or
//! without `86` before it) replaced by a marker. Numbers inside identifiers are kept: only a
//! run of digits that no letter, digit or underscore touches is a value.

/// What replaces a resident ID number.
pub const ID_MARK: &str = "[ID redacted]";
/// What replaces a phone number.
pub const PHONE_MARK: &str = "[phone redacted]";

/// `text` with every resident ID and phone number replaced by its marker.
pub fn redact(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_digit() || (at > 0 && is_word(bytes[at - 1])) {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        // an ID's last character may be X
        let mut end = at;
        if end - start == 17 && end < bytes.len() && matches!(bytes[end], b'X' | b'x') {
            end += 1;
        }
        if end < bytes.len() && is_word(bytes[end]) {
            at = end;
            continue;
        }
        if let Some(mark) = mark_for(&text[start..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(mark);
            copied = end;
        }
        at = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// At most the first `max` bytes of `text`, cut at a character boundary. Cut a text only
/// after redacting it: a number cut in two would no longer be recognised.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn mark_for(run: &str) -> Option<&'static str> {
    let phone = |digits: &str| {
        digits.len() == 11 && digits.starts_with('1') && matches!(digits.as_bytes()[1], b'3'..=b'9')
    };
    match run.len() {
        18 | 15 => Some(ID_MARK),
        11 if phone(run) => Some(PHONE_MARK),
        13 if run.starts_with("86") && phone(&run[2..]) => Some(PHONE_MARK),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_cut_at_a_character_boundary_after_it_is_redacted() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("县乡一体", 4), "县");
        let sql = format!("{}'330824198812250017'", "x".repeat(10));
        assert_eq!(cut(&redact(&sql), 20), "xxxxxxxxxx'[ID redac");
        // cutting first would have kept the number's first 9 digits
        assert_eq!(redact(cut(&sql, 20)), "xxxxxxxxxx'330824198");
    }

    #[test]
    fn ids_and_phones_are_replaced_wherever_they_stand_as_values() {
        let cases = [
            (
                "SELECT * FROM v.r WHERE id_number = '33082419900307123X'",
                "SELECT * FROM v.r WHERE id_number = '[ID redacted]'",
            ),
            (
                "WHERE id = '330824199003071234' OR id = 330824199003071234",
                "WHERE id = '[ID redacted]' OR id = [ID redacted]",
            ),
            (
                "WHERE old_id = '330824900307123'",
                "WHERE old_id = '[ID redacted]'",
            ),
            (
                "WHERE phone IN ('13912345678', '+8613912345678', '8613912345678')",
                "WHERE phone IN ('[phone redacted]', '+[phone redacted]', '[phone redacted]')",
            ),
            (
                "WHERE phone LIKE '%13912345678%'",
                "WHERE phone LIKE '%[phone redacted]%'",
            ),
        ];
        for (sql, redacted) in cases {
            assert_eq!(redact(sql), redacted, "{sql}");
        }
    }

    #[test]
    fn other_numbers_and_identifiers_are_kept() {
        for sql in [
            "SELECT count(*) FROM village.residents WHERE jurisdiction_code = '330824101201'",
            "SELECT 12345678901, 23912345678, 1391234567",
            "SELECT c13912345678 FROM t13912345678_x",
            "SELECT 3308241990030712345",
            "SELECT '一二三', '中文13912345678x'",
        ] {
            assert_eq!(redact(sql), sql, "{sql}");
        }
    }
}
