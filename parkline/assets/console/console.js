// Parkline console: keeps the page's fragment live from the switch's
// event stream, counts its clocks, and sends its buttons to the API.
// A plain ES module, embedded in the binary; no build step, no CDN.

const fragment = document.getElementById("fragment");
const live = document.getElementById("live");
const body = document.body;
// The server's clock minus ours, so clocks count from the server's time.
const skewMs = Number(body.dataset.nowMs) - Date.now();

/** The server's time now, Unix milliseconds. */
const serverNow = () => Date.now() + skewMs;

/** Seconds as m:ss, or h:mm:ss from an hour (as the server writes them). */
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Updates every counting clock of the page. */
function tick() {
  const now = serverNow();
  for (const cell of document.querySelectorAll("[data-since-ms]")) {
    cell.textContent = clock((now - Number(cell.dataset.sinceMs)) / 1000);
  }
  for (const cell of document.querySelectorAll("[data-until-ms]")) {
    cell.textContent = clock((Number(cell.dataset.untilMs) - now) / 1000);
  }
}

let fetching = false;
let again = false;

/** Fetches the fragment again (one request at a time; events that come
 * meanwhile cause one more fetch after it, not one each). */
async function refresh() {
  if (fetching) {
    again = true;
    return;
  }
  fetching = true;
  try {
    const query = fragment.dataset.query ? `?${fragment.dataset.query}` : "";
    const res = await fetch(`/console/fragment/${fragment.dataset.fragment}${query}`, {
      credentials: "same-origin",
    });
    if (res.redirected || res.status === 401) {
      location.assign("/login");
      return;
    }
    if (res.ok) {
      fragment.innerHTML = await res.text();
      fragment.dataset.refreshes = String(Number(fragment.dataset.refreshes || 0) + 1);
      tick();
    }
  } finally {
    fetching = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

/** Listens to the switch's events; those the page shows refresh it. */
function listen() {
  const wanted = new Set((fragment.dataset.refreshOn || "").split(" ").filter(Boolean));
  if (wanted.size === 0) {
    // The status page: a new sample comes every 5 s.
    live.textContent = "updated every 5 s";
    setInterval(refresh, 5000);
    return;
  }
  const events = new EventSource("/api/events");
  events.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
    // Whatever happened while we were not listening.
    refresh();
  };
  events.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
  events.onmessage = (msg) => {
    let event;
    try {
      event = JSON.parse(msg.data);
    } catch {
      return;
    }
    if (wanted.has(event.type)) refresh();
  };
}

/** Sends a change to the API; the event it causes refreshes the page. */
async function change(method, path, json) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Parkline-Console": "1" },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  if (!res.ok) {
    let why = `${res.status}`;
    try {
      const body = await res.json();
      why = body.field ? `${body.field}: ${body.error}` : body.error || why;
    } catch {
      why = (await res.text().catch(() => "")) || why;
    }
    showProblem(why);
  } else {
    showProblem("");
  }
  refresh();
}

/** Shows (or clears) what the last change was refused for. */
function showProblem(text) {
  let p = document.getElementById("problem");
  if (!p) {
    p = document.createElement("p");
    p.id = "problem";
    p.className = "problem";
    p.setAttribute("role", "alert");
    fragment.before(p);
  }
  p.textContent = text;
  p.hidden = text === "";
}

fragment.addEventListener("submit", (e) => {
  const form = e.target.closest("form.retrieve");
  if (!form) return;
  e.preventDefault();
  const extension = form.elements.extension.value.trim();
  const { tenant, position } = form.dataset;
  change(
    "POST",
    `/api/parked/${encodeURIComponent(tenant)}/${encodeURIComponent(position)}/retrieve`,
    { extension },
  );
});

fragment.addEventListener("click", (e) => {
  const button = e.target.closest("button.hangup");
  if (!button) return;
  change("DELETE", `/api/calls/${encodeURIComponent(button.dataset.call)}`);
});

tick();
setInterval(tick, 1000);
listen();
