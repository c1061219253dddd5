// comm-test inbox: live updates, copy buttons and keys. The page works
// without this file; with it, new entries (those the page's filters
// match) appear as they arrive, each exactly once, the counts follow, a
// cleared journal empties the page, times show in the browser's zone
// (UTC on hover), filters apply as they change, and "/" searches, j/k
// move, Enter opens the entry.
(function () {
  "use strict";
  var main = document.getElementById("events");
  if (!main) return;
  var live = document.getElementById("live") || document.createElement("span");
  var count = document.getElementById("count") || document.createElement("span");
  var matched = document.getElementById("matched");
  var noun = document.getElementById("noun");
  var body = document.body;
  var last = Number(body.getAttribute("data-last")) || 0;
  // The server run this page's ids belong to: after a restart the ids
  // start over and name other events, so the page reloads.
  var run = body.getAttribute("data-run") || "";
  var cap = Number(body.getAttribute("data-cap")) || 0;
  // An older page (?before=) shows no new entries: they belong on the first.
  var paged = body.getAttribute("data-paged") === "true";
  // An event's own page: copy buttons and keys only.
  var single = body.hasAttribute("data-event");
  // One fetch of new entries at a time; events that arrive meanwhile ask
  // for one more, which starts from the `last` the first one left.
  var fetching = false;
  var again = false;

  function ago(ms) {
    var s = Math.floor(Math.max(0, ms) / 1000);
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }

  // An event's time in the browser's zone: the clock alone for today,
  // with its date otherwise. The server wrote UTC, which stays the title.
  function local(ms) {
    var d = new Date(ms);
    var now = new Date();
    var clock = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return clock;
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + clock;
  }

  function tick() {
    var times = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < times.length; i++) {
      var ms = Number(times[i].getAttribute("data-ms"));
      times[i].textContent = local(ms);
      var a = times[i].parentNode.querySelector(".ago");
      if (a) a.textContent = ago(Date.now() - ms);
    }
  }

  function wire(root) {
    var buttons = root.querySelectorAll("button.copy");
    for (var i = 0; i < buttons.length; i++) {
      (function (b) {
        b.hidden = false;
        b.addEventListener("click", function () {
          var el = document.getElementById(b.getAttribute("data-target"));
          var done = function () { b.textContent = "Copied"; };
          var select = function () {
            var r = document.createRange();
            r.selectNodeContents(el);
            var s = window.getSelection();
            s.removeAllRanges();
            s.addRange(r);
            b.textContent = "Selected: press Ctrl+C";
          };
          if (navigator.clipboard) navigator.clipboard.writeText(el.textContent).then(done, select);
          else select();
        });
      })(buttons[i]);
    }
  }

  function setCount(n) {
    if (cap) n = Math.min(n, cap);
    count.textContent = String(n);
    if (noun) noun.textContent = n === 1 ? "event" : "events";
    document.title = (n ? "(" + n + ") " : "") + "comm-test inbox";
  }

  // The counts as the server has them: how many the filters match, of
  // how many the journal holds.
  function recount() {
    fetch("/api/events?limit=1&run=" + run + filters(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (v) {
        if (matched) matched.textContent = String(v.matched);
        setCount(v.total);
      })
      .catch(function () {});
  }

  // The fragment's articles, newest first, that this page does not show.
  function insert(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    var fresh = t.content.querySelectorAll("article");
    var added = 0;
    for (var i = fresh.length - 1; i >= 0; i--) {
      var a = fresh[i];
      var id = Number(a.getAttribute("data-id"));
      if (document.getElementById("e" + id)) continue;
      wire(a);
      a.classList.add("new");
      main.insertBefore(a, main.firstChild);
      last = Math.max(last, id);
      added++;
    }
    if (added) {
      var empty = document.getElementById("empty");
      if (empty) empty.remove();
      if (matched) matched.textContent = String(Number(matched.textContent) + added);
      setCount(Number(count.textContent) + added);
      tick();
    }
  }

  function refresh() {
    if (paged) return;
    if (fetching) { again = true; return; }
    fetching = true;
    fetch("/entries?since=" + last + "&run=" + run + filters(), { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 409) { location.reload(); return ""; }
        return r.ok ? r.text() : "";
      })
      .then(insert, function () {})
      .then(function () {
        if (matched) recount();
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

  // The page's own filters (q, route, verdict, attr.*), for its updates.
  function filters() {
    var out = "";
    var params = new URLSearchParams(location.search);
    params.forEach(function (v, k) {
      if (k === "q" || k === "route" || k === "verdict" || k.indexOf("attr.") === 0) {
        if (v) out += "&" + encodeURIComponent(k) + "=" + encodeURIComponent(v);
      }
    });
    return out;
  }

  // Keys, as in a mail client: / to search, j and k to move, Enter to open.
  function keys(ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var all = main.querySelectorAll("article");
    var at = Array.prototype.indexOf.call(all, document.activeElement);
    if (ev.key === "/") {
      var q = document.getElementById("q");
      if (q) { ev.preventDefault(); q.focus(); }
    } else if (ev.key === "j" || ev.key === "k") {
      var next = ev.key === "j" ? at + 1 : at - 1;
      if (at < 0) next = 0;
      if (all[next]) { all[next].focus(); all[next].scrollIntoView({ block: "nearest" }); }
    } else if (ev.key === "Enter" && at >= 0) {
      var open = all[at].querySelector("a.open");
      if (open) location.href = open.getAttribute("href");
    }
  }
  document.addEventListener("keydown", keys);

  function cleared(ev) {
    var left = 0;
    try { left = JSON.parse(ev.data).remaining || 0; } catch (e) { left = 0; }
    if (left > 0) { location.reload(); return; }
    var all = main.querySelectorAll("article");
    for (var i = 0; i < all.length; i++) all[i].remove();
    if (!document.getElementById("empty")) {
      var p = document.createElement("p");
      p.id = "empty";
      p.textContent = "The journal was cleared. New events appear here as they arrive.";
      main.appendChild(p);
    }
    var older = document.getElementById("older");
    if (older) older.remove();
    if (matched) matched.textContent = "0";
    setCount(0);
  }

  // The faults panel follows the faults in force: set, cleared, or used
  // up by a request, from this page, another one or a script.
  function faultsChanged() {
    var now = document.getElementById("faults-now");
    if (!now) return;
    fetch("/faults", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html;
        var fresh = t.content.getElementById("faults-now");
        if (fresh) now.replaceWith(fresh);
        var panel = document.getElementById("faults");
        if (panel && fresh && fresh.querySelector("li")) panel.open = true;
      })
      .catch(function () {});
  }

  // Only the fields the chosen answer uses are offered.
  function faultForm() {
    var answer = document.getElementById("fault-answer");
    if (!answer) return;
    function shown() {
      var status = answer.value === "status";
      document.getElementById("fault-status").hidden = !status;
      document.getElementById("fault-body").hidden = !status;
    }
    answer.addEventListener("change", shown);
    shown();
  }

  // Filters apply as they change: a choice at once, typing after a pause.
  function liveFilters() {
    var form = document.getElementById("search");
    if (!form) return;
    var selects = form.querySelectorAll("select");
    for (var i = 0; i < selects.length; i++) {
      selects[i].addEventListener("change", function () { form.submit(); });
    }
    var q = document.getElementById("q");
    var timer = 0;
    if (q) {
      q.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { form.submit(); }, 600);
      });
    }
  }

  wire(document);
  faultForm();
  liveFilters();
  tick();
  setInterval(tick, 15000);
  if (single) return;
  setCount(Number(count.textContent));
  if (window.EventSource) {
    var es = new EventSource("/api/events/stream?since=" + last);
    es.addEventListener("open", function () { live.textContent = "live"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; });
    es.addEventListener("run", function (ev) {
      var now = "";
      try { now = JSON.parse(ev.data).run || ""; } catch (e) { now = ""; }
      if (run && now && now !== run) { es.close(); live.textContent = "restarted: reloading…"; location.reload(); }
    });
    es.addEventListener("entry", refresh);
    es.addEventListener("clear", cleared);
    es.addEventListener("faults", faultsChanged);
  }
})();
