//! Path parameters that name users and topics.
//!
//! actix decodes a path's percent-escapes before matching, except `%2F`, `%2B` and `%25`, which
//! it leaves encoded so that a decoded `/` cannot split a segment. User ids and topics may
//! contain `/`, `+` and `%`, and an HTTP client must send those encoded (the PHP SDK does), so
//! without a second step `x%2By` would silently name another user than `x+y`.

use actix_web::HttpRequest;

/// The path parameter `name` with the escapes actix kept (`%2F`, `%2B`, `%25`) decoded.
pub(crate) fn param(req: &HttpRequest, name: &str) -> String {
    decode_kept(req.match_info().get(name).unwrap_or_default())
}

/// Decodes `%2F`, `%2B` and `%25` (either case) in one pass, so `%252F` becomes `%2F`.
fn decode_kept(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or_default();
        let decoded = match escape.to_ascii_uppercase().as_str() {
            "%2F" => Some('/'),
            "%2B" => Some('+'),
            "%25" => Some('%'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::decode_kept;

    #[test]
    fn the_escapes_actix_keeps_are_decoded_once_and_others_left_alone() {
        assert_eq!(decode_kept("image%2F42"), "image/42");
        assert_eq!(decode_kept("x%2by"), "x+y");
        assert_eq!(decode_kept("100%25"), "100%");
        assert_eq!(decode_kept("%252F"), "%2F");
        assert_eq!(decode_kept("50%"), "50%");
        assert_eq!(decode_kept("a%2"), "a%2");
        assert_eq!(decode_kept("é%2Fü"), "é/ü");
        assert_eq!(decode_kept("plain"), "plain");
    }
}
