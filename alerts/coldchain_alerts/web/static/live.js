/* Keeps the inbox and an alert's page fresh without reloading them (docs/alerts.md).
 *
 * The page names its live twin in <main data-live>: JSON with the page's parts rendered
 * anew, fetched every data-every seconds with the session's cookie, and put in place
 * by id. The forms (#actions) are replaced only when the alert's state changed and
 * nobody has typed in them; else the page says that the alert has changed. Once the
 * session has ended the page offers to log in again and stops asking. Without
 * JavaScript the pages are the same, as fresh as when they were loaded.
 */
"use strict";

(() => {
  const root = document.querySelector("main[data-live]");
  if (!root) return;
  const every = Number(root.dataset.every) * 1000;

  // A list shows its first option when none is marked as chosen.
  const chosenAtFirst = (select) =>
    Math.max(0, [...select.options].findIndex((option) => option.defaultSelected));
  const typedIn = (part) =>
    [...part.querySelectorAll("textarea, input:not([type=hidden]), select")].some((field) =>
      field.tagName === "SELECT"
        ? field.selectedIndex !== chosenAtFirst(field)
        : field.value !== field.defaultValue,
    );

  const put = (fresh) => {
    for (const [id, html] of Object.entries(fresh.parts)) {
      const part = document.getElementById(id);
      if (!part) continue;
      if (part.dataset.state === undefined) {
        part.innerHTML = html;
      } else if (part.dataset.state !== fresh.state) {
        const changed = typedIn(part);
        document.getElementById("live-changed").hidden = !changed;
        if (!changed) {
          part.innerHTML = html;
          part.dataset.state = fresh.state;
        }
      }
    }
  };

  const poll = async () => {
    if (!document.hidden) {
      try {
        const response = await fetch(root.dataset.live, {
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (response.status === 401) {
          document.getElementById("live-expired").hidden = false;
          return;
        }
        if (response.ok) put(await response.json());
      } catch (error) {
        // Offline for a moment: the next round tries again.
        console.warn("coldchain: no fresh values", error);
      }
    }
    setTimeout(poll, every);
  };
  setTimeout(poll, every);
})();
