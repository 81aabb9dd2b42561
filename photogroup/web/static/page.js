"use strict";
// The review page: questions, people, photos. Served as a file (the page's
// Content-Security-Policy allows no inline script or style).
const CSRF = document.querySelector('meta[name=csrf]').content;
const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
};
let current = null;
let currentPerson = null;

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
  };
  let r;
  try { r = await fetch(path, opts); } catch (e) {
    throw new Error("The photogroup server does not answer: is it still running?");
  }
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

// The status line: a message, with an Undo button right there after a change.
function say(text, {undoable = false, error = false} = {}) {
  const box = $("#status");
  box.classList.toggle("error", error);
  box.replaceChildren(el("span", {id: "status-text"}, text));
  if (undoable) box.append(el("button", {id: "undo-inline", onclick: undo}, "Undo"));
}
const fail = e => say(e.message, {error: true});

// Dates as people say them: "today 14:05", "yesterday 09:10", "3 Mar 2024, 18:30".
function human(iso, withTime = true) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const time = d.toLocaleTimeString(undefined, {hour: "2-digit", minute: "2-digit"});
  const day = new Date(d); day.setHours(0, 0, 0, 0);
  const today = new Date(); today.setHours(0, 0, 0, 0);
  const days = Math.round((day - today) / 86400000);
  const words = {"-1": "yesterday", "0": "today", "1": "tomorrow"}[days];
  if (words) return withTime ? `${words} ${time}` : words;
  const date = d.toLocaleDateString(undefined, {day: "numeric", month: "short", year: "numeric"});
  return withTime ? `${date}, ${time}` : date;
}
const fileName = path => path.split(/[\\/]/).pop();

// --- the photo viewer: a face's photo with the face marked --------------------------

function faceImg(f, size = 128) {
  const img = el("img", {src: `/face/${f.face_id}.jpg?size=${size}`, alt: `face ${f.face_id}`,
                         "data-face": f.face_id, title: "Show this face in its photo"});
  img.addEventListener("click", () => showFace(f.face_id));
  return img;
}
function openViewer(src, caption) {
  const img = $("#viewer-img");
  $("#face-box").hidden = true;
  img.removeAttribute("src");
  img.src = src;
  $("#viewer-caption").textContent = caption;
  $("#overlay").hidden = false;
}
async function showFace(faceId) {
  let f;
  try { f = await api(`/api/faces/${faceId}`); } catch (e) { fail(e); return; }
  openViewer(`/photo/${f.photo_id}.jpg`, [fileName(f.path), human(f.taken, false)].filter(Boolean).join(" · "));
  const box = $("#face-box");
  box.dataset.face = faceId;
  if (!f.width || !f.height) return;  // size unknown: the photo alone
  const [x, y, w, h] = f.box;
  box.style.left = `${100 * x / f.width}%`;
  box.style.top = `${100 * y / f.height}%`;
  box.style.width = `${100 * w / f.width}%`;
  box.style.height = `${100 * h / f.height}%`;
  box.hidden = false;
}
function showPhoto(p) {
  openViewer(`/photo/${p.id}.jpg`, [fileName(p.path), human(p.taken, false)].filter(Boolean).join(" · "));
}
function closeViewer() { $("#overlay").hidden = true; }
$("#overlay").addEventListener("click", closeViewer);

// --- review ------------------------------------------------------------------------------

async function loadQuestion() {
  const box = $("#review");
  box.replaceChildren(el("p", {class: "muted"}, "Looking for the next question…"));
  const data = await api("/api/question");
  current = data.question;
  box.replaceChildren();
  if (!current) { box.append(el("p", {id: "done"}, "No questions left. Thank you!")); return; }
  box.append(el("h2", {id: "question-text", "data-id": current.id}, current.text));
  // "Is this one person?": the person's two sub-groups, one row each
  const split = current.kind === "one_person";
  const sides = el("div", {class: split ? "sides rows" : "sides"});
  current.sides.forEach((s, k) => {
    const title = s.person_id === null ? "This face"
      : split ? `${s.label}, ${k === 0 ? "one side" : "the other side"} (${s.size} faces)`
      : `${s.label} (${s.size} faces)`;
    sides.append(el("div", {class: "side", "data-side": k}, el("h3", {}, title),
                    el("div", {class: "faces"}, ...s.faces.map(notFaceable))));
  });
  box.append(sides);
  if (split) box.append(el("p", {class: "muted", id: "split-hint"},
    "No splits them: the side with fewer confirmed faces becomes a new person (Undo puts it back)."));
  const actions = el("div", {class: "actions"});
  let focus = null;
  if (current.kind === "who") {
    const input = el("input", {id: "name", placeholder: "Name", autocomplete: "off", "aria-label": "Name"});
    input.addEventListener("keydown", ev => {
      if (ev.key === "Enter") { ev.preventDefault(); answer("yes", input.value); }
      else if (ev.key === "Escape") input.blur();
      ev.stopPropagation();
    });
    actions.append(input, el("button", {class: "yes", id: "save", onclick: () => answer("yes", input.value)}, "Save"),
                   el("button", {id: "skip", onclick: () => answer("skip")}, "Skip ", el("kbd", {}, "s")));
    focus = input;
  } else {
    actions.append(el("button", {class: "yes", id: "yes", onclick: () => answer("yes")}, "Yes ", el("kbd", {}, "y")),
                   el("button", {class: "no", id: "no", onclick: () => answer("no")}, "No ", el("kbd", {}, "n")),
                   el("button", {id: "skip", onclick: () => answer("skip")}, "Skip ", el("kbd", {}, "s")));
  }
  box.append(actions, el("p", {class: "muted"},
    `${data.open} open question(s). Click a face to see it in its photo; ⊘ marks a detection that is not a face.`));
  if (focus) focus.focus();
}

