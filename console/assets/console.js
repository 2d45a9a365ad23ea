// hashike console: local times, keyboard shortcuts, JSON checks and live logs. Every page
// reads without it.
(function () {
  "use strict";

  function pad(n) { return String(n).padStart(2, "0"); }

  // Times arrive in UTC (text and title); show them in the viewer's zone, UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      var zone = "";
      try {
        zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d)
          .filter(function (p) { return p.type === "timeZoneName"; }).map(function (p) { return p.value; }).join("");
      } catch (e) { /* no Intl: no zone name */ }
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + (zone ? " " + zone : "");
      el.dataset.local = "1";
    });
  }

  // j/k move through the runs, Enter opens the selected one, / focuses the search.
  var selectedID = null;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#runs-body tr[data-href]")); }
  function select(i) {
    var rs = rows();
    if (!rs.length) return;
    i = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r) { r.classList.remove("sel"); r.removeAttribute("aria-selected"); });
    rs[i].classList.add("sel");
    rs[i].setAttribute("aria-selected", "true");
    rs[i].scrollIntoView({ block: "nearest" });
    selectedID = rs[i].dataset.id;
  }
  function reselect() {
    if (!selectedID) return;
    var rs = rows();
    for (var i = 0; i < rs.length; i++) if (rs[i].dataset.id === selectedID) { rs[i].classList.add("sel"); return; }
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    if (!document.getElementById("runs-body")) return;
    var rs = rows(), cur = rs.findIndex(function (r) { return r.classList.contains("sel"); });
    if (e.key === "j") { select(cur + 1); e.preventDefault(); }
    else if (e.key === "k") { select(cur < 0 ? 0 : cur - 1); e.preventDefault(); }
    else if (e.key === "Enter" && cur >= 0) { location.href = rs[cur].dataset.href; e.preventDefault(); }
    else if (e.key === "/") { var q = document.getElementById("f-q"); if (q) { q.focus(); e.preventDefault(); } }
  });

  // A form's JSON fields are checked before it is sent (the server checks again).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("[data-json-form]")) return;
    form.querySelectorAll("textarea[data-json]").forEach(function (ta) {
      var out = document.getElementById(ta.getAttribute("aria-describedby"));
      var v = ta.value.trim(), msg = "";
      if (v !== "") { try { JSON.parse(v); } catch (err) { msg = "Not valid JSON: " + err.message; } }
      if (out) { out.textContent = msg; out.hidden = !msg; }
      ta.setAttribute("aria-invalid", msg ? "true" : "false");
      if (msg) { e.preventDefault(); ta.focus(); }
    });
  });

  // Live logs: server-sent events, drawn in batches once per frame, following the end
  // unless the reader scrolled up; searchable; at most maxLines kept on the page.
  var maxLines = 20000;
  function logs() {
    var pre = document.getElementById("logs");
    if (!pre || !pre.dataset.stream || !window.EventSource) return;
    pre.textContent = "";
    var search = document.getElementById("log-search"), follow = document.getElementById("log-follow"),
      count = document.getElementById("log-count");
    search.hidden = false;
    document.getElementById("log-follow-label").hidden = false;
    var pending = [], total = 0, dropped = 0, needle = "", scheduled = false;
    var stats = window.hashikeLogs = { lines: 0, lastTime: 0, maxLagMs: 0, ended: false, state: "" };
    function show(el) {
      var hit = !needle || el.textContent.toLowerCase().indexOf(needle) >= 0;
      el.classList.toggle("hide", !hit);
      return hit;
    }
    function counts() {
      var shown = needle ? pre.querySelectorAll("span.ln:not(.hide)").length : 0;
      count.textContent = total + " lines" + (needle ? ", " + shown + " match" : "") +
        (dropped ? " (the first " + dropped + " are only in the download)" : "");
    }
    function draw() {
      scheduled = false;
      if (!pending.length) return;
      var frag = document.createDocumentFragment(), last = 0;
      pending.forEach(function (l) {
        var el = document.createElement("span");
        el.className = "ln" + (l.s === "stderr" ? " err" : "");
        el.textContent = l.d.endsWith("\n") ? l.d : l.d + "\n";
        show(el);
        frag.appendChild(el);
        last = l.t;
      });
      total += pending.length;
      pending = [];
      pre.appendChild(frag);
      var extra = pre.childElementCount - maxLines;
      for (; extra > 0; extra--) { pre.removeChild(pre.firstElementChild); dropped++; }
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
      var t = Date.parse(last);
      stats.lines = total; stats.lastTime = t;
      if (!isNaN(t)) stats.maxLagMs = Math.max(stats.maxLagMs, Date.now() - t);
      counts();
    }
    var es = new EventSource(pre.dataset.stream);
    es.onmessage = function (ev) {
      pending.push(JSON.parse(ev.data));
      if (!scheduled) { scheduled = true; requestAnimationFrame(draw); setTimeout(draw, 250); }
    };
    es.addEventListener("end", function (ev) {
      es.close();
      draw();
      var end = JSON.parse(ev.data);
      stats.ended = true; stats.state = end.state || "";
      if (end.error) { var n = document.createElement("span"); n.className = "note"; n.textContent = "\n" + end.error; pre.appendChild(n); }
      if (!total) { pre.textContent = "No output."; }
      refresh();
    });
    pre.addEventListener("scroll", function () {
      var atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
      if (!atEnd && follow.checked && pre.dataset.userScroll) follow.checked = false;
      pre.dataset.userScroll = "";
    });
    pre.addEventListener("wheel", function () { pre.dataset.userScroll = "1"; });
    follow.addEventListener("change", function () { if (follow.checked) pre.scrollTop = pre.scrollHeight; });
    search.addEventListener("input", function () {
      needle = search.value.toLowerCase();
      pre.querySelectorAll("span.ln").forEach(show);
      counts();
    });
  }

  // refresh replaces the run page's facts once its run ended (state, exit, timeline, actions).
  function refresh() {
    if (!document.getElementById("run-state")) return;
    fetch(location.href, { headers: { "Accept": "text/html" } }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      ["run-state", "run-facts", "run-timeline", "run-actions", "rerun-box"].forEach(function (id) {
        var now = document.getElementById(id), fresh = doc.getElementById(id);
        if (now && fresh) now.replaceWith(document.importNode(fresh, true));
        else if (!now && fresh && id === "rerun-box") { /* appears only with a submit scope: leave the page as it is */ }
      });
      localTimes(document);
    });
  }

  function init() {
    localTimes(document);
    logs();
    document.body.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); reselect(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
