// Administration pages: line numbers beside the rules textarea, kept in step
// while typing, and problems from Check marked on their lines. No inline
// script (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  function gutter() { return document.getElementById("rules-gutter"); }
  function area() { return document.getElementById("rules-text"); }

  // The textarea grows with its text so the page scrolls, not the textarea,
  // and the numbers stay beside their lines.
  function renumber() {
    const g = gutter(), t = area();
    if (!g || !t) return;
    const count = t.value.split("\n").length;
    const bad = new Set(Array.from(document.querySelectorAll("#rule-errors .goto-line")).map((a) => a.dataset.line));
    if (g.childElementCount !== count || g.dataset.bad !== Array.from(bad).join(",")) {
      const out = [];
      for (let n = 1; n <= count; n++) {
        out.push('<span id="L' + n + '"' + (bad.has(String(n)) ? ' class="bad"' : "") + ">" + n + "</span>");
      }
      g.innerHTML = out.join("\n");
      g.dataset.bad = Array.from(bad).join(",");
    }
    t.rows = count + 2;
  }

  // Puts the caret on a line and shows it.
  function goToLine(line) {
    const t = area();
    if (!t) return;
    const lines = t.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    t.focus();
    t.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
    const mark = document.getElementById("L" + line);
    if (mark) mark.scrollIntoView({ block: "center" });
  }

  document.addEventListener("input", (e) => { if (e.target === area()) renumber(); });
  document.addEventListener("htmx:afterSwap", renumber);
  document.addEventListener("DOMContentLoaded", () => {
    renumber();
    const m = /^#L(\d+)$/.exec(window.location.hash);
    if (m) goToLine(Number(m[1]));
  });
  document.addEventListener("click", (e) => {
    const link = e.target.closest && e.target.closest("a.goto-line");
    if (!link) return;
    e.preventDefault();
    goToLine(Number(link.dataset.line));
  });
})();
