// The upscale page: upload, follow the queued job, then show its results side by side and under the slider.
"use strict";

const $ = (id) => document.getElementById(id);
const jobs = new Map();  // id -> last status from the server
let shownJob = null;

function say(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function loadModels() {
  const info = await api("/api/models");
  for (const m of info.models) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" name="model" checked> `;
    label.firstChild.value = m.name;
    label.append(`${m.name} (x${m.scale}, ${m.device} ${m.precision})`);
    $("models").append(label);
  }
  const mb = (info.max_upload_bytes / 2 ** 20).toFixed(0);
  $("limits").textContent = `Up to ${mb} MB per file` +
    (info.max_pixels ? `, ${(info.max_pixels / 1e6).toFixed(0)} megapixels.` : ".");
  $("study-link").hidden = !info.study;
}

async function upload(file) {
  await modelsLoaded;  // a file chosen while the page loads would otherwise find no model checked yet
  const models = [...document.querySelectorAll("input[name=model]:checked")].map((c) => c.value);
  if (!models.length) return say("Choose at least one model.");
  say("");
  const query = new URLSearchParams({ models: models.join(","), name: file.name });
  try {
    const job = await api(`/api/jobs?${query}`, { method: "POST", body: file });
    track(job);
  } catch (err) {
    say(`${file.name}: ${err.message}`);
  }
}

function describe(job) {
  const note = job.warning ? ` (${job.warning})` : "";  // an animation: only its first frame is upscaled
  if (job.status === "queued") return (job.ahead ? `queued (${job.ahead} ahead)` : "queued (next)") + note;
  if (job.status === "running") return `running ${Math.round(job.progress * 100)}%${note}`;
  const failed = job.results.filter((r) => r.error).length;
  return (failed ? `done, ${failed} failed` : "done") + note;
}

function track(job) {
  const li = document.createElement("li");
  li.id = `job-${job.id}`;
  li.innerHTML = `<span class="name"></span><progress max="1"></progress><span class="state"></span>`;
  li.querySelector(".name").textContent = job.name;
  li.addEventListener("click", () => jobs.get(job.id).status === "done" && show(jobs.get(job.id)));
  $("jobs").prepend(li);
  update(job);
}

function update(job) {
  jobs.set(job.id, job);
  const li = $(`job-${job.id}`);
  li.dataset.status = job.status;
  li.querySelector("progress").value = job.progress;
  li.querySelector(".state").textContent = describe(job);
  if (job.status !== "done") {
    setTimeout(() => api(`/api/jobs/${job.id}`).then(update, (err) => say(err.message)), 250);
  } else if (!shownJob || jobs.get(shownJob).status === "done") {
    show(job);  // the newest finished job, unless the user is looking at one still running
  }
}

function panel(label, src, caption) {
  const div = document.createElement("div");
  div.className = "panel";
  div.dataset.model = label;
  div.innerHTML = `<div class="stage"><div class="layer"><img alt=""></div></div><p></p>`;
  div.querySelector("img").src = src;
  div.querySelector("img").alt = label;
  div.querySelector("p").append(caption);
  return div;
}

function show(job) {
  shownJob = job.id;
  for (const li of $("jobs").children) li.classList.toggle("shown", li.id === `job-${job.id}`);
  const sources = [{ label: "input", url: job.input, scale: 1 }];
  for (const old of $("grid").querySelectorAll(".stage")) Viewer.detach(old);
  $("grid").replaceChildren(panel("input", job.input, "input (nearest neighbour)"));
  for (const r of job.results) {
    const caption = document.createElement("span");
    if (r.error) {
      caption.className = "error";
      caption.textContent = `${r.model}: ${r.error}`;
      $("grid").append(panel(r.model, "", caption));
      continue;
    }
    caption.innerHTML = `<b></b> ${r.seconds.toFixed(2)} s on ${r.device}, ${r.precision} · <a class="download" download>PNG</a>`;
    caption.querySelector("b").textContent = r.model;
    caption.querySelector("a").href = r.url;
    $("grid").append(panel(r.model, r.url, caption));
    sources.push({ label: r.model, url: r.url, scale: r.scale });
  }
  for (const stage of $("grid").querySelectorAll(".stage")) Viewer.attach(stage);
  for (const [select, pick] of [[$("left"), 0], [$("right"), sources.length - 1]]) {
    select.replaceChildren(...sources.map((s) => new Option(s.label, s.url)));
    select.selectedIndex = pick;
  }
  pickCompare();
  $("viewer").hidden = false;
  const input = new Image();
  input.onload = () => Viewer.show(input.naturalWidth * Math.max(...sources.map((s) => s.scale)),
                                   input.naturalHeight * Math.max(...sources.map((s) => s.scale)));
  input.src = job.input;
}

function pickCompare() {
  $("compare-left").src = $("left").value;
  $("compare-right").src = $("right").value;
}

$("left").addEventListener("change", pickCompare);
$("right").addEventListener("change", pickCompare);
$("file").addEventListener("change", (e) => {
  for (const file of e.target.files) upload(file);
  e.target.value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  for (const file of e.dataTransfer.files) upload(file);
});
Viewer.attach($("compare"));
const modelsLoaded = loadModels().catch((err) => say(`Cannot reach the server: ${err.message}`));
