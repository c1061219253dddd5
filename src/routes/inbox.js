// comm-test inbox: live updates and copy buttons. The page works without
// this file; with it, new entries appear as they arrive, each exactly
// once, the count follows, and a cleared journal empties the page.
(function () {
  "use strict";
  var main = document.getElementById("events");
  var live = document.getElementById("live");
  var count = document.getElementById("count");
  var body = document.body;
  var last = Number(body.getAttribute("data-last")) || 0;
  var cap = Number(body.getAttribute("data-cap")) || 0;
  // An older page (?before=) shows no new entries: they belong on the first.
  var paged = body.getAttribute("data-paged") === "true";
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

  function tick() {
    var times = document.querySelectorAll("time[data-ms]");
    for (var i = 0; i < times.length; i++) {
      var a = times[i].parentNode.querySelector(".ago");
      if (a) a.textContent = ago(Date.now() - Number(times[i].getAttribute("data-ms")));
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
    document.title = (n ? "(" + n + ") " : "") + "comm-test inbox";
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
      setCount(Number(count.textContent) + added);
      tick();
    }
  }

  function refresh() {
    if (paged) return;
    if (fetching) { again = true; return; }
    fetching = true;
    fetch("/entries?since=" + last, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(insert, function () {})
      .then(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }

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
    setCount(0);
  }

  wire(document);
  tick();
  setCount(Number(count.textContent));
  setInterval(tick, 15000);
  if (window.EventSource) {
    var es = new EventSource("/api/events/stream?since=" + last);
    es.addEventListener("open", function () { live.textContent = "live"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; });
    es.addEventListener("entry", refresh);
    es.addEventListener("clear", cleared);
  }
})();
