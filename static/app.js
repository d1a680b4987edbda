// replydesk keyboard and live-queue behaviour. No framework, no inline script
// (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  const SELECTED = "replydesk.selected";

  function rows() { return Array.from(document.querySelectorAll("#rows tr[data-id]")); }

  function select(row) {
    rows().forEach((r) => { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) return;
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    sessionStorage.setItem(SELECTED, row.dataset.id);
    row.scrollIntoView({ block: "nearest" });
  }

  function restoreSelection() {
    const id = sessionStorage.getItem(SELECTED);
    const row = rows().find((r) => r.dataset.id === id);
    if (row) { row.classList.add("selected"); row.setAttribute("aria-selected", "true"); }
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const i = all.findIndex((r) => r.classList.contains("selected"));
    const next = i < 0 ? all[0] : all[Math.min(all.length - 1, Math.max(0, i + step))];
    select(next);
  }

  function typing(e) {
    const t = e.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }

  function click(id) { const el = document.getElementById(id); if (el && !el.disabled) el.click(); }
  function focus(id) { const el = document.getElementById(id); if (el) el.focus(); }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        const row = document.querySelector("#rows tr.selected");
        if (row) window.location = row.dataset.href; else return;
        break;
      }
      case "c": click("do-claim"); break;
      case "r": focus("outcome"); break;
      case "n": focus("note"); break;
      case "?": { const d = document.getElementById("help"); if (d && !d.open) d.showModal(); break; }
      default: return;
    }
    e.preventDefault();
  });

  document.addEventListener("click", (e) => {
    const row = e.target.closest && e.target.closest("#rows tr[data-href]");
    if (row && !e.target.closest("a")) window.location = row.dataset.href;
  });

  // The reply box: Ctrl+Enter (or Cmd+Enter) sends; what the agent types
  // is kept in this tab until it is sent, also across a reload.
  document.addEventListener("keydown", (e) => {
    const box = e.target;
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || !box || box.id !== "reply-text") return;
    e.preventDefault();
    if (box.form) box.form.requestSubmit();
  });

  document.addEventListener("input", (e) => {
    const box = e.target;
    if (box && box.dataset && box.dataset.draft) sessionStorage.setItem(box.dataset.draft, box.value);
    if (box && box.id === "reply-text") showCanned(box);
  });

  // Canned responses: "/" and the start of a name lists the matches;
  // arrows choose, Enter or Tab (or a click) puts the text in the box.
  function cannedItems() { return Array.from(document.querySelectorAll("#canned li")); }

  function showCanned(box) {
    const list = document.getElementById("canned");
    if (!list) return;
    const m = /^\/(\S*)$/.exec(box.value);
    let first = true;
    cannedItems().forEach((li) => {
      const on = !!m && li.dataset.name.toLowerCase().startsWith(m[1].toLowerCase());
      li.hidden = !on;
      li.classList.toggle("selected", on && first);
      li.setAttribute("aria-selected", on && first ? "true" : "false");
      if (on) first = false;
    });
    list.hidden = !m || first;
  }

  function pickCanned(li) {
    const box = document.getElementById("reply-text");
    const list = document.getElementById("canned");
    if (!box || !li) return;
    box.value = li.dataset.text;
    if (box.dataset.draft) sessionStorage.setItem(box.dataset.draft, box.value);
    if (list) list.hidden = true;
    box.focus();
  }

  document.addEventListener("keydown", (e) => {
    const list = document.getElementById("canned");
    if (!list || list.hidden || !e.target || e.target.id !== "reply-text") return;
    const shown = cannedItems().filter((li) => !li.hidden);
    const i = shown.findIndex((li) => li.classList.contains("selected"));
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      const next = shown[Math.min(shown.length - 1, Math.max(0, i + (e.key === "ArrowDown" ? 1 : -1)))];
      shown.forEach((li) => { li.classList.toggle("selected", li === next); li.setAttribute("aria-selected", li === next ? "true" : "false"); });
    } else if ((e.key === "Enter" && !e.ctrlKey && !e.metaKey) || e.key === "Tab") {
      pickCanned(shown[Math.max(0, i)]);
    } else if (e.key === "Escape") {
      list.hidden = true;
    } else {
      return;
    }
    e.preventDefault();
  });

  document.addEventListener("click", (e) => {
    const li = e.target.closest && e.target.closest("#canned li");
    if (li) pickCanned(li);
  });

  function restoreDraft() {
    const box = document.getElementById("reply-text");
    if (!box || !box.dataset.draft) return;
    const kept = sessionStorage.getItem(box.dataset.draft);
    if (kept && !box.value) box.value = kept;
  }

  // A reply the desk answered is no longer a draft (a refused one comes
  // back in the box); one that failed on the way keeps it for a reload.
  document.addEventListener("htmx:afterRequest", (e) => {
    const form = e.detail && e.detail.elt;
    if (!form || form.id !== "reply-form" || !e.detail.successful) return;
    const key = form.querySelector("[data-draft]");
    if (key) sessionStorage.removeItem(key.dataset.draft);
  });

  // The queue refreshes itself; keep the agent's selection across refreshes.
  // Only a page load brings a draft back: a swapped box already holds what
  // the desk kept.
  document.addEventListener("htmx:afterSwap", restoreSelection);
  document.addEventListener("DOMContentLoaded", () => { restoreSelection(); restoreDraft(); });
})();
