/*
 * The job page: a traceback (or any <details data-keep-open="...">) that the reader opened stays open when
 * console/live.js swaps in a fresh copy of its region, and one they closed stays closed.
 */
(function () {
  "use strict";

  var opened = {};

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details || !details.getAttribute) return;
    var key = details.getAttribute("data-keep-open");
    if (key) opened[key] = details.open;
  }, true);

  document.addEventListener("live:updated", function () {
    document.querySelectorAll("details[data-keep-open]").forEach(function (details) {
      var key = details.getAttribute("data-keep-open");
      if (Object.prototype.hasOwnProperty.call(opened, key)) details.open = opened[key];
    });
  });
})();
