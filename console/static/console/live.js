/*
 * Live refresh for the console's pages: every few seconds, fetch this page again and swap in the
 * parts that move.
 *
 * A page opts in with:
 *   - elements marked data-live-region="<name>": each is replaced by the element of the same
 *     name in the page fetched again (names are unique on a page);
 *   - one element marked data-live-control: the control (on/off, interval 2/5/10/30 s, and what
 *     it is doing) is drawn inside it. Its choice is remembered in localStorage for every page;
 *   - optionally, containers marked data-live-selection: while any checkbox in one is checked
 *     (rows selected for an action), nothing is refreshed, so that a selection is never lost.
 *
 * Refreshing also waits while the tab is hidden (and refreshes at once when it shows again), and
 * leaves alone a region holding the element that has the focus (a field being typed in).
 * After each swap, document receives a "live:updated" event whose detail.regions names the
 * regions replaced: a page's own script (charts) takes the new data from there.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "conveyor.console.live";
  var INTERVALS = [2, 5, 10, 30];
  var DEFAULT_INTERVAL = 5;

  function loadChoice() {
    var choice = { on: true, interval: DEFAULT_INTERVAL };
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) || "null");
      if (saved && typeof saved.on === "boolean") choice.on = saved.on;
      if (saved && INTERVALS.indexOf(saved.interval) >= 0) choice.interval = saved.interval;
    } catch (error) { /* no storage (private mode) or a bad value: the defaults */ }
    return choice;
  }

  function saveChoice(choice) {
    try { window.localStorage.setItem(STORAGE_KEY, JSON.stringify(choice)); } catch (error) { /* ignore */ }
  }

  function selectionHeld() {
    var containers = document.querySelectorAll("[data-live-selection]");
    for (var i = 0; i < containers.length; i++) {
      if (containers[i].querySelector("input[type=checkbox]:checked")) return true;
    }
    return false;
  }

  function holdsFocus(region) {
    var active = document.activeElement;
    return !!(active && active !== document.body && region.contains(active) &&
              /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
  }

  function Live(control) {
    this.choice = loadChoice();
    this.timer = null;
    this.busy = false;
    this.control = control;
    this.draw();
    this.schedule();
    var live = this;
    document.addEventListener("visibilitychange", function () {
      if (!live.choice.on) return;
      if (document.hidden) live.status("paused while the tab is hidden");
      else live.refresh();
    });
    document.addEventListener("change", function (event) {
      // a selection made or cleared: say so now rather than at the next tick
      if (event.target && event.target.type === "checkbox") live.status(live.reasonToWait() || "on");
    });
  }

  Live.prototype.draw = function () {
    var live = this;
    var box = this.control;
    box.textContent = "";
    box.classList.add("live-control");
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "button live-toggle";
    toggle.setAttribute("aria-pressed", String(this.choice.on));
    toggle.textContent = this.choice.on ? "Live: on" : "Live: off";
    toggle.addEventListener("click", function () {
      live.choice.on = !live.choice.on;
      saveChoice(live.choice);
      live.draw();
      live.schedule();
      if (live.choice.on) live.refresh();
    });
    var label = document.createElement("label");
    label.textContent = "every ";
    var select = document.createElement("select");
    select.className = "live-interval";
    select.setAttribute("aria-label", "Refresh interval");
    INTERVALS.forEach(function (seconds) {
      var option = document.createElement("option");
      option.value = String(seconds);
      option.textContent = seconds + " s";
      option.selected = seconds === live.choice.interval;
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      live.choice.interval = parseInt(select.value, 10);
      saveChoice(live.choice);
      live.schedule();
    });
    label.appendChild(select);
    var state = document.createElement("span");
    state.className = "live-state";
    state.setAttribute("role", "status");
    box.appendChild(toggle);
    box.appendChild(label);
    box.appendChild(state);
    this.stateBox = state;
    this.status(this.choice.on ? (this.reasonToWait() || "on") : "off");
  };

  Live.prototype.status = function (text) {
    if (this.stateBox) this.stateBox.textContent = text;
    this.control.setAttribute("data-live-state", text);
  };

  Live.prototype.reasonToWait = function () {
    if (document.hidden) return "paused while the tab is hidden";
    if (selectionHeld()) return "paused while rows are selected";
    return "";
  };

  Live.prototype.schedule = function () {
    var live = this;
    if (this.timer) window.clearInterval(this.timer);
    this.timer = null;
    if (!this.choice.on) return;
    this.timer = window.setInterval(function () { live.refresh(); }, this.choice.interval * 1000);
  };

  Live.prototype.refresh = function () {
    var live = this;
    if (!this.choice.on || this.busy) return;
    var reason = this.reasonToWait();
    if (reason) { this.status(reason); return; }
    this.busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live-refresh" } })
      .then(function (response) {
        if (response.redirected && /\/login\//.test(response.url)) throw new Error("signed out: reload the page");
        if (!response.ok) throw new Error("the page answered " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var replaced = live.swap(fresh);
        live.status("updated " + new Date().toLocaleTimeString());
        document.dispatchEvent(new CustomEvent("live:updated", { detail: { regions: replaced } }));
      })
      .catch(function (error) { live.status("not updated: " + error.message); })
      .then(function () { live.busy = false; });
  };

  Live.prototype.swap = function (fresh) {
    var replaced = [];
    // a selection made while the page was being fetched wins over the refresh
    if (selectionHeld()) return replaced;
    document.querySelectorAll("[data-live-region]").forEach(function (region) {
      var name = region.getAttribute("data-live-region");
      var next = fresh.querySelector('[data-live-region="' + CSS.escape(name) + '"]');
      if (!next || holdsFocus(region)) return;
      region.replaceWith(document.importNode(next, true));
      replaced.push(name);
    });
    return replaced;
  };

  function start() {
    var control = document.querySelector("[data-live-control]");
    if (control && !control.liveRefresh) control.liveRefresh = new Live(control);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
