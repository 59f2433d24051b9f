// Xinfang public query page (信访事项办理进度查询). No dependencies and no
// external resources: the form calls the service's own GET /v1/query/{code}
// and shows the status and the dated timeline. The API returns no personal
// data, and the page shows nothing else.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("query-form"), input = $("code"), button = $("submit");
  const message = $("message"), result = $("result");

  const MESSAGES = {
    empty: "请输入查询码。",
    notfound: "未找到该查询码对应的信访事项，请核对后重试。",
    ratelimited: "查询过于频繁，请稍候一分钟再试。",
    offline: "网络连接不可用，请检查网络后重试。",
    error: "暂时无法查询，请稍后重试。",
  };

  // normalize turns what a person typed or pasted into the code the API
  // takes: full-width characters become ASCII (NFKC), spaces and any kind
  // of dash disappear, letters become upper case.
  function normalize(s) {
    return (s || "").normalize("NFKC").replace(/[\s\-\u2010-\u2015\u2212\uFF0D_]/g, "").toUpperCase();
  }

  function show(kind) {
    document.body.dataset.state = kind;
    result.hidden = true;
    message.dataset.kind = kind;
    message.textContent = MESSAGES[kind] || MESSAGES.error;
    message.hidden = false;
  }

  function render(data) {
    message.hidden = true;
    message.textContent = "";
    $("status-label").textContent = data.statusLabel || "";
    const list = $("timeline");
    list.replaceChildren();
    for (const e of data.timeline || []) {
      const li = document.createElement("li");
      li.dataset.kind = e.kind || "";
      const time = document.createElement("time");
      time.dateTime = e.date || "";
      time.textContent = e.date || "";
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = e.label || "";
      li.append(time, label);
      list.append(li);
    }
    result.hidden = false;
    document.body.dataset.state = "ready";
  }

  let seq = 0;
  async function query(raw) {
    const code = normalize(raw);
    if (!code) {
      show("empty");
      input.focus();
      return;
    }
    const mine = ++seq;
    document.body.dataset.state = "loading";
    button.disabled = true;
    try {
      const resp = await fetch("/v1/query/" + encodeURIComponent(code), {
        headers: { Accept: "application/json" }, cache: "no-store", credentials: "omit",
      });
      if (mine !== seq) return;
      if (resp.status === 404) return show("notfound");
      if (resp.status === 429) return show("ratelimited");
      if (!resp.ok) return show("error");
      render(await resp.json());
    } catch (err) {
      if (mine === seq) show(navigator.onLine === false ? "offline" : "error");
    } finally {
      if (mine === seq) button.disabled = false;
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    query(input.value);
  });

  // /query?code=… fills the form and submits it.
  const given = new URLSearchParams(location.search).get("code");
  if (given !== null) {
    input.value = given;
    query(given);
  }
})();
