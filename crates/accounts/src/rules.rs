//! The rules every account obeys, wherever it comes from (the config file,
//! the CLI, later the API): one set, so nothing the CLI accepts is refused
//! by the config check or the other way round. Each rule returns the
//! problem in words; callers add where (a file line, a tenant name).

/// Longest feature prefix.
pub const MAX_PREFIX: usize = 8;
/// Longest extension number.
pub const MAX_EXTENSION: usize = 15;
/// Shortest password.
pub const MIN_PASSWORD: usize = 6;

/// A park or release prefix: 1 to 8 of `0-9`, `*` and `#`.
pub fn prefix(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && p.len() <= MAX_PREFIX
        && p.bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "prefix '{p}' must be 1 to {MAX_PREFIX} of 0-9, * and #"
        ))
    }
}

/// A tenant's two prefixes: each valid, and neither starting the other
/// (a dialed number must name one feature).
pub fn prefixes(park: &str, release: &str) -> Result<(), String> {
    prefix(park)?;
    prefix(release)?;
    if park.starts_with(release) || release.starts_with(park) {
        return Err(format!(
            "park prefix '{park}' and release prefix '{release}' overlap"
        ));
    }
    Ok(())
}

/// Longest tenant name.
pub const MAX_TENANT_NAME: usize = 32;

/// A tenant's name (it appears in URLs, labels and tokens): 1 to 32 of
/// `a-z`, `0-9`, `-` and `_`.
pub fn tenant_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= MAX_TENANT_NAME
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tenant name '{n}' must be 1 to {MAX_TENANT_NAME} of a-z, 0-9, - and _"
        ))
    }
}

/// A tenant's domain may change only while it has no extensions: the
/// domain is the digest realm, and the stored password digests (never the
/// passwords) include it, so they would all stop working.
pub fn domain_change(tenant: &str, old: &str, extensions: usize) -> Result<(), String> {
    if extensions == 0 {
        return Ok(());
    }
    Err(format!(
        "tenant '{tenant}' has {extensions} extensions whose password digests use the realm \
         '{old}': a new domain would lock them all out (delete them first, or keep the domain)"
    ))
}

/// An extension number: 1 to 15 digits.
pub fn extension_number(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > MAX_EXTENSION || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "extension number '{n}' must be 1 to {MAX_EXTENSION} digits"
        ));
    }
    Ok(())
}

/// An extension number that does not start with one of the tenant's
/// feature prefixes (it could never be dialed).
pub fn outside_prefixes(n: &str, park: &str, release: &str) -> Result<(), String> {
    match [park, release].into_iter().find(|p| n.starts_with(*p)) {
        Some(p) => Err(format!(
            "extension '{n}' starts with the feature prefix '{p}'"
        )),
        None => Ok(()),
    }
}

/// A password long enough to survive a few guesses.
pub fn password(p: &str) -> Result<(), String> {
    if p.len() < MIN_PASSWORD {
        return Err(format!(
            "needs a password of at least {MIN_PASSWORD} characters"
        ));
    }
    Ok(())
}

/// A DID: digits with an optional leading `+`.
pub fn did_number(n: &str) -> Result<(), String> {
    let digits = n.strip_prefix('+').unwrap_or(n);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "DID '{n}' must be digits with an optional leading '+'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules() {
        assert!(prefixes("*70", "*71").is_ok());
        assert!(prefixes("644", "645").is_ok());
        assert!(prefixes("*7", "*71").unwrap_err().contains("overlap"));
        assert!(prefixes("*7x", "*71").is_err());
        assert!(prefixes("", "*71").is_err());
        assert!(extension_number("333").is_ok());
        assert!(extension_number("33a").is_err());
        assert!(extension_number("1234567890123456").is_err());
        assert!(outside_prefixes("6441", "644", "645").is_err());
        assert!(outside_prefixes("6461", "644", "645").is_ok());
        assert!(password("12345").is_err() && password("123456").is_ok());
        assert!(did_number("+15550100").is_ok() && did_number("+").is_err());
    }
}