// A question's face, with ⊘: "this is not a face" (a false detection).
function notFaceable(f) {
  return el("span", {class: "qface", "data-face": f.face_id}, faceImg(f),
            el("button", {class: "notface", title: "Not a face (a false detection)",
                          onclick: ev => { ev.stopPropagation(); answer("notface", null, f.face_id); }}, "⊘"));
}

async function answer(reply, name, face) {
  if (!current) return;
  try {
    const body = {id: current.id, answer: reply, name: name || null};
    if (face !== undefined) body.face = face;
    const r = await api("/api/answer", body);
    say(r.message, {undoable: reply !== "skip"});
  } catch (e) { fail(e); }
  await loadQuestion();
}

async function undo() {
  try { say((await api("/api/undo", {})).message); } catch (e) { fail(e); }
  if (!$("#review").hidden) { await loadQuestion(); return; }
  if (!$("#photos").hidden) return;
  if (currentPerson !== null) {
    try { await loadPerson(currentPerson); return; } catch (e) { /* merged away: the grid */ }
  }
  await loadPeople();
}

// --- people -------------------------------------------------------------------------------

function personCard(p, size, attrs, onclick) {
  const img = p.cover ? el("img", {src: `/face/${p.cover.face_id}.jpg?size=${size}`, alt: p.label}) : el("div");
  return el("div", {class: "card", "data-person": p.id, onclick, ...attrs},
            img, el("div", {}, p.label + (p.hidden ? " (hidden)" : "")),
            el("div", {class: "n"}, `${p.faces} faces, ${p.photos} photos`));
}

async function loadPeople() {
  currentPerson = null;
  const box = $("#people");
  const data = await api("/api/people?all=1");
  const grid = el("div", {class: "grid"});
  for (const p of data.people) grid.append(personCard(p, 128, {}, () => loadPerson(p.id)));
  box.replaceChildren(el("h2", {}, "People"), grid);
}

