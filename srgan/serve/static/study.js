// The blind rating page: one image at a time, by opaque token; the method is never sent to the browser.
"use strict";

const $ = (id) => document.getElementById(id);
// A random id per browser, so a rater who reloads continues where they left off.
const rater = localStorage.getItem("srgan-rater") || crypto.randomUUID();
localStorage.setItem("srgan-rater", rater);
let token = null;

function say(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

function enable(on) {
  for (const b of document.querySelectorAll("#scores button")) b.disabled = !on;
}

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function next() {
  enable(false);
  $("stimulus").classList.remove("ready");
  const n = await api(`/api/study/next?rater=${encodeURIComponent(rater)}`);
  $("progress").textContent = `${n.rated} of ${n.total} rated`;
  if (n.done) {
    token = null;
    $("stimulus").removeAttribute("src");
    $("progress").textContent = `All ${n.total} images rated. Thank you!`;
    return;
  }
  token = n.token;
  $("stimulus").src = `/api/study/image/${token}`;
}

async function rate(score) {
  if (!token || $("scores").querySelector("button").disabled) return;
  enable(false);
  try {
    await api("/api/study/ratings", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rater, token, score }),
    });
    say("");
    await next();
  } catch (err) {
    say(err.message);
    enable(true);
  }
}

// Scores are accepted only once the image is on screen.
$("stimulus").addEventListener("load", () => { $("stimulus").classList.add("ready"); enable(true); });
$("stimulus").addEventListener("error", () => say("This image could not be shown; reload the page."));
$("scores").addEventListener("click", (e) => e.target.dataset.score && rate(Number(e.target.dataset.score)));
document.addEventListener("keydown", (e) => { if ("12345".includes(e.key) && e.key.length === 1) rate(Number(e.key)); });
next().catch((err) => say(err.message));
