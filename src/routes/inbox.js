// comm-test inbox: live updates and copy buttons. The page works without
// this file; with it, new entries appear as they arrive.
(function () {
  "use strict";
  var main = document.getElementById("events");
  var live = document.getElementById("live");
  var last = Number(document.body.getAttribute("data-last")) || 0;

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

  function refresh() {
    fetch("/entries?since=" + last).then(function (r) { return r.text(); }).then(function (html) {
      if (!html) return;
      var t = document.createElement("template");
      t.innerHTML = html;
      wire(t.content);
      var first = t.content.querySelector("article");
      if (first) last = Math.max(last, Number(first.getAttribute("data-id")));
      var empty = document.getElementById("empty");
      if (empty) empty.remove();
      main.insertBefore(t.content, main.firstChild);
      tick();
    });
  }

  wire(document);
  tick();
  setInterval(tick, 15000);
  if (window.EventSource) {
    var es = new EventSource("/api/events/stream?since=" + last);
    es.addEventListener("open", function () { live.textContent = "live"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; });
    es.addEventListener("entry", refresh);
  }
})();
