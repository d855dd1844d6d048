/*
 * The overview's charts (uPlot): completed and failed jobs per 15 minutes over 24 hours and per
 * minute over the last hour, from the JSON in #console-series (refreshed by live.js).
 *
 * Drag across a chart: it zooms into that time range and the link under the charts opens the job
 * list for the jobs created in it (?created__gte=...&created__lt=..., ISO 8601 in UTC). Click a
 * bar: the link takes that bar's range. Double-click, or "Clear the range": back to the whole span.
 */
(function () {
  "use strict";

  var COLORS = {
    completed: { stroke: "#2e7d32", fill: "rgba(46, 125, 50, 0.55)" },
    failed: { stroke: "#c62828", fill: "rgba(198, 40, 40, 0.85)" },
  };
  var charts = [];
  var section, link, clear;

  function readSeries() {
    var script = document.getElementById("console-series");
    if (!script) return null;
    try { return JSON.parse(script.textContent); } catch (error) { return null; }
  }

  function isoUTC(seconds) {
    return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function local(seconds) {
    return new Date(seconds * 1000).toLocaleString();
  }

  function fullRange(series) {
    return { min: series.t[0], max: series.t[series.t.length - 1] + series.step };
  }

  function showRange(from, to) {
    var base = section.getAttribute("data-jobs-url");
    var query = new URLSearchParams({ created__gte: isoUTC(from), created__lt: isoUTC(to) });
    link.href = base + (base.indexOf("?") >= 0 ? "&" : "?") + query.toString();
    link.textContent = "Jobs created from " + local(from) + " to " + local(to) + " \u2192";
    link.setAttribute("data-from", isoUTC(from));
    link.setAttribute("data-to", isoUTC(to));
    link.hidden = false;
    clear.hidden = false;
  }

  function clearRange() {
    link.hidden = true;
    clear.hidden = true;
    charts.forEach(function (chart) {
      chart.zoomed = false;
      chart.plot.setScale("x", fullRange(chart.series));
    });
  }

  function slotAt(chart, seconds) {
    var t = chart.series.t;
    for (var i = 0; i < t.length; i++) {
      if (seconds >= t[i] && seconds < t[i] + chart.series.step) return i;
    }
    return -1;
  }

  function make(box, series) {
    var chart = { box: box, series: series, zoomed: false, dragged: false };
    var bars = function (size) { return uPlot.paths.bars({ size: [size, 60], align: 1 }); };
    var options = {
      width: Math.max(box.clientWidth, 300),
      height: 180,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      cursor: { drag: { x: true, y: false, setScale: false } },
      series: [
        {},
        { label: "completed", stroke: COLORS.completed.stroke, fill: COLORS.completed.fill, paths: bars(0.9),
          points: { show: false } },
        { label: "failed", stroke: COLORS.failed.stroke, fill: COLORS.failed.fill, paths: bars(0.45),
          points: { show: false } },
      ],
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 3) return;
          var from = u.posToVal(u.select.left, "x");
          var to = u.posToVal(u.select.left + u.select.width, "x");
          chart.dragged = true;
          chart.zoomed = true;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          u.setScale("x", { min: from, max: to });
          showRange(Math.floor(from), Math.ceil(to));
        }],
      },
    };
    chart.plot = new uPlot(options, [series.t, series.completed, series.failed], box);
    chart.plot.setScale("x", fullRange(series));
    chart.plot.over.addEventListener("click", function () {
      if (chart.dragged) { chart.dragged = false; return; }
      var left = chart.plot.cursor.left;
      if (left == null || left < 0) return;
      var index = slotAt(chart, chart.plot.posToVal(left, "x"));
      if (index >= 0) showRange(series.t[index], series.t[index] + series.step);
    });
    chart.plot.over.addEventListener("dblclick", function () { clearRange(); });
    return chart;
  }

  function update() {
    var all = readSeries();
    if (!all) return;
    charts.forEach(function (chart) {
      var series = all[chart.box.getAttribute("data-series")];
      if (!series) return;
      chart.series = series;
      chart.plot.setData([series.t, series.completed, series.failed], false);
      if (!chart.zoomed) chart.plot.setScale("x", fullRange(series));
    });
  }

  function start() {
    section = document.querySelector("[data-console-charts]");
    var all = readSeries();
    if (!section || !all || typeof uPlot === "undefined") return;
    link = document.getElementById("console-range-link");
    clear = document.getElementById("console-range-clear");
    clear.addEventListener("click", clearRange);
    section.querySelectorAll("[data-series]").forEach(function (box) {
      var series = all[box.getAttribute("data-series")];
      if (series) charts.push(make(box, series));
    });
    document.addEventListener("live:updated", function (event) {
      if (event.detail.regions.indexOf("chart-data") >= 0) update();
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) {
        chart.plot.setSize({ width: Math.max(chart.box.clientWidth, 300), height: 180 });
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
