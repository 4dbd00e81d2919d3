// The console works without this script; it only adds conveniences.
"use strict";

// A page answering a form (a new key's secret) must not post the form again on reload:
// replacing the history entry turns a reload into a plain GET.
if (window.history.replaceState) {
  window.history.replaceState(null, "", window.location.href);
}

document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy-target]");
  if (!button) {
    return;
  }
  const text = document.getElementById(button.dataset.copyTarget).textContent;
  await navigator.clipboard.writeText(text);
  button.textContent = button.dataset.copied;
});
