//! The checks a configuration must pass before anything uses it: every
//! problem found at once, each with the file and line it is on.

use super::*;

/// Collects the problems of one file.
pub(super) struct Checker<'a> {
    /// The file's name, for messages.
    pub(super) file: &'a str,
    /// Its text, for line numbers.
    pub(super) text: &'a str,
    /// Every problem found, as `FILE:LINE: message`.
    pub(super) errors: Vec<String>,
}

impl Checker<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    }

    fn err<T>(&mut self, at: &Spanned<T>, msg: String) {
        let line = self.line(at.span().start);
        self.errors.push(format!("{}:{line}: {msg}", self.file));
    }
}

impl Config {
    /// Runs every check.
    pub(super) fn check(&self, c: &mut Checker) {
        if !matches!(self.log.format.as_str(), "text" | "json") {
            c.errors.push(format!(
                "{}: log.format must be \"text\" or \"json\", not \"{}\"",
                c.file, self.log.format
            ));
        }
        for t in &self.http.tokens {
            if crate::access::parse_hash(t.hash.get_ref()).is_none() {
                c.err(
                    &t.hash,
                    format!(
                        "token '{}': hash must be sha256: and 64 hex digits (parkline token add makes one)",
                        t.name
                    ),
                );
            }
            if let Some(tenant) = &t.tenant {
                if !self.tenants.iter().any(|x| x.name.get_ref() == tenant) {
                    c.err(
                        &t.hash,
                        format!("token '{}': no tenant named '{tenant}'", t.name),
                    );
                }
            }
        }
        for w in &self.webhooks {
            let url = w.url.get_ref();
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok || url.parse::<reqwest::Url>().is_err() {
                c.err(
                    &w.url,
                    format!("webhook url '{url}' is not an http:// or https:// URL"),
                );
            }
        }
        let node = self.cluster.node.get_ref();
        let node_ok = !node.is_empty()
            && node.len() <= 64
            && node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !node_ok {
            c.err(
                &self.cluster.node,
                format!("cluster node '{node}' must be 1 to 64 of a-z, 0-9, '-', '_' and '.'"),
            );
        }
        if let Some(url) = &self.store.url {
            let ok = url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.contains("host=")
                || url.contains("dbname=");
            if !ok {
                c.errors.push(format!(
                    "{}: store.url '{}' is not a PostgreSQL URL (postgres://USER:PASS@HOST/DB)",
                    c.file,
                    store::location::masked(url)
                ));
            }
        }
        if let Some(a) = &self.authorization {
            let url = a.url.get_ref();
            let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
            if !scheme_ok || url.parse::<reqwest::Url>().is_err() {
                c.err(
                    &a.url,
                    format!("authorization url '{url}' is not an http:// or https:// URL"),
                );
            }
            if !(50..=10_000).contains(a.timeout_ms.get_ref()) {
                c.err(
                    &a.timeout_ms,
                    "authorization timeout_ms must be 50 to 10000".to_string(),
                );
            }
            if !["embedded", "refuse"].contains(&a.fallback.get_ref().as_str()) {
                c.err(
                    &a.fallback,
                    format!(
                        "authorization fallback '{}' is 'embedded' or 'refuse'",
                        a.fallback.get_ref()
                    ),
                );
            }
            if *a.cache_s.get_ref() > 60 {
                c.err(
                    &a.cache_s,
                    "authorization cache_s must be 0 to 60".to_string(),
                );
            }
        }
        if self.sip.listen.is_empty() {
            c.errors.push(format!(
                "{}: sip.listen must name at least one listener",
                c.file
            ));
        }
        for l in &self.sip.listen {
            if let Err(e) = parse_listen(l.get_ref()) {
                c.err(l, e);
            }
        }
        if self.sip.digest_algorithms.is_empty() {
            c.errors.push(format!(
                "{}: sip.digest_algorithms must name at least one algorithm",
                c.file
            ));
        }
        for a in &self.sip.digest_algorithms {
            if sip::digest::Algorithm::parse(a.get_ref()).is_none() {
                c.err(
                    a,
                    format!("digest algorithm '{}' is not MD5 or SHA-256", a.get_ref()),
                );
            }
        }
        if self.sip.min_expires == 0 || self.sip.min_expires > self.sip.max_expires {
            c.errors.push(format!(
                "{}: sip.min_expires must be between 1 and sip.max_expires",
                c.file
            ));
        }
        if self.sip.min_se_s == 0 || self.sip.min_se_s > self.sip.session_expires_s {
            c.errors.push(format!(
                "{}: sip.min_se_s must be between 1 and sip.session_expires_s",
                c.file
            ));
        }
        if self.sip.no_answer_timeout_s == 0 || self.media.rtp_timeout_s == 0 {
            c.errors.push(format!(
                "{}: sip.no_answer_timeout_s and media.rtp_timeout_s must be positive",
                c.file
            ));
        }
        for (key, path) in [
            ("media.music", &self.media.music),
            ("media.prompts", &self.media.prompts),
        ] {
            if let Some(p) = path {
                if !std::path::Path::new(p).exists() {
                    c.errors
                        .push(format!("{}: {key} '{p}' does not exist", c.file));
                }
            }
        }
        if self.sip.max_message_bytes < 1500 {
            c.errors.push(format!(
                "{}: sip.max_message_bytes must be at least 1500",
                c.file
            ));
        }
        if self.media.threads.is_some_and(|n| !(1..=256).contains(&n)) {
            c.errors.push(format!(
                "{}: media.threads must be between 1 and 256 (leave it out for one per core)",
                c.file
            ));
        }
        if self.sip.max_request_wait_ms > 60_000 {
            c.errors.push(format!(
                "{}: sip.max_request_wait_ms must be 0 (never refuse) to 60000",
                c.file
            ));
        }
        if !(1..=1 << 20).contains(&self.sip.max_transaction_memory_mb) {
            c.errors.push(format!(
                "{}: sip.max_transaction_memory_mb must be between 1 and 1048576 (MiB)",
                c.file
            ));
        }
        if self.media.address.get_ref().parse::<IpAddr>().is_err() {
            c.err(
                &self.media.address,
                format!(
                    "media.address '{}' is not an IP address",
                    self.media.address.get_ref()
                ),
            );
        }
        if parse_range(self.media.rtp_ports.get_ref()).is_none() {
            c.err(
                &self.media.rtp_ports,
                format!(
                    "media.rtp_ports '{}' must be LOW-HIGH with 1024 <= LOW < HIGH <= 65535",
                    self.media.rtp_ports.get_ref()
                ),
            );
        }
        let http = self.http.listen.get_ref();
        match http.parse::<SocketAddr>() {
            _ if http.is_empty() => {}
            Err(_) => c.err(
                &self.http.listen,
                format!("http.listen '{http}' is not IP:PORT"),
            ),
            Ok(a) if !a.ip().is_loopback() => c.err(
                &self.http.listen,
                format!(
                    "http.listen '{http}' is not a loopback address: the admin API has no \
                     authentication yet, so it listens on loopback only (put an \
                     authenticating reverse proxy in front to reach it from elsewhere)"
                ),
            ),
            Ok(_) => {}
        }
        self.check_tls(c);
        if accounts::SrtpPolicy::parse(self.media.srtp.get_ref()).is_none() {
            c.err(
                &self.media.srtp,
                format!(
                    "media.srtp '{}' must be off, optional or required",
                    self.media.srtp.get_ref()
                ),
            );
        }
        if self.store.path.trim().is_empty() {
            c.errors
                .push(format!("{}: store.path must not be empty", c.file));
        }
        self.check_tenants(c);
        if let Some(d) = &self.sip.default_tenant {
            if !self.tenants.iter().any(|t| t.name.get_ref() == d.get_ref()) {
                c.err(
                    d,
                    format!(
                        "sip.default_tenant '{}' is not a configured tenant",
                        d.get_ref()
                    ),
                );
            }
        }
    }

