// onnxlayer report: sortable tables, row filters, tree folding, series highlighting. No network, no libraries.
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim().toLowerCase() : v;
  }

  function compare(a, b) {
    var x = parseFloat(a), y = parseFloat(b);
    var xn = a !== "" && !isNaN(x), yn = b !== "" && !isNaN(y);
    if (xn && yn) return x - y;
    if (xn !== yn) return xn ? -1 : 1; // numbers before blanks and text
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, k) { r._order = k; });
    rows.sort(function (r, s) {
      var c = compare(cellValue(r, index), cellValue(s, index));
      return (ascending ? c : -c) || r._order - s._order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function applyFilters(tableId) {
    var table = document.getElementById(tableId);
    if (!table) return;
    var controls = document.querySelectorAll('[data-filter-for="' + tableId + '"]');
    var exact = {}, contains = {}, allowed = {};
    Array.prototype.forEach.call(controls, function (c) {
      var key = c.getAttribute("data-key");
      if (c.type === "checkbox") {
        allowed[key] = allowed[key] || [];
        if (c.checked) allowed[key].push(c.value);
      } else if (c.tagName === "SELECT") {
        if (c.value !== "") exact[key] = c.value;
      } else if (c.value.trim() !== "") {
        contains[key] = c.value.trim().toLowerCase();
      }
    });
    var shown = 0, rows = table.tBodies[0].rows;
    Array.prototype.forEach.call(rows, function (r) {
      var ok = true, key;
      for (key in exact) if (r.getAttribute("data-" + key) !== exact[key]) ok = false;
      for (key in contains) if ((r.getAttribute("data-" + key) || "").toLowerCase().indexOf(contains[key]) < 0) ok = false;
      for (key in allowed) if (allowed[key].indexOf(r.getAttribute("data-" + key)) < 0) ok = false;
      r.hidden = !ok;
      if (ok) shown += 1;
    });
    var count = document.querySelector('[data-count-for="' + tableId + '"]');
    if (count) count.textContent = shown + " of " + rows.length + " rows";
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortBy(table, th); });
        th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th); });
      });
    });
    var filtered = {};
    Array.prototype.forEach.call(document.querySelectorAll("[data-filter-for]"), function (c) {
      var id = c.getAttribute("data-filter-for");
      filtered[id] = true;
      c.addEventListener(c.type === "checkbox" || c.tagName === "SELECT" ? "change" : "input", function () { applyFilters(id); });
    });
    Object.keys(filtered).forEach(applyFilters);
    Array.prototype.forEach.call(document.querySelectorAll("[data-tree-action]"), function (button) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("data-tree-action") === "expand";
        var tree = document.getElementById(button.getAttribute("data-tree"));
        Array.prototype.forEach.call(tree.querySelectorAll("details"), function (d) { d.open = open; });
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll(".legend-item"), function (item) {
      var svg = item.closest("svg"), name = item.getAttribute("data-series");
      item.addEventListener("mouseenter", function () {
        Array.prototype.forEach.call(svg.querySelectorAll(".series"), function (s) {
          s.classList.toggle("dim", s.getAttribute("data-series") !== name);
        });
      });
      item.addEventListener("mouseleave", function () {
        Array.prototype.forEach.call(svg.querySelectorAll(".series"), function (s) { s.classList.remove("dim"); });
      });
    });
  });
})();