async function loadPerson(pid) {
  const data = await api(`/api/people/${pid}`);
  currentPerson = pid;
  const p = data.person, box = $("#people");
  const name = el("input", {id: "rename", value: p.name || "", placeholder: "Name", "aria-label": "Name"});
  const faces = el("div", {class: "faces person-faces"});
  const picked = new Set();
  let anchor = null;  // the last face clicked: shift-click selects the range from it
  const order = data.faces.map(f => f.face_id);
  const bar = selectionBar(p, picked, () => loadPerson(pid));
  const mark = () => {
    for (const w of faces.children) {
      const on = picked.has(Number(w.dataset.face));
      w.classList.toggle("selected", on);
      w.setAttribute("aria-pressed", on ? "true" : "false");
    }
    bar.update();
  };
  for (const f of data.faces) {
    const img = el("img", {src: `/face/${f.face_id}.jpg?size=128`, alt: `face ${f.face_id}`,
                           "data-face": f.face_id, title: "Click to select (shift-click: a range)"});
    const wrap = el("span", {class: "face", "data-face": f.face_id, role: "button", tabindex: "0",
                             "aria-pressed": "false", "aria-label": `Select face ${f.face_id}`}, img);
    wrap.addEventListener("keydown", ev => {  // Space or Enter: a click (shift too)
      if (ev.target !== wrap || (ev.key !== " " && ev.key !== "Enter")) return;
      ev.preventDefault();
      wrap.dispatchEvent(new MouseEvent("click", {shiftKey: ev.shiftKey}));
    });
    wrap.addEventListener("click", ev => {
      if (ev.shiftKey && anchor !== null) {
        const [a, b] = [order.indexOf(anchor), order.indexOf(f.face_id)].sort((x, y) => x - y);
        for (const id of order.slice(a, b + 1)) picked.add(id);
      } else if (picked.has(f.face_id)) picked.delete(f.face_id);
      else picked.add(f.face_id);
      anchor = f.face_id;
      mark();
    });
    wrap.append(el("button", {title: `Not ${p.label} (Undo puts it back)`, class: "remove", onclick: async ev => {
      ev.stopPropagation();
      try { say((await api(`/api/faces/${f.face_id}/remove`, {})).message, {undoable: true}); } catch (e) { fail(e); }
      await loadPerson(pid);
    }}, "✕"),
    el("button", {title: "Show this face in its photo", class: "zoom", onclick: ev => {
      ev.stopPropagation(); showFace(f.face_id);
    }}, "⤢"));
    faces.append(wrap);
  }
  // shift-click would also select the page's text
  faces.addEventListener("mousedown", ev => { if (ev.shiftKey) ev.preventDefault(); });
  box.replaceChildren(
    el("p", {}, el("a", {href: "#", onclick: ev => { ev.preventDefault(); loadPeople(); }}, "← all people")),
    el("h2", {id: "person-title"}, p.label),
    el("p", {}, el("a", {href: "#", id: "person-photos", onclick: ev => { ev.preventDefault(); photosOf(p.label); }},
                   `Photos of ${p.label} (${p.photos})`)),
    el("div", {class: "actions"},
       name, el("button", {id: "save-name", onclick: async () => {
         try { say((await api(`/api/people/${pid}/name`, {name: name.value})).message, {undoable: true}); } catch (e) { fail(e); }
         await loadPerson(pid);
       }}, "Rename"),
       el("button", {id: "hide", onclick: async () => {
         try { say((await api(`/api/people/${pid}/hide`, {hidden: !p.hidden})).message); } catch (e) { fail(e); }
         await loadPeople();
       }}, p.hidden ? "Show" : "Hide")),
    await mergePanel(p),
    el("p", {class: "muted"}, `${p.faces} faces in ${p.photos} photos. Click faces to select them ` +
       `(shift-click: a range), then act on them all at once; ⤢ shows a face in its photo; ` +
       `✕ removes one face that is not ${p.label}.`),
    faces, bar.element);
  mark();
}

// The selected faces of a person's page and what can be done with them at once.
function selectionBar(p, picked, reload) {
  const count = el("span", {id: "selection-count"});
  const picker = el("div", {id: "move-picker", hidden: ""});
  const act = async (path, body) => {
    try {
      const r = await api(path, {faces: [...picked], ...body});
      say(r.message, {undoable: true});
    } catch (e) { fail(e); return; }
    try { await reload(); } catch (e) { await loadPeople(); }  // no faces left: the grid
  };
  const moveTo = el("button", {id: "move-to", onclick: async () => {
    if (!picker.hidden) { picker.hidden = true; return; }
    const others = (await api("/api/people?all=1")).people.filter(o => o.id !== p.id);
    const grid = el("div", {class: "grid merge-grid"});
    grid.append(el("div", {class: "card move-choice new-person", "data-person": "new",
                           onclick: () => act("/api/faces/move", {new: true})},
                   el("div", {class: "plus"}, "+"), el("div", {}, "A new person")));
    for (const o of others) {
      grid.append(personCard(o, 80, {class: "card move-choice", title: `Move the selected faces to ${o.label}`},
                             () => act("/api/faces/move", {to: o.id})));
    }
    picker.replaceChildren(el("p", {class: "muted"}, "Move the selected faces to:"), grid);
    picker.hidden = false;
  }}, "Move to…");
  const element = el("div", {id: "selection", hidden: ""},
    el("div", {class: "actions"}, count,
       el("button", {id: "not-person", class: "no", onclick: () => act("/api/faces/move", {to: null})}, `Not ${p.label}`),
       moveTo,
       el("button", {id: "not-face", onclick: () => act("/api/faces/notface", {})}, "Not a face"),
       el("button", {id: "select-none", onclick: () => {
         picked.clear();
         for (const w of document.querySelectorAll(".person-faces .face")) {
           w.classList.remove("selected"); w.setAttribute("aria-pressed", "false");
         }
         update();
       }}, "Clear")),
    picker);
  function update() {
    const n = picked.size;
    element.hidden = n === 0;
    if (n === 0) picker.hidden = true;
    count.textContent = `${n} face${n === 1 ? "" : "s"} selected`;
  }
  return {element, update};
}

