//! Recipient addresses: one check, made when a contact is stored and again when mail is sent,
//! so an address the relay accepts is one it can send to, and one it cannot is refused with
//! the reason up front (400) or, if stored before, failed at once without retries.

use lettre::message::Mailbox;

/// Longest address accepted, in bytes (RFC 5321's path limit).
pub const MAX_ADDRESS_BYTES: usize = 254;

/// Parses `s` as the mail path parses it, and accepts only a plain `local@domain.example`:
/// no display name, no quoted local part (`"<x@evil>"@example.com` reads as two addresses to
/// people and some tools), no IP literal (`ann@[127.0.0.1]` points mail at an internal host),
/// and ASCII only (the SMTP client does not speak SMTPUTF8, so an IDN domain can never be sent
/// to: register its `xn--` form).
pub fn recipient(s: &str) -> Result<Mailbox, String> {
    if s.len() > MAX_ADDRESS_BYTES {
        return Err(format!(
            "the email address is longer than {MAX_ADDRESS_BYTES} bytes"
        ));
    }
    let invalid = |why: &str| format!("{s:?} is not a valid email address: {why}");
    if !s.is_ascii() {
        return Err(invalid(
            "non-ASCII addresses (internationalised domain names included) cannot be sent over this relay's SMTP; use the domain's xn-- (punycode) form",
        ));
    }
    let mailbox: Mailbox = s.parse().map_err(|e| invalid(&format!("{e}")))?;
    if mailbox.name.is_some() || mailbox.email.to_string() != s {
        return Err(invalid("give the bare address, without a name or <>"));
    }
    if mailbox.email.user().starts_with('"') {
        return Err(invalid("quoted local parts are not accepted"));
    }
    if mailbox.email.domain().starts_with('[') {
        return Err(invalid("IP-literal domains are not accepted"));
    }
    Ok(mailbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_pass_and_tricks_are_refused_with_a_reason() {
        for ok in ["ann@example.com", "a.b+tag@sub.example.co.uk", "a@b.c"] {
            assert!(recipient(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            (r#""<victim@evil.com>"@example.com"#, "not a valid"),
            (r#""ann smith"@example.com"#, "not a valid"),
            ("ann@[127.0.0.1]", "not a valid"),
            ("ann@exämple.com", "xn--"),
            ("Ann <ann@example.com>", "bare address"),
            ("not an address", "not a valid"),
        ] {
            let err = recipient(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
