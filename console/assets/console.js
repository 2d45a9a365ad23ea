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

  // Live logs: server-sent events, drawn in batches once per frame (one element per run of
  // lines of a stream, not one per line), following the end unless the reader scrolled up;
  // searchable; at most maxLines kept on the page (the download has them all).
  var maxLines = 20000;
  function logs() {
    var pre = document.getElementById("logs");
    if (!pre || !pre.dataset.stream || !window.EventSource) return;
    pre.textContent = "";
    var search = document.getElementById("log-search"), follow = document.getElementById("log-follow"),
      count = document.getElementById("log-count");
    search.hidden = false;
    document.getElementById("log-follow-label").hidden = false;
    var kept = [], pending = [], pendingSince = 0, total = 0, dropped = 0, needle = "", scheduled = false, shownLines = [];
    var stats = window.hashikeLogs = { lines: 0, lastTime: 0, maxLagMs: 0, maxRecvLagMs: 0, maxBehindMs: 0, ended: false, state: "" };
    function text(l) { return l.d.endsWith("\n") ? l.d : l.d + "\n"; }
    function match(l) { return !needle || l.d.toLowerCase().indexOf(needle) >= 0; }
    // append draws lines at the end: consecutive lines of one stream share one element.
    function append(lines) {
      var frag = document.createDocumentFragment(), cur = null, curErr = null, buf = "";
      function flush() { if (cur !== null) { var el = document.createElement("span"); el.className = "ln" + (curErr ? " err" : ""); el.textContent = buf; el.dataset.n = cur; frag.appendChild(el); } }
      var n = 0;
      lines.forEach(function (l) {
        var err = l.s === "stderr";
        if (cur === null || err !== curErr) { flush(); cur = 0; curErr = err; buf = ""; }
        buf += text(l); cur++; n++;
      });
      flush();
      pre.appendChild(frag);
      return n;
    }
    // trim drops the oldest elements once the page holds more than maxLines lines.
    var onPage = 0;
    function trim() {
      while (onPage > maxLines && pre.firstElementChild) {
        onPage -= +pre.firstElementChild.dataset.n || 0;
        pre.removeChild(pre.firstElementChild);
      }
    }
    function counts() {
      count.textContent = total + " lines" + (needle ? ", " + shownLines + " match" : "") +
        (dropped ? " (the first " + dropped + " only in the download)" : "");
    }
    function draw() {
      scheduled = false;
      if (!pending.length) return;
      var batch = pending;
      pending = [];
      stats.maxBehindMs = Math.max(stats.maxBehindMs, Date.now() - pendingSince);
      total += batch.length;
      kept.push.apply(kept, batch);
      if (kept.length > maxLines) { dropped += kept.length - maxLines; kept.splice(0, kept.length - maxLines); }
      var show = needle ? batch.filter(match) : batch;
      shownLines += needle ? show.length : 0;
      onPage += append(show);
      trim();
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
      var t = Date.parse(batch[batch.length - 1].t);
      stats.lines = total; stats.lastTime = t;
      if (!isNaN(t)) stats.maxLagMs = Math.max(stats.maxLagMs, Date.now() - t);
      counts();
    }
    function redraw() {
      pre.textContent = "";
      var show = kept.filter(match);
      shownLines = show.length;
      onPage = append(show);
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
      counts();
    }
    var es = new EventSource(pre.dataset.stream);
    var ticker = pre.dataset.live ? setInterval(function () { refresh(false); }, 3000) : null;
    es.onmessage = function (ev) {
      var ls = JSON.parse(ev.data);
      if (!ls.length) return;
      if (!pending.length) pendingSince = Date.now();
      pending.push.apply(pending, ls);
      var t = Date.parse(ls[ls.length - 1].t);
      if (!isNaN(t)) stats.maxRecvLagMs = Math.max(stats.maxRecvLagMs, Date.now() - t);
      if (!scheduled) { scheduled = true; requestAnimationFrame(draw); setTimeout(draw, 250); }
    };
    es.addEventListener("end", function (ev) {
      es.close();
      if (ticker) clearInterval(ticker);
      draw();
      var end = JSON.parse(ev.data);
      stats.ended = true; stats.state = end.state || "";
      if (end.error) { var n = document.createElement("span"); n.className = "note"; n.textContent = "\n" + end.error; pre.appendChild(n); }
      if (!total) { pre.textContent = "No output."; }
      if (pre.dataset.live) refresh(true);
    });
    pre.addEventListener("wheel", function (e) { if (e.deltaY < 0) follow.checked = false; });
    pre.addEventListener("keydown", function (e) { if (e.key === "PageUp" || e.key === "ArrowUp" || e.key === "Home") follow.checked = false; });
    follow.addEventListener("change", function () { if (follow.checked) pre.scrollTop = pre.scrollHeight; });
    var searchTimer = null;
    search.addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { needle = search.value.toLowerCase(); redraw(); }, 120);
    });
  }

  // refresh replaces the run page's state, facts, usage and timeline with the server's; once
  // the run ended (final), its actions and result too (the rerun form is left alone while the
  // run lives, so as not to take an edit away).
  function refresh(final) {
    if (!document.getElementById("run-state")) return;
    fetch(location.href, { headers: { "Accept": "text/html" } }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var ids = ["run-state", "run-facts", "run-usage", "run-timeline"];
      if (final) ids.push("run-actions", "rerun-box", "run-result");
      ids.forEach(function (id) {
        var now = document.getElementById(id), fresh = doc.getElementById(id);
        if (now && fresh) now.replaceWith(document.importNode(fresh, true));
      });
      localTimes(document);
    }).catch(function () { /* the next refresh tries again */ });
  }

  function init() {
    localTimes(document);
    logs();
    document.body.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); reselect(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
