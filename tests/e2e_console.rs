//! The web console in a real headless Chromium (Selenium): signing in
//! with a token at `/login` (an `HttpOnly`, `SameSite=Strict` session
//! cookie), the parking lot updating live from the event stream (no page
//! reload), its clocks counting, its buttons retrieving a parked call to
//! an extension and hanging calls up, registrations, records with search
//! and CSV export, the status page's sparklines, and nothing loaded from
//! anywhere but the switch.

mod support;

use std::time::Duration;
use support::browser::Browser;
use support::{Server, ADMIN_TOKEN, DEMO_TOKEN, READER_TOKEN};

const PCMU: u8 = 0;

/// Where screenshots go, as the suite's artifacts:
/// `PARKLINE_SCREENSHOTS` (the README's come from there), else
/// `target/test-artifacts/console/`.
fn screenshot(browser: &mut Browser, name: &str) {
    let dir = std::env::var_os("PARKLINE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("target/test-artifacts/console"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    browser.screenshot(&path);
    let png = std::fs::read(&path).expect("the screenshot is saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "{}",
        path.display()
    );
}

fn sign_in(browser: &mut Browser, base: &str, token: &str) {
    assert!(browser.open(&format!("{base}/parked")).ends_with("/login"));
    browser.fill("input[name=token]", token);
    browser.click("button[type=submit]");
    browser.wait_url("/parked");
    browser.wait_text("#live", "live");
}

/// Seconds of an `m:ss` clock.
fn seconds(clock: &str) -> u64 {
    let (m, s) = clock.split_once(':').unwrap_or_else(|| panic!("{clock:?}"));
    m.parse::<u64>().unwrap() * 60 + s.parse::<u64>().unwrap()
}

#[test]
fn an_operator_watches_the_lot_live_and_retrieves_and_hangs_up_from_the_console() {
    let test = "an_operator_watches_the_lot_live_and_retrieves_and_hangs_up";
    let Some(mut browser) = Browser::start(test) else {
        return;
    };
    let server = Server::start("console-live");
    let base = format!("http://127.0.0.1:{}", server.http_port);

    // Signing in: a wrong token is refused on the form, a right one opens
    // a session whose cookie scripts cannot read.
    assert!(browser.open(&format!("{base}/")).ends_with("/login"));
    browser.fill("input[name=token]", "not-a-token");
    browser.click("button[type=submit]");
    browser.wait_text(".problem", "not valid");
    screenshot(&mut browser, "console-login.png");
    sign_in(&mut browser, &base, ADMIN_TOKEN);
    let cookies = browser.cookies();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "parkline_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_eq!(browser.eval("return document.cookie"), "");
    browser.wait_text("main", "No calls are parked");
    // A mark in the page: it survives only if the page is never reloaded.
    browser.eval("window.parklineMark = 42; return null");

    // John parks Jane: the lot shows her at once, with clocks counting.
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let mut room = server.registered("444");
    let (janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");
    let parked_at = std::time::Instant::now();
    browser.wait_text("table.parked td.position", "333");
    let shown_after = parked_at.elapsed();
    assert!(
        shown_after < Duration::from_secs(1),
        "the park showed after {shown_after:?}"
    );
    let row = browser.texts("table.parked tbody tr")[0].clone();
    for shown in ["*71333", "Jane Roe", "333"] {
        assert!(row.contains(shown), "{row}");
    }
    assert_eq!(browser.texts("section.lot h2"), ["demo"]);
    let waited = seconds(&browser.texts("td.waiting")[0]);
    let countdown = seconds(&browser.texts("td.countdown")[0]);
    // The page ticks once a second, so a reading may be a second old.
    std::thread::sleep(Duration::from_millis(3200));
    let waited_later = seconds(&browser.texts("td.waiting")[0]);
    let countdown_later = seconds(&browser.texts("td.countdown")[0]);
    assert!(waited_later >= waited + 2, "{waited} then {waited_later}");
    assert!(
        countdown_later + 2 <= countdown,
        "{countdown} then {countdown_later}"
    );
    screenshot(&mut browser, "console-parked.png");

    // A wrong extension is refused in words; the right one rings.
    browser.fill("form.retrieve input[name=extension]", "999");
    browser.click("form.retrieve button[type=submit]");
    browser.wait_text(".problem", "extension: not an extension of this tenant");
    browser.fill("form.retrieve input[name=extension]", "444");
    browser.click("form.retrieve button[type=submit]");
    let inv = room.ring();
    assert!(inv
        .headers
        .get_str(sip::Name::From)
        .unwrap()
        .contains("Jane Roe"));
    let rooms = room.answer(&inv, &[PCMU]);
    support::phone::assert_two_way(&jane, &janes, &room, &rooms);
    browser.wait_text("main", "No calls are parked");
    assert_eq!(browser.eval("return window.parklineMark"), 42);

    // Live calls: Jane and the room talk; hanging up from the page ends it.
    browser.click("nav a[href='/calls']");
    browser.wait_text("table.calls td.state", "talking");
    let call = browser.texts("table.calls tbody tr")[0].clone();
    assert!(
        call.contains("Jane Roe") && call.contains("Conference Room"),
        "{call}"
    );
    browser.wait_text("#live", "live");
    screenshot(&mut browser, "console-calls.png");
    browser.click("table.calls button.hangup");
    for phone in [&mut jane, &mut room] {
        let bye = phone
            .request("BYE", Duration::from_secs(3))
            .expect("the operator's hang-up reaches both");
        phone.ok(&bye);
    }
    browser.wait_text("main", "No calls.");
    server.wait_idle();

    // Registrations, records (search, CSV), status.
    browser.click("nav a[href='/registrations']");
    for ext in ["333", "444", "555"] {
        browser.wait_text("table.registrations td.extension", ext);
    }
    screenshot(&mut browser, "console-registrations.png");
    browser.click("nav a[href='/records']");
    browser.fill("input[name=q]", "operator");
    browser.click("form.search button");
    // The search's own page (the list before it has both calls).
    browser.wait_url("/records?q=operator");
    let rows = browser.wait_text("table.records tbody tr", "Hung up by the operator");
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Jane was called by John's number, and talked to the room at the end.
    assert_eq!(browser.texts("table.records td.connected"), ["555 ↔ 444"]);
    let href = browser.eval("return document.querySelector('a.csv').getAttribute('href')");
    let href = href.as_str().unwrap().to_string();
    assert_eq!(href, "/api/records?format=csv&q=operator");
    let (status, csv) = server.http_get_with(&href, Some(ADMIN_TOKEN));
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,tenant,caller,callee"), "{csv}");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains("Hung up by the operator"), "{csv}");
    screenshot(&mut browser, "console-records.png");
    browser.click("nav a[href='/status']");
    browser.wait_text(".figure dt", "Parked calls");
    assert_eq!(
        browser.eval("return document.querySelectorAll('.figure svg polyline').length"),
        6
    );
    screenshot(&mut browser, "console-status.png");

    // Everything came from the switch itself.
    let loaded = browser.loaded();
    assert!(loaded.iter().all(|u| u.starts_with(&base)), "{loaded:?}");

    // Signing out ends the session.
    browser.click("header form button");
    browser.wait_url("/login");
    assert!(browser.open(&format!("{base}/calls")).ends_with("/login"));
}

#[test]
fn a_tenants_read_only_console_shows_no_buttons_and_a_session_alone_changes_nothing() {
    let test = "a_tenants_read_only_console_shows_no_buttons";
    let Some(mut browser) = Browser::start(test) else {
        return;
    };
    let server = Server::start("console-scope");
    let base = format!("http://127.0.0.1:{}", server.http_port);
    let mut john = server.registered("333");
    let mut jane = server.registered("555");
    let (_janes, mut johns) = support::phone::connect(&mut jane, &mut john, &[PCMU], &[PCMU]);
    assert_eq!(john.reinvite(&mut johns, "sendonly").status, 200);
    support::phone::park(&mut john, "*70333");

    sign_in(&mut browser, &base, READER_TOKEN);
    browser.wait_text("table.parked td.position", "333");
    assert_eq!(
        browser.eval("return document.querySelectorAll('main button').length"),
        0
    );
    browser.wait_text("header .who", "read-only");

    // The session cookie from a sign-in, used without the console's
    // header (as a cross-site form would), changes nothing.
    let form = format!("token={DEMO_TOKEN}");
    let signed = server.http_with_head(
        "POST",
        "/login",
        &format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            form.len()
        ),
        &form,
    );
    assert!(signed.starts_with("HTTP/1.0 303"), "{signed}");
    let cookie = signed
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let body = r#"{"extension": "444"}"#;
    let head = |extra: &str| {
        format!(
            "Cookie: {cookie}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}",
            body.len()
        )
    };
    let path = "/api/parked/demo/333/retrieve";
    let forged = server.http_with_head("POST", path, &head(""), body);
    assert!(forged.starts_with("HTTP/1.0 403"), "{forged}");
    // The same session reads, and a tenant's session sees only its
    // tenant's figures.
    let read = server.http_with_head("GET", "/api/parked", &format!("Cookie: {cookie}\r\n"), "");
    assert!(
        read.starts_with("HTTP/1.0 200") && read.contains("*71333"),
        "{read}"
    );
    let status = server.http_with_head(
        "GET",
        "/console/fragment/status",
        &format!("Cookie: {cookie}\r\n"),
        "",
    );
    assert!(status.contains("need a token for every tenant"), "{status}");
    // A wrong token on the form is a 401 with the form again.
    let wrong = server.http_with_head(
        "POST",
        "/login",
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n",
        "token=x",
    );
    assert!(
        wrong.starts_with("HTTP/1.0 401") && wrong.contains("name=\"token\""),
        "{wrong}"
    );
    // Headers that keep the console to itself.
    assert!(
        wrong.contains("content-security-policy: default-src 'self'"),
        "{wrong}"
    );
    assert!(wrong.contains("x-frame-options: DENY"), "{wrong}");
}
