// Pages update by themselves: every few seconds the page asks for its own <main> again and
// swaps it in when it changed — unless someone is filling in a form on it. What had the focus
// keeps it, and the sections someone opened or closed stay so.
(function () {
  // A form is sent once: a second click while it is on its way does nothing.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.sending) event.preventDefault();
    form.dataset.sending = "1";
  });
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-sending]").forEach((f) => delete f.dataset.sending);
  });

  const main = document.getElementById("main");
  if (!main || main.dataset.refresh !== "true") return;
  const FOCUSABLE = "a[href], button, input, select, textarea, summary";

  function filling() {
    return Array.from(main.querySelectorAll("input, textarea, select")).some((c) => {
      if (c.type === "checkbox" || c.type === "radio") return c.checked !== c.defaultChecked;
      if (c.tagName === "SELECT") return Array.from(c.options).some((o) => o.selected !== o.defaultSelected);
      return c.type !== "hidden" && c.value !== c.defaultValue;
    });
  }

  function where(element) {  // how to find the focused element again after the swap
    if (!element || !main.contains(element)) return null;
    if (element.id) return { id: element.id };
    return { index: Array.from(main.querySelectorAll(FOCUSABLE)).indexOf(element) };
  }

  setInterval(async () => {
    const active = document.activeElement;
    if (active && main.contains(active) && /INPUT|TEXTAREA|SELECT/.test(active.tagName)) return;
    if (filling()) return;
    try {
      const answer = await fetch(location.href, { headers: { "X-Console-Part": "main" } });
      if (answer.redirected && new URL(answer.url).pathname === "/console/sign-in") {
        location.assign(answer.url);  // the session has ended
        return;
      }
      if (!answer.ok || answer.redirected) return;
      const fresh = document.createElement("template");
      fresh.innerHTML = await answer.text();
      main.querySelectorAll("details[id]").forEach((shown) => {
        const again = fresh.content.getElementById(shown.id);
        if (again) again.open = shown.open;
      });
      if (fresh.innerHTML.trim() === main.innerHTML.trim()) return;
      const focus = where(document.activeElement);
      main.replaceChildren(fresh.content);
      const back = focus && (focus.id ? document.getElementById(focus.id)
                                      : main.querySelectorAll(FOCUSABLE)[focus.index]);
      if (back) back.focus({ preventScroll: true });
    } catch (error) { /* the server is away for a moment: try again next time */ }
  }, 4000);
})();
