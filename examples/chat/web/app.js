// The chat web client: plain ES module, no build step. It talks to the same API as any client
// (bearer token from /auth/token) and follows /events with a single-use ticket, reconnecting
// with ?last_event_id= so nothing is missed or shown twice.

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("chat.token"),
  me: null,
  workspace: null,
  conversation: null,
  seenMessages: new Set(),
  lastEventId: null,
  source: null,
  names: new Map(),
};

// ------------------------------------------------------------------ the API

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, { json, form, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (state.token) init.headers.Authorization = `Bearer ${state.token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  }
  const response = await fetch(path, init);
  if (response.status === 401 && state.me) signOut("Your session ended: log in again.");
  const body = response.status === 204 ? null : await response.json().catch(() => ({}));
  if (!response.ok) throw new Problem(response.status, body || {});
  return { body, etag: response.headers.get("ETag") };
}

function explain(error) {
  const problem = $("problem");
  if (error instanceof Problem) {
    const fields = (error.body.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    const hint = error.status === 412 ? " Someone changed it meanwhile: reloaded, try again." : "";
    problem.textContent = `${error.status} ${error.message}${fields ? ` (${fields})` : ""}.${hint}`;
  } else {
    problem.textContent = `The server cannot be reached (${error.message}).`;
  }
  problem.hidden = false;
}

function attempt(action) {
  return async (event) => {
    event?.preventDefault?.();
    $("problem").hidden = true;
    try {
      await action(event);
    } catch (error) {
      explain(error);
    }
  };
}

// ------------------------------------------------------------------ signing in

async function signIn(username, password) {
  const { body } = await api("POST", "/auth/token", { form: { username, password } });
  state.token = body.access_token;
  sessionStorage.setItem("chat.token", state.token);
  await start();
}

function signOut(message) {
  state.source?.close();
  Object.assign(state, { token: null, me: null, workspace: null, conversation: null });
  sessionStorage.removeItem("chat.token");
  $("signin").hidden = false;
  $("workspace-pane").hidden = $("conversation-pane").hidden = $("logout").hidden = true;
  $("who").textContent = "";
  $("connection").textContent = "";
  if (message) explain(new Error(message));
}

async function start() {
  state.me = (await api("GET", "/users/me")).body;
  $("who").textContent = `Signed in as ${state.me.display_name} (${state.me.username})`;
  $("signin").hidden = true;
  $("workspace-pane").hidden = $("logout").hidden = false;
  await loadWorkspaces();
  follow();
}

// ------------------------------------------------------------------ lists

function pickList(list, items, label, current, onPick) {
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "pick";
      button.textContent = label(item);
      button.setAttribute("aria-current", String(item.id === current));
      button.addEventListener("click", attempt(() => onPick(item)));
      li.append(button);
      return li;
    }),
  );
}

async function loadWorkspaces() {
  const { body } = await api("GET", "/workspaces?limit=100");
  pickList($("workspaces"), body.items, (w) => w.name, state.workspace?.id, openWorkspace);
  if (!state.workspace && body.items.length) await openWorkspace(body.items[0]);
}

async function openWorkspace(workspace) {
  state.workspace = workspace;
  $("conversation-form").hidden = false;
  const { body } = await api("GET", `/workspaces/${workspace.id}/members?limit=100`);
  body.items.forEach((m) => state.names.set(m.user_id, m.display_name));
  await loadWorkspaces();
  await loadConversations();
}

async function loadConversations() {
  const path = `/workspaces/${state.workspace.id}/conversations?limit=100`;
  const { body } = await api("GET", path);
  pickList($("conversations"), body.items, (c) => `${c.title} (${c.modality})`,
    state.conversation?.id, openConversation);
}

// ------------------------------------------------------------------ a conversation

function showConversation(conversation) {
  state.conversation = conversation;
  $("conversation-title").textContent = conversation.title;
  $("rename-title").value = conversation.title;
}

async function reloadConversation() {
  showConversation((await api("GET", `/conversations/${state.conversation.id}`)).body);
  await loadConversations();
}

async function openConversation(conversation) {
  showConversation(conversation);
  state.seenMessages = new Set();
  $("conversation-pane").hidden = false;
  $("messages").replaceChildren();
  await loadConversations();
  await loadParticipation();
  let cursor = null;
  do {
    const query = `limit=100${cursor ? `&cursor=${cursor}` : ""}`;
    const { body } = await api("GET", `/conversations/${conversation.id}/messages?${query}`);
    body.items.forEach(showMessage);
    cursor = body.next_cursor;
  } while (cursor);
  $("recording").hidden = conversation.modality !== "voice";
  $("conversation-title").focus();
}

async function loadParticipation() {
  const path = `/conversations/${state.conversation.id}/participants?limit=100`;
  const { body } = await api("GET", path);
  const mine = body.items.find((p) => p.user_id === state.me.id);
  const invited = mine?.status === "invited";
  $("invitation").hidden = !invited;
  const active = mine?.status === "active";
  $("message-form").hidden = $("invite-form").hidden = $("rename").hidden = !active;
  if (invited) {
    $("invitation-text").textContent = mine.initial_message
      ? `You are invited: “${mine.initial_message}”` : "You are invited to this conversation.";
  }
}

function showMessage(message) {
  if (state.seenMessages.has(message.id)) return; // shown once, however it arrived
  state.seenMessages.add(message.id);
  const li = document.createElement("li");
  li.dataset.id = message.id;
  const sender = document.createElement("span");
  sender.className = "sender";
  const mine = message.sender_id === state.me.id;
  sender.textContent = mine ? "me" : state.names.get(message.sender_id) ?? "someone";
  const text = document.createElement("span");
  text.className = "content";
  text.textContent = message.content;
  li.append(sender, text);
  if (message.sender_id === state.me.id) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete my message “${message.content.slice(0, 30)}”`);
    remove.addEventListener("click", attempt(async () => {
      const version = message.version ?? 1;
      await api("DELETE", `/messages/${message.id}`, { headers: { "If-Match": `"${version}"` } });
      li.remove();
    }));
    li.append(" ", remove);
  }
  $("messages").append(li);
  li.scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ live events

