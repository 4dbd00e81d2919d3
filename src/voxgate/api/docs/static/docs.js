// Copy buttons, "copy page as Markdown", and the model table's search and filters.
"use strict";

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  // The page's Markdown is a JSON string, so nothing in it is HTML-escaped.
  const text = source.type === "application/json" ? JSON.parse(source.textContent) : source.textContent;
  await copyText(text);
  const label = button.textContent;
  button.textContent = document.body.dataset.copied;
  setTimeout(() => { button.textContent = label; }, 1500);
});

const table = document.getElementById("models");
if (table) {
  const search = document.getElementById("search");
  const task = document.getElementById("task");
  const modality = document.getElementById("modality");
  const apply = () => {
    const words = search.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      const shown =
        (!words || row.dataset.search.includes(words)) &&
        (!task.value || row.dataset.tasks.split(" ").includes(task.value)) &&
        (!modality.value || row.dataset.modalities.split(" ").includes(modality.value));
      row.hidden = !shown;
    }
  };
  for (const control of [search, task, modality]) control.addEventListener("input", apply);
}
