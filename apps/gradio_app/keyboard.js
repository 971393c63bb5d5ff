// One-key judging: 1 left, 2 right, 3 tie, 4 both bad, u undo. Keys never fire while the
// annotator is typing in a field; Esc leaves the field so the next key counts.
(() => {
  const keys = { "1": "btn-left", "2": "btn-right", "3": "btn-tie", "4": "btn-bothbad", "u": "btn-undo", "U": "btn-undo" };
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || typing(event.target)) return;
    const id = keys[event.key];
    if (!id) return;
    const root = document.querySelector("gradio-app")?.shadowRoot || document;
    const button = root.getElementById ? root.getElementById(id) : document.getElementById(id);
    if (button && !button.disabled) { event.preventDefault(); button.click(); }
  });
})();
