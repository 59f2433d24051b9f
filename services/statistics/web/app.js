// Xinfang statistics dashboard. No dependencies, no external resources:
// the page calls the service's own API with the staff token the user
// pasted (kept in localStorage; a "#token=…" fragment is taken once and
// removed from the address bar) and draws its charts as inline SVG.
"use strict";

(function () {
  const TOKEN_KEY = "xinfang.statistics.token";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  function fail(msg) {
    const box = $("errors");
    if (box) box.textContent += (box.textContent ? "\n" : "") + msg;
    document.body.dataset.state = "error";
    console.error(msg);
  }
  window.addEventListener("error", (e) => fail("脚本错误：" + e.message));
  window.addEventListener("unhandledrejection", (e) => fail("请求失败：" + (e.reason && e.reason.message ? e.reason.message : e.reason)));

  // ---- token ----
  function takeFragmentToken() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  }
  const token = () => localStorage.getItem(TOKEN_KEY) || "";

  class HTTPError extends Error {
    constructor(status, body) {
      super((body && body.message) || ("HTTP " + status));
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
    const url = path + (q.toString() ? "?" + q : "");
    const res = await fetch(url, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new HTTPError(res.status, body);
    return body;
  }

  // ---- formatting ----
  const num = (n) => (n == null ? "—" : Number(n).toLocaleString("en-US"));
  const pct = (p) => (p == null ? "—" : p.toFixed(2) + "%");
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  // ---- charts ----
  // Horizontal bars: rows of {label, value, note}.
  function hbars(container, rows) {
    container.textContent = "";
    const W = 380, rowH = 22, left = 130, right = 50;
    const H = Math.max(rows.length, 1) * rowH + 6;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    if (!rows.length) {
      s.appendChild(svg("text", { x: 8, y: 16, class: "empty" }, "暂无数据"));
    }
    const max = Math.max(1, ...rows.map((r) => r.value));
    rows.forEach((r, i) => {
      const y = 3 + i * rowH;
      const w = Math.round(((W - left - right) * r.value) / max);
      const label = r.label.length > 9 ? r.label.slice(0, 9) + "…" : r.label;
      s.appendChild(svg("text", { x: left - 6, y: y + 14, "text-anchor": "end" }, label));
      const bar = svg("rect", { x: left, y: y + 3, width: Math.max(w, r.value > 0 ? 2 : 0), height: rowH - 8, class: "bar" });
      bar.appendChild(svg("title", {}, `${r.label}：${num(r.value)}${r.note ? "（" + r.note + "）" : ""}`));
      s.appendChild(bar);
      s.appendChild(svg("text", { x: left + w + 4, y: y + 14 }, num(r.value) + (r.note ? " " + r.note : "")));
    });
    container.appendChild(s);
    container.dataset.bars = String(rows.filter((r) => r.value > 0).length);
  }

  // Columns for this year's months and a line for last year's.
  function months(container, cur, prev) {
    container.textContent = "";
    const W = 1100, H = 230, left = 40, bottom = 24, top = 10;
    const n = Math.max(cur.length, 1);
    const max = Math.max(1, ...cur.map((r) => r.value), ...prev.map((r) => r.value));
    const step = (W - left - 10) / n;
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    s.appendChild(svg("line", { x1: left, y1: H - bottom, x2: W - 5, y2: H - bottom, class: "axis" }));
    for (const t of [0, 0.5, 1]) {
      const v = Math.round(max * t);
      s.appendChild(svg("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end" }, num(v)));
      s.appendChild(svg("line", { x1: left, y1: y(v), x2: W - 5, y2: y(v), class: "axis" }));
    }
    cur.forEach((r, i) => {
      const x = left + i * step + step * 0.2;
      const bar = svg("rect", { x, y: y(r.value), width: step * 0.6, height: H - bottom - y(r.value), class: "bar" });
      bar.appendChild(svg("title", {}, `${r.label}：${num(r.value)}件次`));
      s.appendChild(bar);
      s.appendChild(svg("text", { x: x + step * 0.3, y: H - 8, "text-anchor": "middle" }, r.label.replace(/^\d+年/, "")));
    });
    const pts = prev.slice(0, n).map((r, i) => `${left + i * step + step / 2},${y(r.value)}`);
    if (pts.length) {
      s.appendChild(svg("polyline", { points: pts.join(" "), class: "line" }));
      prev.slice(0, n).forEach((r, i) => {
        const dot = svg("circle", { cx: left + i * step + step / 2, cy: y(r.value), r: 3, class: "dot" });
        dot.appendChild(svg("title", {}, `上年${r.label}：${num(r.value)}件次`));
        s.appendChild(dot);
      });
    }
    container.appendChild(s);
    container.dataset.bars = String(cur.filter((r) => r.value > 0).length);
  }

  // ---- figures ----
  function card(label, value, detail, trend) {
    const c = el("div", { class: "card" });
    c.appendChild(el("div", { class: "k" }, label));
    c.appendChild(el("div", { class: "v" }, value));
    if (detail) c.appendChild(el("div", { class: "d" + (trend ? " " + trend : "") }, detail));
    return c;
  }

  function yoy(c) {
    if (c.changePercent == null) return ["上年同期 " + num(c.previous), ""];
    const t = c.changePercent > 0 ? "up" : c.changePercent < 0 ? "down" : "";
    const sign = c.changePercent > 0 ? "+" : "";
    return [`同比 ${sign}${c.changePercent.toFixed(2)}%（上年 ${num(c.previous)}）`, t];
  }

  function renderSummary(s) {
    $("county").textContent = s.countyName || s.county;
    document.title = (s.countyName || s.county) + "信访统计";
    $("range").textContent = `${s.from} 至 ${s.to}（同比 ${s.previousFrom} 至 ${s.previousTo}）`;
    const cards = $("cards");
    cards.textContent = "";
    for (const id of ["registrations", "persons"]) {
      const c = s.counts[id];
      const [d, t] = yoy(c);
      cards.appendChild(card(c.label, num(c.value), d, t));
    }
    for (const id of ["firstTime", "repeat", "group", "transferred", "assigned", "duban", "diverted", "concluded"]) {
      const c = s.counts[id];
      cards.appendChild(card(c.label, num(c.value), "上年同期 " + num(c.previous)));
    }
    const rateOrder = ["timelyAcknowledgement", "onTimeCompletion", "oneTimeResolution", "resolution", "bureauSatisfaction",
      "bureauParticipation", "unitSatisfaction", "unitParticipation", "mediationSuccess", "reviewUpheld", "reReviewUpheld",
      "leaderResolution", "onlineShare", "firstTimeShare"];
    for (const id of rateOrder.concat(Object.keys(s.rates).filter((k) => !rateOrder.includes(k)))) {
      const r = s.rates[id];
      if (!r) continue;
      cards.appendChild(card(r.label, pct(r.percent), `${num(r.numerator)}/${num(r.denominator)} · 上年 ${pct(r.previousPercent)}`));
    }
    cards.appendChild(card("积案", num(s.backlog.total), "截至 " + s.backlog.asOf));
    hbars($("chart-backlog"), s.backlog.ageing.map((b) => ({ label: b.label, value: b.count })));
    hbars($("chart-respondent"), s.topRespondents.map((e) => ({ label: e.label, value: e.value })));
  }

  const regs = (b, limit) =>
    b.rows
      .map((r) => ({ label: r.label, value: r.counts.registrations, note: r.backlog ? "积案" + r.backlog : "" }))
      .filter((r, i) => limit == null || (r.value > 0 && i < limit));

  function renderAlerts(list) {
    const body = $("alerts").querySelector("tbody");
    body.textContent = "";
    if (!list.alerts.length) {
      const tr = el("tr");
      tr.appendChild(el("td", { colspan: "5" }, "无预警"));
      body.appendChild(tr);
    }
    for (const a of list.alerts) {
      const tr = el("tr", { "data-kind": a.kind });
      tr.appendChild(el("td", {}, a.raisedAt.replace("T", " ").slice(0, 16)));
      tr.appendChild(el("td", {}, a.kindLabel || a.kind));
      tr.appendChild(el("td", {}, a.label));
      tr.appendChild(el("td", { class: "n" }, num(a.count)));
      tr.appendChild(el("td", {}, a.message));
      body.appendChild(tr);
    }
  }

  async function load(period) {
    const status = $("status");
    $("errors").textContent = "";
    if (!token()) {
      document.body.dataset.state = "need-token";
      status.textContent = "请在右上角粘贴工作人员令牌（信访部门、领导或管理员）。";
      return;
    }
    document.body.dataset.state = "loading";
    status.textContent = "加载中…";
    try {
      const s = await api("/v1/stats/summary", period);
      $("from").value = s.from;
      $("to").value = s.to;
      renderSummary(s);
      const p = { from: s.from, to: s.to };
      const [cur, prev, channel, category, township, department, alerts] = await Promise.all([
        api("/v1/stats/breakdown", { by: "month", ...p }),
        api("/v1/stats/breakdown", { by: "month", from: s.previousFrom, to: s.previousTo }),
        api("/v1/stats/breakdown", { by: "channel", ...p }),
        api("/v1/stats/breakdown", { by: "category", ...p }),
        api("/v1/stats/breakdown", { by: "township", ...p }),
        api("/v1/stats/breakdown", { by: "department", ...p }),
        api("/v1/alerts"),
      ]);
      const monthRows = (b) => b.rows.map((r) => ({ label: r.label, value: r.counts.registrations }));
      months($("chart-month"), monthRows(cur), monthRows(prev));
      hbars($("chart-channel"), regs(channel));
      hbars($("chart-category"), regs(category));
      hbars($("chart-township"), regs(township, 10));
      hbars($("chart-department"), regs(department, 10));
      renderAlerts(alerts);
      status.textContent = "数据截至 " + s.today;
      document.body.dataset.state = "ready";
    } catch (e) {
      if (e instanceof HTTPError && (e.status === 401 || e.status === 403)) {
        document.body.dataset.state = "need-token";
        status.textContent = e.status === 401 ? "令牌无效或已过期，请重新粘贴。" : "此令牌的角色无权查看统计。";
        return;
      }
      fail("加载失败：" + e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeFragmentToken();
    $("period").addEventListener("submit", (e) => {
      e.preventDefault();
      load({ from: $("from").value, to: $("to").value });
    });
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim();
      if (t) localStorage.setItem(TOKEN_KEY, t);
      $("token").value = "";
      load({});
    });
    $("logout").addEventListener("click", () => {
      localStorage.removeItem(TOKEN_KEY);
      load({});
    });
    load({});
  });
})();
