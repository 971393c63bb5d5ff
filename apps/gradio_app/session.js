// A session that ended (its idle time or lifetime passed, the account was disabled, the
// password changed) makes the desk's next call answer 401: reload, so that the sign-in page
// shows instead of "Error" on every box. Only while the desk is on screen, never on the
// sign-in page itself. The verdict that met the 401 was not saved: its pair is shown again.
(() => {
  const original = window.fetch.bind(window);
  let reloading = false;
  window.fetch = async (...args) => {
    const response = await original(...args);
    if (response.status === 401 && !reloading) {
      const root = document.querySelector("gradio-app")?.shadowRoot || document;
      if (root.querySelector(".pd-progress")) { reloading = true; location.reload(); }
    }
    return response;
  };
})();
