// btsbot-fast night page: sorting and filtering of the sources table (inlined into index.html).
// Rows are hidden (the hidden attribute) or moved, never removed: every source stays in the DOM.
(function () {
  "use strict";
  var table = document.getElementById("sources");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var count = document.getElementById("shown");
  var byId = function (id) { return document.getElementById(id); };

  function value(row, key, type) {
    var v = row.getAttribute("data-" + key);
    if (type === "num") {
      var x = parseFloat(v);
      return isNaN(x) ? null : x;
    }
    return v || "";
  }

  function applyFilters() {
    var decision = byId("f-decision").value;
    var candidate = byId("f-candidate").value;
    var lo = parseFloat(byId("f-min").value);
    var hi = parseFloat(byId("f-max").value);
    if (isNaN(lo)) { lo = 0; }
    if (isNaN(hi)) { hi = 1; }
    var narrowed = lo > 0 || hi < 1;
    var shown = 0;
    rows.forEach(function (row) {
      var s = value(row, "score", "num");
      var ok = (decision === "all" || row.getAttribute("data-decision") === decision) &&
               (candidate === "all" || row.getAttribute("data-candidate") === candidate) &&
               (s === null ? !narrowed : (s >= lo && s <= hi));
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " sources shown";
  }

  function sortBy(th) {
    var key = th.getAttribute("data-key");
    var type = th.getAttribute("data-type");
    var descending = th.getAttribute("aria-sort") !== "descending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var sign = descending ? -1 : 1;
    var sorted = rows.slice().sort(function (a, b) {
      var x = value(a, key, type), y = value(b, key, type);
      if (x === y) { return 0; }
      if (x === null) { return 1; }  // rows without a value last, either way
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * sign;
    });
    sorted.forEach(function (row) { body.appendChild(row); });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    if (th.getAttribute("data-key")) {
      th.addEventListener("click", function () { sortBy(th); });
    }
  });
  rows.forEach(function (row) {
    row.addEventListener("click", function (event) {
      if (event.target.closest("a")) { return; }
      window.location.hash = "src-" + row.getAttribute("data-object-id");
    });
  });
  ["f-decision", "f-candidate", "f-min", "f-max"].forEach(function (id) {
    byId(id).addEventListener("input", applyFilters);
    byId(id).addEventListener("change", applyFilters);
  });
  applyFilters();
})();
