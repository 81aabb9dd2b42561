"use strict";
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
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}
function say(text) { $("#status").textContent = text; }
function faceImg(f, size = 128) {
  const img = el("img", {src: `/face/${f.face_id}.jpg?size=${size}`, alt: `face ${f.face_id}`,
                         "data-face": f.face_id});
  img.addEventListener("click", () => showPhoto(f.photo_id));
  return img;
}
function showPhoto(photoId) {
  const o = $("#overlay"); $("img", o).src = `/photo/${photoId}.jpg`; o.style.display = "flex";
}
$("#overlay").addEventListener("click", () => { $("#overlay").style.display = "none"; });

async function loadQuestion() {
  const box = $("#review");
  box.replaceChildren(el("p", {class: "muted"}, "Looking for the next question…"));
  const data = await api("/api/question");
  current = data.question;
  box.replaceChildren();
  if (!current) { box.append(el("p", {id: "done"}, "No questions left. Thank you!")); return; }
  box.append(el("h2", {id: "question-text", "data-id": current.id}, current.text));
  const sides = el("div", {class: "sides"});
  for (const s of current.sides) {
    const title = s.person_id === null ? "This face" : `${s.label} (${s.size} faces)`;
    sides.append(el("div", {class: "side"}, el("h3", {}, title),
                    el("div", {class: "faces"}, ...s.faces.map(f => faceImg(f)))));
  }
  box.append(sides);
  const actions = el("div", {class: "actions"});
  if (current.kind === "who") {
    const input = el("input", {id: "name", placeholder: "Name", autocomplete: "off"});
    input.addEventListener("keydown", ev => {
      if (ev.key === "Enter") { ev.preventDefault(); answer("yes", input.value); }
      ev.stopPropagation();
    });
    actions.append(input, el("button", {class: "yes", id: "save", onclick: () => answer("yes", input.value)}, "Save"),
                   el("button", {id: "skip", onclick: () => answer("skip")}, "Skip ", el("kbd", {}, "s")));
  } else {
    actions.append(el("button", {class: "yes", id: "yes", onclick: () => answer("yes")}, "Yes ", el("kbd", {}, "y")),
                   el("button", {class: "no", id: "no", onclick: () => answer("no")}, "No ", el("kbd", {}, "n")),
                   el("button", {id: "skip", onclick: () => answer("skip")}, "Skip ", el("kbd", {}, "s")));
  }
  box.append(actions, el("p", {class: "muted"}, `${data.open} open question(s). Click a face to see its photo.`));
}

async function answer(reply, name) {
  if (!current) return;
  try {
    const r = await api("/api/answer", {id: current.id, answer: reply, name: name || null});
    say(r.message);
  } catch (e) { say(e.message); }
  await loadQuestion();
}

async function undo() {
  try { say((await api("/api/undo", {})).message); } catch (e) { say(e.message); }
  if (!$("#review").hidden) { await loadQuestion(); return; }
  if (currentPerson !== null) {
    try { await loadPerson(currentPerson); return; } catch (e) { /* merged away: the grid */ }
  }
  await loadPeople();
}

async function loadPeople() {
  currentPerson = null;
  const box = $("#people");
  const data = await api("/api/people?all=1");
  const grid = el("div", {class: "grid"});
  for (const p of data.people) {
    const img = p.cover ? el("img", {src: `/face/${p.cover.face_id}.jpg?size=128`, alt: p.label}) : el("div");
    grid.append(el("div", {class: "card", "data-person": p.id, onclick: () => loadPerson(p.id)},
                   img, el("div", {}, p.label + (p.hidden ? " (hidden)" : "")),
                   el("div", {class: "n"}, `${p.faces} faces, ${p.photos} photos`)));
  }
  box.replaceChildren(el("h2", {}, "People"), grid);
}

