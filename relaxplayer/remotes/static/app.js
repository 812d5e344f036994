// The phone page: reads /api/*, listens to /api/events, posts commands. No libraries.
"use strict";
const $ = (id) => document.getElementById(id);
let state = {};
let sleepChoice = null;

function clock(seconds) {
  seconds = Math.max(0, Math.round(seconds || 0));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}

function say(text) { $("message").textContent = text || ""; }

async function post(path, body) {
  try {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body || {}) });
    const data = await r.json();
    if (!r.ok) { say(data.error || "That did not work."); return; }
    say(""); show(data);
  } catch (e) { say("The box does not answer."); }
}

async function get(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error((await r.json()).error || r.statusText);
  return r.json();
}

function show(st) {
  state = st;
  const active = st.state !== "idle";
  $("now-title").textContent = active ? (st.title || st.session || "Starting…") : "Nothing playing";
  $("section").textContent = active ? [st.section, st.step].filter(Boolean).join(" · ") : "";
  const subtitle = active ? (st.subtitle || "") : "";
  if ($("subtitle").textContent !== subtitle) $("subtitle").textContent = subtitle;
  const length = st.length || 0, position = st.position || 0;
  const pct = length ? Math.min(100, (100 * position) / length) : 0;
  $("bar").style.width = pct.toFixed(1) + "%";
  $("progress").setAttribute("aria-valuenow", String(Math.round(pct)));
  $("elapsed").textContent = active ? clock(position) : "";
  $("remaining").textContent = active && length ? "−" + clock(length - position) : "";
  const paused = st.state === "paused";
  const toggle = $("toggle");
  toggle.querySelector(".i-pause").toggleAttribute("hidden", paused);
  toggle.querySelector(".i-play").toggleAttribute("hidden", !paused);
  toggle.querySelector("span").textContent = paused ? "Resume" : "Pause";
  toggle.setAttribute("aria-label", paused ? "Resume" : "Pause");
  for (const id of ["toggle", "next", "restart", "stop"]) $(id).disabled = !active;
  if (typeof st.volume === "number" && document.activeElement !== $("volume")) {
    $("volume").value = Math.round(st.volume * 100);
  }
  const b = st.breathing;
  $("breath-label").textContent = b ? b.phase : "";
  $("breath-label").style.visibility = b ? "visible" : "hidden";
  if (b) {
    const grow = b.phase === "inhale" ? 1.25 : b.phase === "exhale" ? 1.0 : null;
    if (grow) $("breath-label").style.transform = "scale(" + grow + ")";
  }
  const left = st.sleep_remaining;
  $("sleep-left").textContent = left != null ? "(" + clock(left) + " left)" : "";
  if (left == null) sleepChoice = null;
  for (const btn of document.querySelectorAll("[data-sleep]")) {
    btn.setAttribute("aria-pressed", String(btn.dataset.sleep === (sleepChoice || "off")));
  }
}

async function loadLibrary() {
  const data = await get("/api/library");
  const list = $("library");
  list.replaceChildren();
  for (const s of data.sessions) {
    const li = document.createElement("li");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "session";
    btn.dataset.session = s.name;
    btn.setAttribute("aria-label", "Play " + s.title);
    const title = document.createElement("b");
    title.textContent = s.title;
    title.style.fontWeight = "500";
    const info = document.createElement("span");
    info.textContent = s.error ? "cannot be read" :
      [clock(s.seconds), ...(s.tags || []).slice(0, 2), s.origin === "user" ? "yours" : ""]
        .filter(Boolean).join(" · ");
    btn.append(title, info);
    btn.disabled = Boolean(s.error);
    btn.addEventListener("click", () => post("/api/play", { session: s.name }));
    li.append(btn);
    list.append(li);
  }
}

async function loadHistory() {
  const data = await get("/api/history");
  const list = $("history");
  list.replaceChildren();
  if (!data.enabled) { $("totals").textContent = "History is off."; return; }
  const t = data.totals;
  $("totals").textContent = "This week " + clock(t.week) + ", this month " + clock(t.month) + ".";
  for (const p of data.recent) {
    const li = document.createElement("li");
    li.textContent = p.started.slice(0, 16).replace("T", " ") + "  " + p.title + " · " +
      clock(p.heard_seconds) + (p.how ? " · " + p.how : "");
    list.append(li);
  }
}

async function loadSchedule() {
  const data = await get("/api/schedule");
  const list = $("schedule");
  list.replaceChildren();
  if (data.problem) { const li = document.createElement("li"); li.textContent = data.problem; list.append(li); }
  if (!data.runs.length) { const li = document.createElement("li"); li.textContent = "Nothing scheduled."; list.append(li); }
  for (const r of data.runs) {
    const li = document.createElement("li");
    li.textContent = r.at.slice(0, 16).replace("T", " ") + "  " + r.session;
    list.append(li);
  }
}

function listen() {
  const source = new EventSource("/api/events");
  source.addEventListener("status", (e) => {
    const before = state.state;
    show(JSON.parse(e.data));
    if (before && before !== "idle" && state.state === "idle") loadHistory().catch(() => {});
  });
  source.addEventListener("notice", (e) => say(JSON.parse(e.data).message));
  source.onerror = () => say("Reconnecting…");
  source.onopen = () => say("");
}

$("toggle").addEventListener("click", () =>
  post(state.state === "paused" ? "/api/resume" : "/api/pause"));
$("next").addEventListener("click", () => post("/api/next"));
$("restart").addEventListener("click", () => post("/api/restart"));
$("stop").addEventListener("click", () => post("/api/stop"));
$("volume").addEventListener("change", (e) => post("/api/volume", { volume: e.target.value / 100 }));
for (const btn of document.querySelectorAll("[data-sleep]")) {
  btn.addEventListener("click", () => {
    const v = btn.dataset.sleep;
    sleepChoice = v === "off" ? null : v;
    post("/api/sleep", { minutes: v === "off" ? null : Number(v) });
  });
}

get("/api/status").then(show).catch((e) => say(e.message));
loadLibrary().catch((e) => say(e.message));
loadHistory().catch(() => {});
loadSchedule().catch(() => {});
listen();
