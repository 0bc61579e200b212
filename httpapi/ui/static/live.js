// The status page fetches its board, topology picture and lag chart again
// every data-live seconds and swaps them in, without reloading the page.
(function () {
  const live = document.getElementById("live");
  if (!live || !live.dataset.live) return;
  const every = Number(live.dataset.live) * 1000;
  async function update() {
    try {
      const resp = await fetch("/ui/live", { credentials: "same-origin", cache: "no-store" });
      if (resp.redirected || !resp.ok) {
        location.reload(); // the session ended or the agent failed: the page says why
        return;
      }
      live.innerHTML = await resp.text();
      live.dataset.updated = new Date().toISOString();
    } catch (e) {
      live.dataset.error = String(e); // the agent is unreachable: keep the last view
    }
    setTimeout(update, every);
  }
  setTimeout(update, every);
})();
