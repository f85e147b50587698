// The console's comfort: the theme remembered per browser, and keyboard shortcuts.
(function () {
  "use strict";
  var KEY = "fastflow-theme"; // "dark" | "light"; absent: follow the system
  var GO = {
    d: "/", p: "/pipelines", r: "/runs", s: "/schedules", b: "/builds",
    y: "/sync", e: "/secrets", t: "/tokens", u: "/admin/users", w: "/admin/webhooks",
  };

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function apply(theme) {
    var value = theme === "dark" ? true : theme === "light" ? false : "auto";
    if (window.Quasar && window.Quasar.Dark) window.Quasar.Dark.set(value);
    document.documentElement.dataset.ffTheme = theme || "system";
    var meta = document.getElementById("nicegui-color-scheme");
    if (meta) meta.setAttribute("content", theme || "normal");
    // The header button shows the choice in force (its icon is a Material ligature).
    var icon = document.querySelector('[data-testid="theme-toggle"] .q-icon');
    if (icon) {
      icon.textContent =
        theme === "dark" ? "dark_mode" : theme === "light" ? "light_mode" : "brightness_auto";
    }
  }

  // Next in the cycle system → dark → light → system; answers the new choice.
  window.ffCycleTheme = function () {
    var now = stored();
    var next = now === "dark" ? "light" : now === "light" ? null : "dark";
    try {
      if (next) window.localStorage.setItem(KEY, next);
      else window.localStorage.removeItem(KEY);
    } catch (e) { /* private mode: for this page only */ }
    apply(next);
    return next || "system";
  };
  window.ffTheme = function () { return stored() || "system"; };

  function applyWhenReady(tries) {
    if (window.Quasar && window.Quasar.Dark && document.querySelector(".q-layout")) {
      apply(stored());
    } else if (tries > 0) {
      window.setTimeout(function () { applyWhenReady(tries - 1); }, 20);
    }
  }
  applyWhenReady(250);

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function click(testid) {
    var el = document.querySelector('[data-testid="' + testid + '"]');
    if (el) el.click();
    return Boolean(el);
  }

  var pendingG = 0;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (pendingG && Date.now() - pendingG < 1500 && GO[key]) {
      pendingG = 0;
      event.preventDefault();
      window.location.assign(GO[key]);
      return;
    }
    pendingG = 0;
    if (key === "g") {
      pendingG = Date.now();
    } else if (key === "/") {
      var search = document.querySelector('[data-ff-search] input, input[data-ff-search]');
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (key === "?") {
      if (click("shortcuts-open")) event.preventDefault();
    }
  });
})();
