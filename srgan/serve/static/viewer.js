// One zoom/pan shared by every .stage on the page. The view is kept in image coordinates (the pixel at the
// centre of every stage, and screen pixels per image pixel), so stages of different sizes all centre the
// same pixel at the same zoom: that is what makes the side-by-side panels and the slider line up.
"use strict";

// Follow a drag anywhere in the window until the button is released; the release position counts too
// (moves are coalesced per frame, so the last one may not arrive as a move).
function drag(down, move) {
  down.preventDefault();  // no text selection or native drag while dragging
  const up = (e) => {
    move(e);
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}

const Viewer = (() => {
  const view = { cx: 0, cy: 0, z: 1, w: 1, h: 1 };
  const stages = [];
  const zoomLabel = document.getElementById("zoom");

  function apply() {
    for (const stage of stages) {
      const { width, height } = stage.getBoundingClientRect();
      const tx = width / 2 - view.cx * view.z, ty = height / 2 - view.cy * view.z;
      for (const layer of stage.querySelectorAll(".layer")) {
        layer.style.transform = `translate(${tx}px, ${ty}px) scale(${view.z})`;
      }
    }
    zoomLabel.textContent = `zoom ${Math.round(view.z * 100)}%`;
  }

  function fit() {
    const { width, height } = stages[0].getBoundingClientRect();
    view.z = Math.min(width / view.w, height / view.h);
    view.cx = view.w / 2;
    view.cy = view.h / 2;
    apply();
  }

  function attach(stage) {
    stages.push(stage);
    stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = stage.getBoundingClientRect();
      const mx = e.clientX - r.left - r.width / 2, my = e.clientY - r.top - r.height / 2;
      const px = view.cx + mx / view.z, py = view.cy + my / view.z;  // the pixel under the cursor stays put
      view.z = Math.min(64, Math.max(0.05, view.z * Math.exp(-e.deltaY / 300)));
      view.cx = px - mx / view.z;
      view.cy = py - my / view.z;
      apply();
    }, { passive: false });
    stage.addEventListener("pointerdown", (e) => {
      if (e.target.closest("#handle")) return;
      let last = [e.clientX, e.clientY];
      drag(e, (m) => {
        view.cx -= (m.clientX - last[0]) / view.z;
        view.cy -= (m.clientY - last[1]) / view.z;
        last = [m.clientX, m.clientY];
        apply();
      });
    });
    stage.addEventListener("dblclick", fit);
  }

  // Every image is drawn at the display size w x h (the output size), whatever its own size: the input shows
  // its pixels as blocks, and results of any scale line up pixel for pixel.
  function show(w, h) {
    view.w = w;
    view.h = h;
    for (const img of document.querySelectorAll(".layer img")) {
      img.style.width = `${w}px`;
      img.style.height = `${h}px`;
    }
    fit();
  }

  return { attach, show, apply, detach: (stage) => stages.splice(stages.indexOf(stage), 1) };
})();

// The before/after slider: the left image is clipped to the part of the stage left of the handle.
const Slider = (() => {
  const stage = document.getElementById("compare");
  const clip = stage.querySelector(".clip");
  const handle = document.getElementById("handle");

  function set(percent) {
    const p = Math.min(100, Math.max(0, percent));
    clip.style.clipPath = `inset(0 ${100 - p}% 0 0)`;
    handle.style.left = `${p}%`;
    handle.setAttribute("aria-valuenow", Math.round(p));
    stage.dataset.split = p.toFixed(1);
  }

  handle.addEventListener("pointerdown", (e) => drag(e, (m) => {
    const r = stage.getBoundingClientRect();
    set(((m.clientX - r.left) / r.width) * 100);
  }));
  handle.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -5, ArrowRight: 5 }[e.key];
    if (step) set(Number(stage.dataset.split) + step);
  });
  set(50);
  return { set };
})();