async function loadPerson(pid) {
  const data = await api(`/api/people/${pid}`);
  currentPerson = pid;
  const p = data.person, box = $("#people");
  const name = el("input", {id: "rename", value: p.name || "", placeholder: "Name"});
  const others = el("select", {id: "merge-other"}, el("option", {value: ""}, "Merge with…"));
  for (const o of (await api("/api/people?all=1")).people) {
    if (o.id !== p.id) others.append(el("option", {value: o.id}, o.label));
  }
  const faces = el("div", {class: "faces"});
  for (const f of data.faces) {
    const wrap = el("span", {class: "face", "data-face": f.face_id}, faceImg(f));
    wrap.append(el("button", {title: "Not this person", class: "remove", onclick: async ev => {
      ev.stopPropagation();
      try { say((await api(`/api/faces/${f.face_id}/remove`, {})).message); } catch (e) { say(e.message); }
      await loadPerson(pid);
    }}, "✕"));
    faces.append(wrap);
  }
  box.replaceChildren(
    el("p", {}, el("a", {href: "#", onclick: ev => { ev.preventDefault(); loadPeople(); }}, "← all people")),
    el("h2", {id: "person-title"}, p.label),
    el("div", {class: "actions"},
       name, el("button", {id: "save-name", onclick: async () => {
         try { say((await api(`/api/people/${pid}/name`, {name: name.value})).message); } catch (e) { say(e.message); }
         await loadPerson(pid);
       }}, "Rename"),
       others, el("button", {id: "merge", onclick: async () => {
         if (!others.value) return;
         try {
           const r = await api("/api/merge", {keep: pid, other: Number(others.value)});
           say(r.message); await loadPerson(r.person_id);
         } catch (e) { say(e.message); }
       }}, "Merge into this person"),
       el("button", {id: "hide", onclick: async () => {
         try { say((await api(`/api/people/${pid}/hide`, {hidden: !p.hidden})).message); } catch (e) { say(e.message); }
         await loadPeople();
       }}, p.hidden ? "Show" : "Hide")),
    el("p", {class: "muted"}, `${p.faces} faces in ${p.photos} photos. ✕ removes a face that is not ${p.label}.`),
    faces);
}

function show(tab) {
  for (const t of ["review", "people", "photos"]) {
    $("#" + t).hidden = tab !== t;
    $("#tab-" + t).classList.toggle("active", tab === t);
  }
  if (tab === "review") loadQuestion(); else if (tab === "people") loadPeople();
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
      const img = el("img", {src: `/photo/${p.id}.jpg?max=300`, alt: p.path, title: p.path});
      img.addEventListener("click", () => showPhoto(p.id));
      grid.append(el("div", {class: "card photo", "data-photo": p.id}, img,
                     el("div", {class: "n"}, (p.taken || "").slice(0, 10))));
    }
  } catch (e) { $("#found").textContent = e.message; }
});

async function loadStatus() {
  try {
    const st = await api("/api/status");
    const last = st.library.last_scan, sch = st.schedule;
    let text = last ? `Last scan ${last.finished || last.started} (${last.status})` : "No scan yet";
    if (sch) {
      text += sch.running ? " · scanning now…" : (sch.next_run ? ` · next ${sch.next_run.replace("T", " ")}` : "");
      $("#scan-now").hidden = false;
    }
    $("#scan-status").textContent = text;
  } catch (e) { /* the status line is a nicety */ }
}
$("#scan-now").addEventListener("click", async () => {
  try { say((await api("/api/scan", {})).message); } catch (e) { say(e.message); }
  setTimeout(loadStatus, 500);
});
loadStatus();
setInterval(loadStatus, 15000);
$("#tab-review").addEventListener("click", () => show("review"));
$("#tab-people").addEventListener("click", () => show("people"));
$("#tab-photos").addEventListener("click", () => show("photos"));
$("#undo").addEventListener("click", undo);
document.addEventListener("keydown", ev => {
  if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
  if ($("#review").hidden && ev.key !== "u" && ev.key !== "Escape") return;
  if (ev.key === "Escape") { $("#overlay").style.display = "none"; return; }
  if (ev.key === "u") { undo(); return; }
  if ($("#review").hidden || !current) return;
  if (ev.key === "y" && current.kind !== "who") answer("yes");
  else if (ev.key === "n" && current.kind !== "who") answer("no");
  else if (ev.key === "s") answer("skip");
});
show("review");