    fn check_tls(&self, c: &mut Checker) {
        let tls = &self.tls;
        let wants_tls = self
            .sip
            .listen
            .iter()
            .any(|l| matches!(parse_listen(l.get_ref()), Ok(Listen::Tls(_))));
        if wants_tls && (tls.certificate.is_none() || tls.private_key.is_none()) {
            c.errors.push(format!(
                "{}: a tls: listener needs tls.certificate and tls.private_key",
                c.file
            ));
        }
        let files = [&tls.certificate, &tls.private_key, &tls.client_ca];
        for f in files.into_iter().flatten() {
            if !std::path::Path::new(f.get_ref()).is_file() {
                c.err(f, format!("TLS file '{}' does not exist", f.get_ref()));
            }
        }
        if let Some(v) = &tls.min_version {
            if !matches!(v.get_ref().as_str(), "1.2" | "1.3") {
                c.err(
                    v,
                    format!("tls.min_version '{}' must be 1.2 or 1.3", v.get_ref()),
                );
            }
        }
    }

    fn check_tenants(&self, c: &mut Checker) {
        let mut names = HashSet::new();
        let mut domains = HashSet::new();
        let mut dids = HashSet::new();
        for t in &self.tenants {
            let name = t.name.get_ref();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                c.err(
                    &t.name,
                    format!("tenant name '{name}' must be letters, digits, '-' or '_'"),
                );
            }
            if !names.insert(name.clone()) {
                c.err(&t.name, format!("tenant '{name}' is declared twice"));
            }
            let domain = t.domain.get_ref().to_ascii_lowercase();
            if sip::Host::parse(domain.as_bytes()).is_none() {
                c.err(
                    &t.domain,
                    format!("tenant '{name}': domain '{domain}' is not a valid host name"),
                );
            }
            if !domains.insert(domain.clone()) {
                c.err(
                    &t.domain,
                    format!("domain '{domain}' is used by two tenants"),
                );
            }
            check_prefixes(c, t);
            let len = *t.park_code_length.get_ref();
            if !(2..=8).contains(&len) {
                c.err(
                    &t.park_code_length,
                    format!("tenant '{name}': park_code_length must be 2 to 8, not {len}"),
                );
            }
            if *t.park_rearm_s.get_ref() == 0 {
                c.err(
                    &t.park_rearm_s,
                    format!("tenant '{name}': park_rearm_s must be at least 1 second"),
                );
            }
            let mut numbers = HashSet::new();
            for e in &t.extensions {
                let n = e.number.get_ref();
                if let Err(why) = rules::extension_number(n) {
                    c.err(&e.number, format!("tenant '{name}': {why}"));
                }
                if !numbers.insert(n.clone()) {
                    c.err(
                        &e.number,
                        format!("tenant '{name}': extension '{n}' is declared twice"),
                    );
                }
                let (park, release) = (t.park_prefix.get_ref(), t.release_prefix.get_ref());
                if let Err(why) = rules::outside_prefixes(n, park, release) {
                    c.err(&e.number, format!("tenant '{name}': {why}"));
                }
                if let Err(why) = rules::password(e.password.get_ref()) {
                    c.err(
                        &e.password,
                        format!("tenant '{name}': extension '{n}' {why}"),
                    );
                }
            }
            for d in &t.dids {
                let n = d.number.get_ref();
                if let Err(why) = rules::did_number(n) {
                    c.err(&d.number, why);
                }
                if !dids.insert(n.clone()) {
                    c.err(&d.number, format!("DID '{n}' is declared twice"));
                }
                if !numbers.contains(d.extension.get_ref()) {
                    c.err(&d.extension, format!("DID '{n}' points at '{}', which is not an extension of tenant '{name}'", d.extension.get_ref()));
                }
            }
            if let Some(f) = &t.park_fallback {
                if !numbers.contains(f.get_ref()) {
                    c.err(
                        f,
                        format!(
                            "tenant '{name}': park_fallback '{}' is not an extension",
                            f.get_ref()
                        ),
                    );
                }
            }
            if let Some(p) = &t.srtp {
                if accounts::SrtpPolicy::parse(p.get_ref()).is_none() {
                    c.err(
                        p,
                        format!(
                            "tenant '{name}': srtp '{}' must be off, optional or required",
                            p.get_ref()
                        ),
                    );
                }
            }
            for p in t.outbound_allow.iter().chain(&t.outbound_deny) {
                let v = p.get_ref();
                let ok = !v.is_empty()
                    && !v.contains(',')
                    && v.bytes().all(|b| b.is_ascii_digit() || b == b'+');
                if !ok {
                    c.err(
                        p,
                        format!("tenant '{name}': outbound prefix '{v}' must be digits with an optional leading +"),
                    );
                }
            }
        }
        let mut trunks = HashSet::new();
        for tr in &self.trunks {
            if tr.username.is_some() != tr.password.is_some() {
                c.err(
                    &tr.name,
                    format!(
                        "trunk '{}': username and password go together",
                        tr.name.get_ref()
                    ),
                );
            }
            if let Some(r) = &tr.register_expires_s {
                if tr.username.is_none() || !(60..=86_400).contains(r.get_ref()) {
                    c.err(
                        r,
                        format!(
                            "trunk '{}': register_expires_s needs username and password and must be 60 to 86400",
                            tr.name.get_ref()
                        ),
                    );
                }
            }
            if let Some(n) = &tr.tls_client_name {
                let valid = rustls::pki_types::ServerName::try_from(n.get_ref().as_str())
                    .is_ok_and(|s| matches!(s, rustls::pki_types::ServerName::DnsName(_)));
                if self.tls.client_ca.is_none() || !valid {
                    c.err(
                        n,
                        format!(
                            "trunk '{}': tls_client_name needs tls.client_ca and must be a DNS name",
                            tr.name.get_ref()
                        ),
                    );
                }
            }
            if !trunks.insert(tr.name.get_ref().clone()) {
                c.err(
                    &tr.name,
                    format!("trunk '{}' is declared twice", tr.name.get_ref()),
                );
            }
            if tr.address.get_ref().parse::<SocketAddr>().is_err() {
                c.err(
                    &tr.address,
                    format!("trunk address '{}' is not IP:PORT", tr.address.get_ref()),
                );
            }
            if !names.contains(tr.tenant.get_ref()) {
                c.err(
                    &tr.tenant,
                    format!(
                        "trunk '{}' names unknown tenant '{}'",
                        tr.name.get_ref(),
                        tr.tenant.get_ref()
                    ),
                );
            }
        }
    }
}

fn check_prefixes(c: &mut Checker, t: &TenantConfig) {
    let name = t.name.get_ref();
    let (park, release) = (t.park_prefix.get_ref(), t.release_prefix.get_ref());
    let mut valid = true;
    for p in [&t.park_prefix, &t.release_prefix] {
        if let Err(why) = rules::prefix(p.get_ref()) {
            c.err(p, format!("tenant '{name}': {why}"));
            valid = false;
        }
    }
    if let (true, Err(why)) = (valid, rules::prefixes(park, release)) {
        // Point at whichever prefix the file sets (a defaulted one has no line).
        let msg = format!("tenant '{name}': {why}");
        if t.release_prefix.span().end > 0 {
            c.err(&t.release_prefix, msg);
        } else if t.park_prefix.span().end > 0 {
            c.err(&t.park_prefix, msg);
        } else {
            c.err(&t.name, msg);
        }
    }
}