async function follow() {
  state.source?.close();
  if (!state.token) return;
  try {
    const { body } = await api("POST", "/events/ticket");
    const after = state.lastEventId !== null ? `&last_event_id=${state.lastEventId}` : "";
    const source = new EventSource(`/events?ticket=${encodeURIComponent(body.ticket)}${after}`);
    state.source = source;
    source.onopen = () => { $("connection").textContent = "Live."; };
    source.onerror = () => {
      // The browser would retry the same URL, whose ticket is spent: get a new one instead.
      source.close();
      $("connection").textContent = "Connection lost; reconnecting…";
      setTimeout(follow, 1000);
    };
    for (const type of ["message.posted", "message.deleted", "participant.invited",
      "participant.accepted", "participant.rejected", "participant.left", "conversation.created",
      "conversation.updated", "workspace.created", "member.added", "recording.started",
      "recording.ended"]) {
      source.addEventListener(type, (event) => onEvent(type, event));
    }
    source.addEventListener("resume", () => { source.close(); follow(); });
    source.addEventListener("unauthorized", () => { source.close(); signOut("Your session ended."); });
  } catch (error) {
    $("connection").textContent = "Offline; retrying…";
    setTimeout(follow, 2000);
  }
}

function onEvent(type, event) {
  state.lastEventId = Number(event.lastEventId);
  const data = JSON.parse(event.data);
  const payload = data.payload;
  const here = state.conversation && payload.conversation_id === state.conversation.id;
  if (type === "message.posted" && here) {
    showMessage({ id: payload.message_id, sender_id: payload.sender_id, content: payload.content });
  } else if (type === "message.deleted" && here) {
    document.querySelector(`#messages li[data-id="${payload.message_id}"]`)?.remove();
  } else if (type.startsWith("participant.") && here) {
    attempt(loadParticipation)();
  } else if (type === "conversation.created" || type === "participant.invited") {
    if (state.workspace && payload.workspace_id === state.workspace.id) attempt(loadConversations)();
  } else if (type === "workspace.created" || type === "member.added") {
    attempt(loadWorkspaces)();
  } else if (type === "conversation.updated" && here) {
    attempt(reloadConversation)();
  } else if (type.startsWith("recording.") && here) {
    $("recording-state").textContent = type === "recording.started" ? "Recording…" : "Recording ended.";
  }
}

// ------------------------------------------------------------------ forms

function formValues(event) {
  const values = Object.fromEntries(new FormData(event.target));
  event.target.reset();
  return values;
}

$("login-form").addEventListener("submit", attempt(async (event) => {
  const { username, password } = formValues(event);
  await signIn(username, password);
}));

$("register-form").addEventListener("submit", attempt(async (event) => {
  const values = formValues(event);
  await api("POST", "/auth/register", { json: values });
  await signIn(values.username, values.password);
}));

$("logout").addEventListener("click", attempt(async () => {
  await api("POST", "/auth/logout");
  signOut();
}));

$("workspace-form").addEventListener("submit", attempt(async (event) => {
  const { body } = await api("POST", "/workspaces", { json: formValues(event) });
  await openWorkspace(body);
}));

$("conversation-form").addEventListener("submit", attempt(async (event) => {
  const path = `/workspaces/${state.workspace.id}/conversations`;
  const { body } = await api("POST", path, { json: formValues(event) });
  await openConversation(body);
}));

$("message-form").addEventListener("submit", attempt(async (event) => {
  const path = `/conversations/${state.conversation.id}/messages`;
  const { body } = await api("POST", path, { json: formValues(event) });
  showMessage(body);
}));

$("message-form").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    event.currentTarget.requestSubmit();
  }
});

$("rename-form").addEventListener("submit", attempt(async (event) => {
  const title = new FormData(event.target).get("title");
  const ifMatch = { "If-Match": `"${state.conversation.version}"` };
  try {
    const path = `/conversations/${state.conversation.id}`;
    showConversation((await api("PATCH", path, { json: { title }, headers: ifMatch })).body);
    await loadConversations();
  } catch (error) {
    if (error.status === 412) await reloadConversation(); // show what the other edit made
    throw error;
  }
}));

$("invite-form").addEventListener("submit", attempt(async (event) => {
  const path = `/conversations/${state.conversation.id}/participants`;
  await api("POST", path, { json: formValues(event) });
}));

$("accept").addEventListener("click", attempt(async () => {
  await api("POST", `/conversations/${state.conversation.id}/participants/me/accept`);
  await loadParticipation();
}));

$("reject").addEventListener("click", attempt(async () => {
  await api("POST", `/conversations/${state.conversation.id}/participants/me/reject`);
  state.conversation = null; // no longer one of the user's conversations
  $("conversation-pane").hidden = true;
  await loadConversations();
}));

let recording = null;
$("record-start").addEventListener("click", attempt(async () => {
  const path = `/conversations/${state.conversation.id}/recordings`;
  recording = (await api("POST", path, { json: {} })).body;
  $("record-start").hidden = true;
  $("record-end").hidden = false;
}));
$("record-end").addEventListener("click", attempt(async () => {
  await api("POST", `/recordings/${recording.id}/end`, { json: { status: "completed" } });
  $("record-start").hidden = false;
  $("record-end").hidden = true;
}));

if (state.token) attempt(start)();
