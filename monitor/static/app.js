// evertask dashboard: confirmations for destructive forms and the live
// event stream. Everything else is server-rendered HTML.
(function () {
  "use strict";
  var meta = function (n) { var m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : ""; };
  var prefix = meta("evertask-prefix");

  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function startEvents() {
    var rows = document.getElementById("event-rows");
    var state = document.getElementById("live-state");
    if (!rows || !window.EventSource) { return; }
    var es = new EventSource(prefix + "/api/events");
    var seen = 0;
    var add = function (type, ev) {
      var d = JSON.parse(ev.data);
      var ph = rows.querySelector(".placeholder");
      if (ph) { ph.remove(); }
      var tr = document.createElement("tr");
      tr.className = "new ev-" + type;
      cell(tr, new Date(d.at).toISOString().replace("T", " ").slice(0, 19) + " UTC", "nowrap muted");
      var st = document.createElement("span");
      st.className = "st st-" + ({started: "inprogress", completed: "completed", failed: "failed", timed_out: "failed", cancelled: "cancelled", retried: "servicestopped", stopped: "servicestopped", recovered: "queued", poisoned: "failed"}[type] || "queued");
      st.textContent = type;
      cell(tr, "").appendChild(st);
      var idCell = cell(tr, "");
      if (d.task_id) {
        var a = document.createElement("a");
        a.href = prefix + "/tasks/" + d.task_id;
        a.className = "mono";
        a.textContent = d.task_id.slice(-8);
        idCell.appendChild(a);
      }
      cell(tr, d.kind || "");
      cell(tr, d.queue || "");
      var detail = [];
      if (d.attempt) { detail.push("attempt " + d.attempt); }
      if (d.duration_ms) { detail.push(d.duration_ms.toFixed(1) + " ms"); }
      if (d.node) { detail.push("node " + d.node); }
      if (d.error) { detail.push(d.error); }
      cell(tr, detail.join(" · "), d.error ? "err-cell" : "");
      rows.insertBefore(tr, rows.firstChild);
      seen++;
      while (rows.children.length > 200) { rows.removeChild(rows.lastChild); }
      state.textContent = "live · " + seen + " events";
    };
    es.addEventListener("hello", function () { state.textContent = "live"; state.className = "badge okb"; });
    ["started", "completed", "failed", "retried", "timed_out", "cancelled", "stopped", "recovered", "poisoned", "notice"].forEach(function (t) {
      es.addEventListener(t, function (ev) { add(t, ev); });
    });
    es.addEventListener("end", function () { state.textContent = "engine stopped"; state.className = "badge warn"; es.close(); });
    es.onerror = function () { state.textContent = "reconnecting…"; state.className = "badge warn"; };
  }
  document.addEventListener("DOMContentLoaded", startEvents);
})();
