// One-key judging: 1 left, 2 right, 3 tie, 4 both bad, u undo; the number row and the numpad
// alike (by physical key, so NumLock off and AZERTY work too). Keys never fire while the
// annotator is typing in a field; Esc leaves the field so the next key counts. With no pair on
// screen the verdict buttons are off and a verdict key only points at the end message.
// Also: a new pair starts at the top of the page, and while the end of a response is below the
// verdict bar, the bar says so (#pd-more).
(() => {
  const byCode = {
    Digit1: "btn-left", Numpad1: "btn-left",
    Digit2: "btn-right", Numpad2: "btn-right",
    Digit3: "btn-tie", Numpad3: "btn-tie",
    Digit4: "btn-bothbad", Numpad4: "btn-bothbad",
  };
  const byKey = { "1": "btn-left", "2": "btn-right", "3": "btn-tie", "4": "btn-bothbad", "u": "btn-undo", "U": "btn-undo" };
  const root = () => document.querySelector("gradio-app")?.shadowRoot || document;
  const find = (selector) => root().querySelector(selector);
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || typing(event.target)) return;
    const id = byCode[event.code] || byKey[event.key];
    const button = id && find(`#${id}`);
    if (!button) return;
    event.preventDefault();
    if (!button.disabled) { button.click(); return; }
    const done = find(".pd-done");  // the end screen: say it again, visibly
    if (done) { done.classList.remove("pd-nudge"); void done.offsetWidth; done.classList.add("pd-nudge"); }
  });

  let lastShowing = null;
  let queued = false;
  const sideNames = { left: "left", right: "right" };
  const update = () => {
    queued = false;
    const question = find(".pd-question");
    const showing = question ? question.dataset.showing : null;
    if (showing !== null && showing !== lastShowing) {
      if (lastShowing !== null && window.scrollY > 0) window.scrollTo(0, 0);  // the next pair, from its top
      lastShowing = showing;
    }
    const cue = find("#pd-more");
    const bar = find("#pd-verdict-bar");
    if (!cue || !bar) return;
    const barTop = bar.getBoundingClientRect().top;
    const below = [...root().querySelectorAll(".pd-response")]
      .filter((response) => response.querySelector(".pd-end").getBoundingClientRect().bottom > barTop + 1)
      .map((response) => sideNames[response.dataset.side]);
    const text = below.length === 2
      ? "▼ Both responses continue below: scroll to read them to the end"
      : below.length ? `▼ The ${below[0]} response continues below: scroll to read it to the end` : "";
    if (cue.textContent !== text) cue.textContent = text;
    cue.hidden = !text;
  };
  const soon = () => { if (!queued) { queued = true; requestAnimationFrame(update); } };
  new MutationObserver(soon).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("scroll", soon, { passive: true });
  window.addEventListener("resize", soon, { passive: true });
  document.addEventListener("toggle", soon, true);  // a folded system prompt opened or closed
  document.addEventListener("click", (event) => {  // the cue scrolls to the next hidden part
    if (!(event.target instanceof Element) || !event.target.closest("#pd-more")) return;
    const bar = find("#pd-verdict-bar");
    window.scrollBy({ top: window.innerHeight - (bar ? bar.offsetHeight : 0) - 48, behavior: "smooth" });
  });
})();
