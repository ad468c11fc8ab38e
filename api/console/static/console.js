// Pages update by themselves: every few seconds the page asks for its own <main> again and
// swaps it in when it changed — unless someone is typing in it.
(function () {
  const main = document.getElementById("main");
  if (!main || main.dataset.refresh !== "true") return;
  setInterval(async () => {
    const active = document.activeElement;
    if (active && main.contains(active) && /INPUT|TEXTAREA|SELECT/.test(active.tagName)) return;
    try {
      const answer = await fetch(location.href, { headers: { "X-Console-Part": "main" } });
      if (!answer.ok) return;
      const html = await answer.text();
      if (html.trim() !== main.innerHTML.trim()) main.innerHTML = html;
    } catch (error) { /* the server is away for a moment: try again next time */ }
  }, 4000);
})();
