/*
 * Row selection on the job list, in place of Django's admin/js/actions.js.
 *
 * actions.js binds its handlers to the rows present when the page loads; console/live.js replaces
 * the rows every few seconds (whenever none is selected), and the new ones would be dead to it.
 * This script listens on the document instead, so it works on whatever rows are there:
 *   1. the header's checkbox selects or clears every row;
 *   2. a row's checkbox selects it, shift-click selects the range from the last one clicked;
 *   3. a selected row is highlighted and the counter says "N of M selected";
 *   4. after a refresh ("live:updated") the counter and the header's checkbox follow the new rows.
 * Selecting "all across pages" is not offered here: "Cancel all matching" and "Retry all
 * matching" are the pages for that.
 */
(function () {
  "use strict";

  var lastClicked = null;

  function rowBoxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#result_list tbody input.action-select"));
  }

  function mark(box) {
    var row = box.closest("tr");
    if (row) row.classList.toggle("selected", box.checked);
  }

  function counterText(selected, total) {
    if (typeof window.interpolate === "function" && typeof window.ngettext === "function") {
      return window.interpolate(
        window.ngettext("%(sel)s of %(cnt)s selected", "%(sel)s of %(cnt)s selected", selected),
        { sel: selected, cnt: total }, true);
    }
    return selected + " of " + total + " selected";
  }

  function update() {
    var boxes = rowBoxes();
    var selected = boxes.filter(function (box) { return box.checked; }).length;
    var counter = document.querySelector("div.actions span.action-counter");
    if (counter) {
      counter.setAttribute("data-actions-icnt", String(boxes.length));
      counter.textContent = counterText(selected, boxes.length);
    }
    var toggle = document.getElementById("action-toggle");
    if (toggle) toggle.checked = boxes.length > 0 && selected === boxes.length;
    var bar = document.querySelector("div.actions");
    if (bar) bar.classList.toggle("selected", selected > 0);
  }

  function range(from, to) {
    var boxes = rowBoxes();
    var a = boxes.indexOf(from);
    var b = boxes.indexOf(to);
    if (a < 0 || b < 0) return [to];
    return boxes.slice(Math.min(a, b), Math.max(a, b) + 1);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || target.type !== "checkbox") return;
    if (target.id === "action-toggle") {
      rowBoxes().forEach(function (box) { box.checked = target.checked; mark(box); });
      lastClicked = null;
      update();
    } else if (target.classList.contains("action-select")) {
      // the click has already toggled the box: the range takes its new state
      var boxes = event.shiftKey && lastClicked && lastClicked !== target ? range(lastClicked, target) : [target];
      boxes.forEach(function (box) { box.checked = target.checked; mark(box); });
      lastClicked = target;
      update();
    }
  });

  document.addEventListener("live:updated", function () {
    lastClicked = null;
    rowBoxes().forEach(mark);
    update();
  });

  // back to the page with the browser's back button: boxes the browser restored, counted
  window.addEventListener("pageshow", function () { rowBoxes().forEach(mark); update(); });
})();
