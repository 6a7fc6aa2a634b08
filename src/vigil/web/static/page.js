// vigil status page. Plain JavaScript, no build step, no dependency.
// Every text from the daemon (names, probe output, events) goes into the DOM through
// textContent or SVG attributes, never as HTML: probe output is hostile input.
"use strict";

(() => {
  const main = document.getElementById("main");
  const totals = document.getElementById("totals");
  const connection = document.getElementById("connection");
  const match = location.pathname.match(/^\/services\/([^/]+)$/);
  const serviceName = match ? decodeURIComponent(match[1]) : null;
  const RANGES = ["1h", "24h", "7d"];
  const STRIP = 30, TABLE = 50, EVENTS = 200, POINTS = 2000;
  const query = new URLSearchParams(location.search);
  let range = RANGES.includes(query.get("range")) ? query.get("range") : "24h";
  // What the page holds: services by ID (overview) or one service's history.
  const state = { services: new Map(), detail: null, messages: 0, snapshots: 0 };

  // ---- DOM helpers ------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fact(list, label, value) {
    list.append(el("dt", {}, label), el("dd", {}, value));
  }

  // ---- formatting -------------------------------------------------------------------------
  function percent(pair) {
    const [passed, total] = pair || [0, 0];
    return total ? `${(100 * passed / total).toFixed(2)}% (${passed}/${total})` : "—";
  }
  function when(ms) {
    return ms ? new Date(ms).toLocaleString() : "—";
  }
  function ago(ms) {
    if (!ms) return "";
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }
  function duration(ms) {
    return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
  }
  function shown(service) {
    return service.health !== "none" ? service.health : service.state;
  }
  function badge(service) {
    return el("span", { className: "badge", "data-status": shown(service) }, shown(service));
  }
  function resultText(result) {
    return `${when(result.start)} · exit ${result.exit_code} (${result.outcome}) · ${duration(result.duration_ms)}`;
  }

  // ---- overview ---------------------------------------------------------------------------
  function tick(result) {
    return el("span", {
      className: result.ok ? "tick" : "tick fail",
      title: resultText(result),
      "data-start": String(result.start),
    });
  }
  function overviewRow(service) {
    const link = el("a", { href: `/services/${encodeURIComponent(service.name)}` }, service.name);
    const facts = el("dl", { className: "facts" });
    fact(facts, "state", service.state);
    fact(facts, "failing streak", String(service.failing_streak));
    fact(facts, "uptime 24 h", percent(service.uptime.day));
    fact(facts, "uptime 7 d", percent(service.uptime.week));
    const last = service.last;
    const output = el("div", {},
      el("pre", { className: "output" }, last ? last.output || "(no output)" : "(no result yet)"),
      last ? el("div", { className: "meta" }, `${resultText(last)} · ${ago(last.start)}`) : null,
      el("div", { className: "strip", "aria-label": "recent results" }, ...service.recent.map(tick)));
    return el("article", { className: "service", "data-id": service.id, "data-health": shown(service) },
      el("div", {}, el("h2", {}, link), badge(service),
        service.error ? el("div", { className: "meta" }, service.error) : null),
      facts, output);
  }
  function renderOverview() {
    const list = el("section", { className: "services" });
    const services = [...state.services.values()];
    for (const service of services) list.append(overviewRow(service));
    if (!services.length) list.append(el("p", { className: "muted" }, "No services."));
    main.replaceChildren(list);
    renderTotals();
  }
  function renderTotals() {
    const services = [...state.services.values()];
    const counts = {};
    for (const service of services) counts[shown(service)] = (counts[shown(service)] || 0) + 1;
    totals.textContent = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(" · ");
    document.title = counts.unhealthy ? `(${counts.unhealthy} unhealthy) vigil status` : "vigil status";
  }
  function addResult(service, result) {
    // A result may come in the snapshot and again in the first update: keep it once.
    if (service.recent.some((r) => r.start === result.start)) return false;
    service.recent.push(result);
    if (service.recent.length > STRIP) service.recent.shift();
    for (const key of ["day", "week"]) {
      const pair = service.uptime[key];
      service.uptime[key] = [pair[0] + (result.ok ? 1 : 0), pair[1] + 1];
    }
    return true;
  }
  function applyOverview(update) {
    for (const summary of update.services) {
      const known = state.services.get(summary.id);
      state.services.set(summary.id, Object.assign(
        known || { uptime: { day: [0, 0], week: [0, 0] }, recent: [] },
        summary, known ? { uptime: known.uptime, recent: known.recent } : {}));
    }
    for (const id of update.removed) state.services.delete(id);
    for (const result of update.results) {
      const service = state.services.get(result.id);
      if (service) addResult(service, result);
    }
    // Redraw only the rows that changed; the whole list when services came or went.
    const rows = new Map([...main.querySelectorAll("article.service")].map((r) => [r.dataset.id, r]));
    const same = rows.size === state.services.size && [...state.services.keys()].every((id) => rows.has(id));
    if (!same) {
      renderOverview();
      return;
    }
    const touched = new Set([...update.services.map((s) => s.id), ...update.results.map((r) => r.id)]);
    for (const id of touched) {
      if (rows.has(id) && state.services.has(id)) rows.get(id).replaceWith(overviewRow(state.services.get(id)));
    }
    renderTotals();
  }

  // ---- one service ------------------------------------------------------------------------
  function chart(detail) {
    // Drawn at the width it is shown at, so its text stays readable on a phone.
    const W = Math.round(Math.max(300, Math.min(1000, main.clientWidth - 40))), H = 240;
    const L = 56, R = 10, T = 12, B = 28;
    const points = detail.points;
    // From the first result when the history is shorter than the range: the points fill it.
    const to = Math.max(detail.now, ...points.map((p) => p.start));
    const from = points.length ? Math.max(detail.since, Math.min(points[0].start, to - 60000)) : detail.since;
    const top = Math.max(1, ...points.map((p) => p.duration_ms)) * 1.1;
    const x = (ms) => L + (W - L - R) * (to > from ? (ms - from) / (to - from) : 1);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
      "aria-label": `probe duration over the last ${detail.range}, failures in red`,
      "data-points": points.length, "data-failures": points.filter((p) => !p.ok).length,
    });
    root.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    root.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
    root.append(svg("text", { x: L - 6, y: T + 10, "text-anchor": "end" }, duration(top)));
    root.append(svg("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0"));
    root.append(svg("text", { x: L, y: H - 8 }, new Date(from).toLocaleString()));
    root.append(svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, new Date(to).toLocaleString()));
    if (points.length) {
      const path = points.map((p) => `${x(p.start).toFixed(1)},${y(p.duration_ms).toFixed(1)}`);
      root.append(svg("polyline", { class: "line", points: path.join(" ") }));
    }
    for (const p of points) {
      const dot = svg("circle", {
        class: p.ok ? "point pass" : "point fail", cx: x(p.start).toFixed(1),
        cy: y(p.duration_ms).toFixed(1), r: p.ok ? 2 : 4, "data-start": p.start,
      });
      dot.append(svg("title", {}, resultText(p)));
      root.append(dot);
    }
    return root;
  }
  function resultRow(result) {
    return el("tr", { className: result.ok ? "" : "fail" },
      el("td", { className: "num" }, when(result.start)),
      el("td", { className: "num" }, duration(result.duration_ms)),
      el("td", { className: "num" }, `${result.exit_code}`),
      el("td", { className: "wide" }, result.outcome),
      el("td", {}, el("pre", { className: "output" }, result.output || "")));
  }
  function eventItem(event) {
    const attributes = Object.entries(event.attributes).map(([k, v]) => `${k}=${v}`).join(" ");
    return el("li", {}, el("span", { className: "meta" }, when(event.time)), " ",
      el("strong", {}, event.action), attributes ? ` ${attributes}` : "");
  }
  let actions = null;  // made once: what the user typed and the last answer stay put
  function actionsPanel() {
    if (!actions) actions = makeActionsPanel();
    return actions;
  }
  function makeActionsPanel() {
    const token = el("input", {
      type: "password", id: "token", autocomplete: "off", placeholder: "token (needed for actions)",
      value: sessionStorage.getItem("vigil-token") || "", "aria-label": "action token",
    });
    const result = el("span", { id: "action-result", role: "status" });
    const buttons = ["restart", "stop", "start", "pause", "unpause"].map((action) => {
      const button = el("button", { type: "button", "data-action": action }, action);
      button.addEventListener("click", () => act(action, token.value, result));
      return button;
    });
    return el("section", { className: "panel" }, el("h2", {}, "Actions"),
      el("div", { className: "actions" }, token, ...buttons, result),
      el("p", { className: "meta" },
        "Actions need the daemon's token (the API token, or the one in <state dir>/web-token). " +
        "It stays in this tab only."));
  }
  async function act(action, token, result) {
    sessionStorage.setItem("vigil-token", token);
    result.textContent = `${action}…`;
    result.removeAttribute("data-ok");
    try {
      const answer = await fetch(
        `/api/actions/${encodeURIComponent(serviceName)}/${action}`,
        { method: "POST", headers: token ? { Authorization: `Bearer ${token}` } : {} });
      if (answer.ok) {
        result.textContent = `${action}: done`;
        result.setAttribute("data-ok", "true");
      } else {
        const body = await answer.json().catch(() => ({}));
        result.textContent = `${action}: ${body.message || answer.statusText}`;
        result.setAttribute("data-ok", "false");
      }
    } catch (error) {
      result.textContent = `${action}: ${error}`;
      result.setAttribute("data-ok", "false");
    }
  }
  function renderDetail() {
    const detail = state.detail;
    const service = detail.service;
    const facts = el("dl", { className: "facts" });
    fact(facts, "state", service.state);
    fact(facts, "health", service.health);
    fact(facts, "failing streak", String(service.failing_streak));
    fact(facts, "uptime 24 h", percent(service.uptime.day));
    fact(facts, "uptime 7 d", percent(service.uptime.week));
    fact(facts, "restarts", String(service.restart_count));
    fact(facts, "started", when(service.started_at));
    if (service.check) {
      const c = service.check;
      fact(facts, "check", `every ${c.interval}, timeout ${c.timeout}, ` +
        `unhealthy after ${c.retries} failures, start period ${c.start_period}`);
    }
    if (service.error) fact(facts, "error", service.error);
    const ranges = el("nav", { className: "ranges", "aria-label": "chart range" }, "range: ",
      ...RANGES.map((r) => {
        const link = el("a", { href: `?range=${r}`, "aria-current": String(r === range) }, r);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          range = r;
          history.replaceState(null, "", `?range=${r}`);
          connect();
        });
        return link;
      }));
    const table = el("table", { className: "results" },
      el("thead", {}, el("tr", {}, el("th", {}, "time"), el("th", {}, "duration"),
        el("th", {}, "exit"), el("th", { className: "wide" }, "outcome"), el("th", {}, "output"))),
      el("tbody", {}, ...detail.results.map(resultRow)));
    main.replaceChildren(el("div", { className: "detail", "data-id": service.id, "data-health": shown(service) },
      el("a", { href: "/" }, "← all services"),
      el("h1", {}, `${service.name} `, badge(service)),
      el("section", { className: "panel" }, facts),
      actionsPanel(),
      el("section", { className: "panel" }, el("h2", {}, "Probe duration"), ranges, chart(detail)),
      el("section", { className: "panel" },
        el("h2", {}, detail.events_since > detail.since ? "Events (last 24 h)" : "Events"),
        detail.events.length ? el("ul", { className: "events" }, ...detail.events.map(eventItem))
          : el("p", { className: "muted" }, "No events in this range.")),
      el("section", { className: "panel" }, el("h2", {}, "Recent results"),
        el("div", { className: "scroll" }, table))));
    totals.textContent = service.name;
    document.title = `${service.name}: ${shown(service)} · vigil`;
  }
  function applyDetail(update) {
    const detail = state.detail;
    for (const summary of update.services) {
      Object.assign(detail.service, summary);
    }
    for (const result of update.results) {
      if (detail.points.some((p) => p.start === result.start)) continue;
      const point = Object.assign({}, result);
      delete point.output;
      detail.points.push(point);
      if (detail.points.length > POINTS) detail.points.shift();
      detail.results.unshift(result);
      if (detail.results.length > TABLE) detail.results.pop();
      for (const key of ["day", "week"]) {
        const pair = detail.service.uptime[key];
        detail.service.uptime[key] = [pair[0] + (result.ok ? 1 : 0), pair[1] + 1];
      }
      detail.now = Math.max(detail.now, result.start);
    }
    detail.events.unshift(...update.events.slice().reverse());
    detail.events.length = Math.min(detail.events.length, EVENTS);
    if (update.removed.length) {
      main.replaceChildren(el("p", { className: "muted" }, `${serviceName} was removed.`));
      return;
    }
    renderDetail();
  }

  // ---- the live stream --------------------------------------------------------------------
  let source = null;
  let retry = null;
  let delay = 1000;
  function setConnection(what) {
    connection.dataset.state = what;
    connection.textContent = what;
  }
  function count() {
    setConnection("live");  // a message proves it, whatever events came before
    state.messages += 1;
    document.body.dataset.messages = String(state.messages);
  }
  function onSnapshot(event) {
    count();
    state.snapshots += 1;
    document.body.dataset.snapshots = String(state.snapshots);
    const data = JSON.parse(event.data);
    delay = 1000;
    if (serviceName === null) {
      state.services = new Map(data.services.map((s) => [s.id, s]));
      renderOverview();
    } else {
      state.detail = data;
      renderDetail();
    }
  }
  function onUpdate(event) {
    count();
    const update = JSON.parse(event.data);
    if (serviceName === null) applyOverview(update);
    else if (state.detail) applyDetail(update);
  }
  async function explain() {
    // The stream was refused: say why when the daemon says (an unknown service: 404).
    try {
      const answer = await fetch(`/api/services/${encodeURIComponent(serviceName)}`);
      if (answer.status === 404) {
        const body = await answer.json();
        main.replaceChildren(el("p", { className: "muted" }, body.message));
      }
    } catch (error) { /* the daemon is away: the connection badge says so */ }
  }
  function connect() {
    if (source) source.close();
    clearTimeout(retry);
    const params = new URLSearchParams({ range });
    if (serviceName !== null) params.set("service", serviceName);
    source = new EventSource(`/api/live?${params}`);
    source.addEventListener("open", () => setConnection("live"));
    source.addEventListener("snapshot", onSnapshot);
    source.addEventListener("update", onUpdate);
    source.addEventListener("error", () => {
      setConnection("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not a dropped connection, which EventSource retries itself): retry
        // later, backing off to 30 s.
        if (serviceName !== null) explain();
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  }
  // ---- the fleet (fleet mode): every node's services, grouped by node, with liveness ---
  // Read from the fleet's database every FLEET_POLL ms (nodes publish every 0.5 s).
  const FLEET_POLL = 2000;
  function fleetNode(node) {
    const head = el("div", { className: "node-head" }, el("h2", {}, node.Name),
      el("span", { className: "badge", "data-status": node.State === "ready" ? "healthy" : "unhealthy" },
        node.State),
      el("span", { className: "meta" }, node.Heartbeat ? `heartbeat ${ago(Date.parse(node.Heartbeat))}` : ""));
    const rows = node.Services.map((item) => {
      const health = item.Health.Status !== "none" ? item.Health.Status : item.State;
      return el("article", { className: "service", "data-health": health, "data-name": item.Names[0] },
        el("div", {}, el("h2", {}, item.Names[0].slice(1)),
          el("span", { className: "badge", "data-status": health }, health)),
        el("div", { className: "meta" }, item.Status),
        el("div", { className: "meta" }, item.Command));
    });
    if (!rows.length) rows.push(el("p", { className: "muted" }, "No services."));
    return el("section", { className: "node", "data-node": node.Name, "data-state": node.State },
      head, el("div", { className: "services" }, ...rows));
  }
  async function pollFleet() {
    try {
      const answer = await fetch("/api/fleet");
      const body = await answer.json();
      if (!answer.ok) {
        main.replaceChildren(el("p", { className: "muted" }, body.message));
        setConnection("reconnecting");
      } else {
        count();
        main.replaceChildren(...body.nodes.map(fleetNode));
        const down = body.nodes.filter((n) => n.State !== "ready").length;
        totals.textContent = `${body.nodes.length} nodes` + (down ? ` · ${down} down` : "");
      }
    } catch (error) {
      setConnection("reconnecting");
    }
    setTimeout(pollFleet, FLEET_POLL);
  }
  async function linkFleet() {
    try {
      if ((await fetch("/api/fleet")).ok) {
        totals.before(el("a", { href: "/fleet", className: "fleet-link" }, "fleet"));
      }
    } catch (error) { /* no fleet: no link */ }
  }
  if (location.pathname === "/fleet") {
    pollFleet();
  } else {
    linkFleet();
    connect();
  }
})();