// "Merge with…": the other people as faces; pick one, then confirm.
async function mergePanel(p) {
  const others = (await api("/api/people?all=1")).people.filter(o => o.id !== p.id);
  const grid = el("div", {class: "grid merge-grid"});
  const go = el("button", {id: "merge", class: "yes", disabled: ""}, "Merge");
  let chosen = null;
  for (const o of others) {
    grid.append(personCard(o, 80, {class: "card merge-choice", title: `Merge ${o.label} into ${p.label}`}, ev => {
      chosen = o;
      for (const c of grid.children) c.classList.toggle("chosen", c === ev.currentTarget);
      go.disabled = false;
      go.textContent = `Merge ${o.label} into ${p.label}`;
    }));
  }
  go.addEventListener("click", async () => {
    if (!chosen) return;
    try {
      const r = await api("/api/merge", {keep: p.id, other: chosen.id});
      say(r.message, {undoable: true}); await loadPerson(r.person_id);
    } catch (e) { fail(e); }
  });
  return el("details", {id: "merge-panel"}, el("summary", {}, "Merge with…"),
            others.length ? grid : el("p", {class: "muted"}, "Nobody else yet."),
            el("div", {class: "actions"}, go));
}

// --- photos -------------------------------------------------------------------------------

function show(tab) {
  for (const t of ["review", "people", "photos"]) {
    $("#" + t).hidden = tab !== t;
    $("#tab-" + t).classList.toggle("active", tab === t);
  }
  if (tab === "review") loadQuestion().catch(fail);
  else if (tab === "people") loadPeople().catch(fail);
  else if (tab === "photos") loadNames();
}

async function loadNames() {
  try {
    const data = await api("/api/people");
    $("#names").replaceChildren(...data.people.map(p => el("option", {value: p.label})));
  } catch (e) { /* suggestions are a nicety */ }
}

function photosOf(label) {
  show("photos");
  $("#with").value = label; $("#without").value = ""; $("#from").value = ""; $("#to").value = "";
  $("#search").requestSubmit();
}

const names = text => text.split(",").map(s => s.trim()).filter(Boolean);
$("#search").addEventListener("submit", async ev => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const n of names($("#with").value)) q.append("person", n);
  for (const n of names($("#without").value)) q.append("without", n);
  if ($("#from").value) q.append("from", $("#from").value);
  if ($("#to").value) q.append("to", $("#to").value);
  const grid = $("#results");
  grid.replaceChildren();
  try {
    const data = await api("/api/photos?" + q.toString());
    $("#found").textContent = `${data.count} photo(s)`;
    for (const p of data.photos) {
      const img = el("img", {src: `/photo/${p.id}.jpg?max=300`, alt: fileName(p.path), title: p.path});
      img.addEventListener("click", () => showPhoto(p));
      grid.append(el("div", {class: "card photo", "data-photo": p.id}, img,
                     el("div", {class: "file"}, fileName(p.path)),
                     el("div", {class: "n"}, human(p.taken) || "no date")));
    }
  } catch (e) { $("#found").textContent = e.message; }
});

// --- the header ---------------------------------------------------------------------------

async function loadStatus() {
  try {
    const st = await api("/api/status");
    const last = st.library.last_scan, sch = st.schedule;
    let text = last ? `Last scan ${human(last.finished || last.started)}` + (last.status === "ok" ? "" : ` (${last.status})`) : "No scan yet";
    if (sch) {
      text += sch.running ? " · scanning now…" : (sch.next_run ? ` · next ${human(sch.next_run)}` : "");
      $("#scan-now").hidden = false;
    }
    $("#scan-status").textContent = text;
    $("#scan-status").title = last ? `${last.finished || last.started}` : "";
  } catch (e) { /* the status line is a nicety */ }
}
$("#scan-now").addEventListener("click", async () => {
  try { say((await api("/api/scan", {})).message); } catch (e) { fail(e); }
  setTimeout(loadStatus, 500);
});
loadStatus();
setInterval(loadStatus, 15000);
$("#tab-review").addEventListener("click", () => show("review"));
$("#tab-people").addEventListener("click", () => show("people"));
$("#tab-photos").addEventListener("click", () => show("photos"));
$("#undo").addEventListener("click", undo);
document.addEventListener("keydown", ev => {
  if (ev.key === "Escape") { closeViewer(); return; }
  if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
  if (ev.key === "u") { undo(); return; }
  if ($("#review").hidden || !current) return;
  if (ev.key === "y" && current.kind !== "who") answer("yes");
  else if (ev.key === "n" && current.kind !== "who") answer("no");
  else if (ev.key === "s") answer("skip");
});
show("review");
