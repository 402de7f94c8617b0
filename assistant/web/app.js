// Browser voice chat for the offline LSTM assistant (wire protocol v1, DESIGN.md section 5).
//
// One websocket at /v1/ws carries JSON events both ways and, from here to the
// server, binary frames of PCM16 mono 16 kHz audio made by capture-worklet.js.
// No external network: this file, the worklet and the stylesheet are the whole client.
"use strict";

(() => {
  const PROTOCOL = 1;
  const FRAME_MS = 40; // audio sent in 40 ms frames (1280 bytes)
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 10000;
  const STORE_KEY = "assistant.conversations.v1"; // this browser's conversations (fallback list)
  const MAX_STORED = 30; // conversations kept in localStorage
  const MAX_STORED_MESSAGES = 60; // messages kept per conversation

  const $ = (id) => document.getElementById(id);
  const ui = {
    messages: $("messages"),
    hint: $("hint"),
    partial: $("partial"),
    partialStable: $("partial-stable"),
    partialTentative: $("partial-tentative"),
    connection: $("connection"),
    banner: $("banner"),
    bannerText: $("banner-text"),
    bannerClose: $("banner-close"),
    mic: $("mic"),
    micState: $("mic-state"),
    level: $("level-bar"),
    stop: $("stop"),
    form: $("text-form"),
    input: $("text-input"),
    send: $("send"),
    speak: $("speak-toggle"),
    hotwords: $("hotwords"),
    phrases: $("phrases"),
    modelInfo: $("model-info"),
    list: $("conversation-list"),
    newConversation: $("new-conversation"),
    title: $("conversation-title"),
    conversationId: $("conversation-id"),
    metrics: $("metrics"),
  };

  const params = new URLSearchParams(location.search);
  const state = {
    ws: null,
    ready: false, // session.started received on the current socket
    wantOpen: true,
    reconnectAttempt: 0,
    reconnectTimer: null,
    token: params.get("token") || sessionStorage.getItem("assistant.token") || "",
    conversationId: params.get("conversation") || null,
    sessionId: null,
    mode: "hands-free", // or "push-to-talk"
    replies: new Map(), // reply_id -> {el, textEl, text, spoken}
    activeReplyId: null,
    audio: null, // {context, stream, node, source}
    listening: false, // hands-free: microphone streaming
    talking: false, // push-to-talk: button held
    serverList: null, // null until we know whether GET /v1/conversations exists
    pendingConversationTitle: null,
    inUtterance: false, // server VAD heard speech start and no final yet
    framesThisPress: 0, // push-to-talk: audio frames sent since the button went down
  };
  if (state.token) sessionStorage.setItem("assistant.token", state.token);

  // ------------------------------------------------------------------ helpers
  function wsUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const base = `${scheme}//${location.host}/v1/ws`;
    return state.token ? `${base}?token=${encodeURIComponent(state.token)}` : base;
  }

  function send(event) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(event));
    return true;
  }

  function showBanner(text, kind = "error") {
    ui.bannerText.textContent = text;
    ui.banner.dataset.kind = kind;
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
  }

  function setConnection(stateName, text) {
    ui.connection.dataset.state = stateName;
    ui.connection.textContent = text;
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function commaList(input) {
    return input.value
      .split(",")
      .map((w) => w.trim())
      .filter(Boolean);
  }

  const hotwords = () => commaList(ui.hotwords);
  const phrases = () => commaList(ui.phrases); // command mode when not empty

  function formatMs(value) {
    if (value === undefined || value === null || Number.isNaN(Number(value))) return "–";
    const ms = Number(value);
    return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
  }

  // ------------------------------------------------------------ message list
  function addMessage(role, text, extra = {}) {
    if (ui.hint) ui.hint.remove();
    const msg = messageNode(role, text, extra);
    ui.messages.append(msg.el);
    scrollToEnd();
    return msg;
  }

  function messageNode(role, text, extra = {}) {
    const li = document.createElement("li");
    li.className = `message ${role}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant";
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    li.append(who, body);
    if (extra.via) {
      const via = document.createElement("span");
      via.className = "via";
      via.textContent = extra.via;
      who.append(" ", via);
    }
    if (extra.title) li.title = extra.title;
    return { el: li, textEl: body };
  }

  function markReply(reply, reason) {
    const badge = document.createElement("span");
    badge.className = `badge ${reason}`;
    badge.textContent = reason === "interrupted" ? "interrupted" : reason === "cancelled" ? "stopped" : reason;
    reply.el.querySelector(".who").append(" ", badge);
    reply.el.dataset.finish = reason;
  }

  function clearMessages() {
    ui.messages.replaceChildren();
    state.replies.clear();
    state.activeReplyId = null;
    ui.stop.disabled = true;
  }

  function showPartial(text, stableChars) {
    const stable = Math.max(0, Math.min(text.length, Number(stableChars) || 0));
    ui.partialStable.textContent = text.slice(0, stable);
    ui.partialTentative.textContent = text.slice(stable);
    ui.partial.hidden = false;
    ui.partial.classList.toggle("empty", text.length === 0);
  }

  function hidePartial() {
    ui.partial.hidden = true;
    ui.partialStable.textContent = "";
    ui.partialTentative.textContent = "";
  }

  // --------------------------------------------------- conversations (sidebar)
  function storedConversations() {
    try {
      const list = JSON.parse(localStorage.getItem(STORE_KEY) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (_) {
      return [];
    }
  }

  function saveStored(list) {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(list.slice(0, MAX_STORED)));
    } catch (_) {
      /* storage full or disabled: the list is a convenience */
    }
  }

  function rememberConversation(id, patch = {}) {
    if (!id) return;
    const list = storedConversations();
    let item = list.find((c) => c.id === id);
    if (!item) {
      item = { id, title: "", updated: Date.now(), messages: [] };
      list.unshift(item);
    }
    Object.assign(item, patch, { updated: Date.now() });
    list.sort((a, b) => b.updated - a.updated);
    saveStored(list);
  }

  function rememberMessage(role, text) {
    if (!state.conversationId || !text) return;
    const list = storedConversations();
    const item = list.find((c) => c.id === state.conversationId);
    if (!item) return;
    item.messages = (item.messages || []).concat([{ role, text }]).slice(-MAX_STORED_MESSAGES);
    if (!item.title && role === "user") item.title = text.slice(0, 60);
    item.updated = Date.now();
    list.sort((a, b) => b.updated - a.updated);
    saveStored(list);
    renderConversationList();
    updateHeader();
  }

  async function fetchJson(path) {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    const response = await fetch(path, { headers, cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  // The server's memory when it offers GET /v1/conversations; else this browser's own list.
  async function loadServerConversations() {
    try {
      const data = await fetchJson("/v1/conversations");
      const items = Array.isArray(data) ? data : data.conversations;
      if (!Array.isArray(items)) throw new Error("unexpected list");
      state.serverList = items.map((c) => ({
        id: c.id || c.conversation_id,
        title: c.title || c.last_text || "",
        updated: Date.parse(c.updated_at || c.updated || c.created_at || "") || 0,
        turns: c.turn_count ?? c.turns,
      }))
        // Every session opens a conversation; list only those with something said.
        .filter((c) => c.id && (c.turns === undefined || c.turns > 0));
    } catch (_) {
      state.serverList = false;
    }
    renderConversationList();
    updateHeader();
  }

  let refreshTimer = null;
  function refreshConversationsSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(loadServerConversations, 300);
  }

  function renderConversationList() {
    const local = storedConversations();
    const items = state.serverList ? state.serverList.slice() : local.slice();
    if (state.serverList) {
      // Titles the server lacks can come from this browser.
      for (const item of items) {
        const mine = local.find((c) => c.id === item.id);
        if (!item.title && mine && mine.title) item.title = mine.title;
      }
      if (state.conversationId && !items.some((c) => c.id === state.conversationId)) {
        const mine = local.find((c) => c.id === state.conversationId);
        items.unshift(mine || { id: state.conversationId, title: "" });
      }
    }
    ui.list.replaceChildren();
    if (items.length === 0) {
      const li = document.createElement("li");
      li.className = "muted empty";
      li.textContent = "No conversations yet";
      ui.list.append(li);
      return;
    }
    for (const item of items) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "conversation";
      button.dataset.id = item.id;
      if (item.id === state.conversationId) button.setAttribute("aria-current", "true");
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = item.title || (item.id === state.conversationId ? "New conversation" : "Untitled conversation");
      const meta = document.createElement("span");
      meta.className = "meta";
      const when = item.updated ? new Date(item.updated).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
      meta.textContent = [when, item.turns ? `${item.turns} turns` : ""].filter(Boolean).join(" · ");
      button.append(title, meta);
      button.addEventListener("click", () => switchConversation(item.id));
      li.append(button);
      ui.list.append(li);
    }
  }

  // The earlier turns of a conversation, from the server's memory (else this browser's copy),
  // put above whatever the page already shows.
  async function showStoredMessages(id) {
    let turns = null;
    try {
      const data = await fetchJson(`/v1/conversations/${encodeURIComponent(id)}`);
      turns = (data.turns || []).map((t) => ({ role: t.role === "assistant" ? "assistant" : "user", text: t.text || "" }));
    } catch (_) {
      const mine = storedConversations().find((c) => c.id === id);
      turns = mine ? mine.messages || [] : [];
    }
    if (id !== state.conversationId) return; // the user moved on meanwhile
    const nodes = turns.map((turn) => {
      const msg = messageNode(turn.role, turn.text, { via: "· earlier" });
      msg.el.classList.add("earlier");
      return msg.el;
    });
    if (nodes.length) {
      if (ui.hint) ui.hint.remove();
      ui.messages.prepend(...nodes);
      scrollToEnd();
    }
  }

  function updateHeader() {
    const id = state.conversationId;
    const item = storedConversations().find((c) => c.id === id && c.title) ||
      (state.serverList || []).find((c) => c.id === id && c.title);
    ui.title.textContent = (item && item.title) || "New conversation";
    ui.conversationId.textContent = state.conversationId ? `id ${state.conversationId}` : "";
    const url = new URL(location.href);
    if (state.conversationId) url.searchParams.set("conversation", state.conversationId);
    else url.searchParams.delete("conversation");
    history.replaceState(null, "", url);
  }

  async function switchConversation(id) {
    if (id === state.conversationId && state.ready) return;
    stopSpeaking();
    state.conversationId = id;
    clearMessages();
    if (id) await showStoredMessages(id);
    updateHeader();
    renderConversationList();
    restartSession();
  }

  // ------------------------------------------------------------- connection
  function sessionStart() {
    const start = {
      type: "session.start",
      protocol: PROTOCOL,
      language: "en",
      audio: { sample_rate: 16000, encoding: "pcm16" },
      asr: { partials: true, hotwords: hotwords(), phrases: phrases() },
      vad: { mode: state.mode === "hands-free" ? "server" : "client" },
    };
    if (state.conversationId) start.conversation_id = state.conversationId;
    send(start);
  }

  function restartSession() {
    // A new session on a fresh socket: simplest way to change conversation.
    state.ready = false;
    if (state.ws) {
      const old = state.ws;
      state.ws = null;
      old.onclose = null;
      old.close(1000, "switching conversation");
    }
    clearTimeout(state.reconnectTimer);
    connect();
  }

  function connect() {
    state.wantOpen = true;
    setConnection("connecting", state.reconnectAttempt ? "Reconnecting…" : "Connecting…");
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (err) {
      showBanner(`Cannot open the connection: ${err.message}`);
      scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      sessionStart();
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== "string") return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      handleEvent(event);
    };
    ws.onclose = (close) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.ready = false;
      endReplyOnDisconnect();
      hidePartial();
      state.inUtterance = false;
      if (!state.wantOpen) {
        setConnection("offline", "Disconnected");
        return;
      }
      if (!opened) {
        // The handshake failed: a refused token or origin looks the same as a dead server to
        // WebSocket, so ask over HTTP which one it is.
        probeRefusal().then((refusal) => {
          if (refusal) {
            setConnection("offline", "Refused");
            showBanner(refusal);
          } else {
            scheduleReconnect();
          }
        });
        return;
      }
      scheduleReconnect();
    };
  }

  // A message when the server is up but refuses us, null when it looks down.
  async function probeRefusal() {
    try {
      const health = await fetch("/healthz", { cache: "no-store" });
      if (!health.ok) return null;
      const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
      const probe = await fetch("/v1/conversations", { headers, cache: "no-store" });
      if (probe.status === 401) {
        return state.token
          ? "The server refused the access token. Open this page with the right ?token=… in its address."
          : "This server needs an access token: open this page as …/?token=YOUR_TOKEN.";
      }
      return null;
    } catch (_) {
      return null;
    }
  }

  function scheduleReconnect() {
    const attempt = state.reconnectAttempt++;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt) * (0.8 + Math.random() * 0.4);
    const seconds = Math.max(1, Math.round(delay / 1000));
    setConnection("offline", "Offline");
    showBanner(`Connection to the server lost. Reconnecting in ${seconds} s…`, "warning");
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function endReplyOnDisconnect() {
    const reply = state.replies.get(state.activeReplyId);
    if (reply && !reply.el.dataset.finish) markReply(reply, "disconnected");
    state.activeReplyId = null;
    ui.stop.disabled = true;
  }

  // Fast replies send many deltas a frame: draw (and scroll) once per animation frame.
  function renderSoon(reply) {
    if (reply.drawPending) return;
    reply.drawPending = true;
    requestAnimationFrame(() => {
      reply.drawPending = false;
      reply.textEl.textContent = reply.text;
      scrollToEnd();
    });
  }

  // ----------------------------------------------------------------- events
  const handlers = {
    "server.info"(event) {
      const models = event.models || {};
      const names = Object.entries(models)
        .filter(([, m]) => m && m.name)
        .map(([kind, m]) => `${kind} ${String(m.name).split(/[\\/]/).pop()}`); // a checkpoint's file name
      ui.modelInfo.textContent = names.length ? names.join(" · ") : "offline · LSTM";
      ui.modelInfo.title = JSON.stringify(event.models || {}, null, 1);
    },
    "session.started"(event) {
      state.ready = true;
      state.sessionId = event.session_id;
      const wasReconnect = state.reconnectAttempt > 0;
      state.reconnectAttempt = 0;
      setConnection("online", "Connected");
      if (wasReconnect || ui.banner.dataset.kind === "warning") hideBanner();
      if (event.conversation_id) {
        const isNew = event.conversation_id !== state.conversationId;
        state.conversationId = event.conversation_id;
        rememberConversation(state.conversationId, isNew && state.pendingConversationTitle ? { title: state.pendingConversationTitle } : {});
      }
      updateHeader();
      renderConversationList();
    },
    "vad.speech_started"() {
      state.inUtterance = true;
      // The user talks: stop reading the previous reply aloud (barge-in on our side too).
      stopSpeaking();
      ui.mic.classList.add("hearing");
      if (ui.partial.hidden) showPartial("", 0);
    },
    "vad.speech_stopped"() {
      ui.mic.classList.remove("hearing");
    },
    "transcript.partial"(event) {
      showPartial(event.text || "", event.stable_chars);
    },
    "transcript.final"(event) {
      state.inUtterance = false;
      hidePartial();
      ui.mic.classList.remove("hearing");
      const text = (event.text || "").trim();
      const alternatives = (event.alternatives || []).map((a) => (typeof a === "string" ? a : a.text)).filter(Boolean);
      if (!text && phrases().length) {
        // command mode: what was said is none of the phrases; no reply follows
        const closest = alternatives.length ? ` (closest: ${alternatives.join(", ")})` : "";
        showBanner(`Not one of the command phrases${closest}.`, "warning");
        return;
      }
      if (!text) return;
      const confidence = typeof event.confidence === "number" ? `confidence ${(event.confidence * 100).toFixed(0)}%` : "";
      const title = [confidence, alternatives.length ? `alternatives: ${alternatives.join(" | ")}` : ""].filter(Boolean).join("\n");
      const msg = addMessage("user", text, { via: "· spoken", title });
      msg.el.dataset.utteranceId = event.utterance_id ?? "";
      rememberMessage("user", text);
    },
    "reply.started"(event) {
      stopSpeaking();
      const msg = addMessage("assistant", "");
      msg.el.classList.add("streaming");
      const reply = { ...msg, text: "", spoken: 0 };
      state.replies.set(event.reply_id, reply);
      state.activeReplyId = event.reply_id;
      ui.stop.disabled = false;
    },
    "reply.action"(event) {
      // The reply carried out an action (a timer, the clock, a list): tag the message with it.
      const reply = state.replies.get(event.reply_id);
      if (!reply) return;
      const badge = document.createElement("span");
      badge.className = "badge action";
      badge.textContent = event.action || "action";
      badge.title = JSON.stringify(event.args || {});
      reply.el.querySelector(".who").append(" ", badge);
      reply.el.dataset.action = event.action || "";
    },
    "timer.fired"(event) {
      // A timer or alarm of this conversation came due: show it and say it.
      const text = event.text || (event.kind === "alarm" ? "Your alarm is ringing." : "Your timer is done.");
      const msg = addMessage("assistant", text, { via: event.late ? "· ⏰ missed while away" : "· ⏰" });
      msg.el.classList.add("timer");
      msg.el.dataset.timerId = String(event.timer_id ?? "");
      if (event.late) msg.el.dataset.late = "true";
      rememberMessage("assistant", text);
      if (synth && ui.speak.checked) {
        const utterance = new SpeechSynthesisUtterance(text);
        utterance.lang = "en-US";
        synth.speak(utterance);
      }
    },
    "reply.delta"(event) {
      const reply = state.replies.get(event.reply_id);
      if (!reply) return;
      reply.text += event.text || "";
      renderSoon(reply);
      speakCompleteSentences(reply, false);
    },
    "reply.done"(event) {
      const reply = state.replies.get(event.reply_id);
      if (!reply) return;
      if (typeof event.text === "string") {
        reply.text = event.text;
        reply.textEl.textContent = event.text;
      }
      reply.el.classList.remove("streaming");
      const reason = event.finish_reason || "eos";
      if (reason === "interrupted" || reason === "cancelled") {
        markReply(reply, reason);
        stopSpeaking();
      } else {
        if (reason === "length") reply.el.dataset.finish = "length";
        speakCompleteSentences(reply, true);
      }
      if (reply.text) rememberMessage("assistant", reply.text);
      if (state.serverList) refreshConversationsSoon();
      if (state.activeReplyId === event.reply_id) {
        state.activeReplyId = null;
        ui.stop.disabled = true;
      }
    },
    metrics(event) {
      const data = event.metrics && typeof event.metrics === "object" ? { ...event, ...event.metrics } : event;
      const pick = (...names) => names.map((n) => data[n]).find((v) => v !== undefined && v !== null);
      // Typed turns have no speech latencies (null): the last spoken turn's values stay shown.
      const set = (key, text) => {
        const dd = ui.metrics.querySelector(`[data-metric="${key}"]`);
        if (dd && text !== undefined && text !== "–") dd.textContent = text;
      };
      set("first_partial", formatMs(pick("first_partial_ms", "first_partial")));
      set("endpoint_to_final", formatMs(pick("endpoint_to_final_ms", "endpoint_to_final")));
      set("final_to_first_token", formatMs(pick("final_to_first_token_ms", "final_to_first_token", "first_token_ms")));
      const audio = pick("audio_seconds", "audio_s");
      const compute = pick("compute_seconds", "compute_s");
      const rtf = pick("rtf", "real_time_factor") ?? (audio ? compute / audio : undefined);
      if (rtf !== undefined && !Number.isNaN(Number(rtf))) set("rtf", Number(rtf).toFixed(3));
    },
    error(event) {
      if (event.code === "unknown_conversation" && state.conversationId) {
        // The stored conversation is gone (another database?): start a fresh one.
        showBanner("That conversation is not stored on this server; starting a new one.", "warning");
        state.conversationId = null;
        clearMessages();
        updateHeader();
        sessionStart();
        return;
      }
      const code = event.code ? ` (${event.code})` : "";
      showBanner(`Server error${code}: ${event.message || "unknown error"}`);
      if (event.fatal) setConnection("offline", "Session ended");
    },
    "session.updated"() {},
    "session.ended"() {
      state.ready = false;
    },
    pong() {},
  };

  const counts = { audioFrames: 0 }; // events seen by type, and audio frames sent (tests, debugging)

  function handleEvent(event) {
    counts[event.type] = (counts[event.type] || 0) + 1;
    const handler = handlers[event.type];
    if (handler) handler(event);
  }

  // ------------------------------------------------------------ speech out
  const synth = "speechSynthesis" in window ? window.speechSynthesis : null;
  if (!synth) {
    ui.speak.checked = false;
    ui.speak.disabled = true;
    ui.speak.parentElement.title = "This browser has no speech synthesis";
  }

  function speakCompleteSentences(reply, final) {
    if (!synth || !ui.speak.checked) return;
    const rest = reply.text.slice(reply.spoken);
    let cut = final ? rest.length : 0;
    if (!final) {
      const re = /[.!?…]+["')\]]?\s+/g;
      let m;
      while ((m = re.exec(rest)) !== null) cut = m.index + m[0].length;
    }
    const chunk = rest.slice(0, cut).trim();
    reply.spoken += cut;
    if (!chunk) return;
    const utterance = new SpeechSynthesisUtterance(chunk);
    utterance.lang = "en-US";
    synth.speak(utterance);
  }

  function stopSpeaking() {
    if (synth && (synth.speaking || synth.pending)) synth.cancel();
  }

  ui.speak.addEventListener("change", () => {
    if (!ui.speak.checked) stopSpeaking();
  });

  // ------------------------------------------------------------- microphone
  function micErrorMessage(err) {
    if (!window.isSecureContext) {
      return "The microphone needs a secure page: open it as http://localhost:PORT or over https.";
    }
    switch (err && err.name) {
      case "NotAllowedError":
      case "SecurityError":
        return "Microphone access was refused. Allow it in the browser's site settings, or type below.";
      case "NotFoundError":
      case "OverconstrainedError":
        return "No microphone was found. Connect one, or type below.";
      case "NotReadableError":
        return "The microphone is busy in another application.";
      default:
        return `The microphone could not start: ${(err && err.message) || err}`;
    }
  }

  async function openMicrophone() {
    if (state.audio) return state.audio;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw Object.assign(new Error("no getUserMedia"), { name: "SecurityError" });
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    const context = new AudioContext({ latencyHint: "interactive" });
    await context.audioWorklet.addModule("capture-worklet.js");
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "pcm16-capture", { processorOptions: { frameMs: FRAME_MS } });
    const mute = context.createGain();
    mute.gain.value = 0; // keep the graph pulled without playing the microphone back
    source.connect(node).connect(mute).connect(context.destination);
    node.port.onmessage = (message) => onFrame(message.data);
    for (const track of stream.getAudioTracks()) {
      track.addEventListener("ended", () => {
        closeMicrophone();
        showBanner("The microphone was disconnected.");
      });
    }
    state.audio = { context, stream, node, source };
    return state.audio;
  }

  function closeMicrophone() {
    const audio = state.audio;
    state.audio = null;
    state.listening = false;
    state.talking = false;
    if (!audio) return;
    audio.node.port.postMessage({ type: "stop" });
    for (const track of audio.stream.getTracks()) track.stop();
    audio.context.close();
    updateMicUi();
  }

  function onFrame(data) {
    if (!data || data.type !== "frame") return;
    const active = state.mode === "hands-free" ? state.listening : state.talking;
    ui.level.style.transform = `scaleX(${active ? Math.min(1, data.rms * 6) : 0})`;
    if (!active || !state.ready) return;
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(data.pcm);
      counts.audioFrames++;
      state.framesThisPress++;
    }
  }

  function updateMicUi() {
    const active = state.mode === "hands-free" ? state.listening : state.talking;
    ui.mic.classList.toggle("active", active);
    ui.mic.setAttribute("aria-pressed", String(active));
    if (state.mode === "hands-free") {
      ui.mic.setAttribute("aria-label", active ? "Stop listening" : "Start listening");
      ui.micState.textContent = active ? "Listening — just talk" : "Microphone off";
    } else {
      ui.mic.setAttribute("aria-label", "Hold to talk");
      ui.micState.textContent = active ? "Talking… release to send" : "Hold the button (or Space) to talk";
    }
    if (!active) {
      ui.level.style.transform = "scaleX(0)";
      ui.mic.classList.remove("hearing");
    }
  }

  async function startListening() {
    try {
      await openMicrophone();
      if (state.audio.context.state === "suspended") await state.audio.context.resume();
      return true;
    } catch (err) {
      showBanner(micErrorMessage(err));
      ui.micState.textContent = "Microphone unavailable";
      return false;
    }
  }

  async function toggleHandsFree() {
    if (state.listening) {
      state.listening = false;
      updateMicUi();
      closeMicrophone();
      // Speech in progress when the microphone goes off: it ends here (final transcript, reply).
      if (state.inUtterance) send({ type: "audio.end" });
      state.inUtterance = false;
      return;
    }
    if (await startListening()) {
      state.listening = true;
      updateMicUi();
    }
  }

  async function pushStart() {
    if (state.talking) return;
    state.talking = true; // set first so a quick release is not lost
    state.framesThisPress = 0;
    updateMicUi();
    stopSpeaking();
    if (!(await startListening())) {
      state.talking = false;
      updateMicUi();
    }
  }

  function pushEnd() {
    if (!state.talking) return;
    state.talking = false;
    updateMicUi();
    if (state.framesThisPress > 0) send({ type: "audio.end" }); // a tap too short for any audio says nothing
    else ui.micState.textContent = "Hold the button while you talk";
  }

  ui.mic.addEventListener("click", () => {
    if (state.mode === "hands-free") toggleHandsFree();
  });
  ui.mic.addEventListener("pointerdown", (e) => {
    if (state.mode !== "push-to-talk") return;
    e.preventDefault();
    ui.mic.setPointerCapture(e.pointerId);
    pushStart();
  });
  for (const type of ["pointerup", "pointercancel"]) {
    ui.mic.addEventListener(type, () => {
      if (state.mode === "push-to-talk") pushEnd();
    });
  }
  document.addEventListener("keydown", (e) => {
    if (state.mode !== "push-to-talk" || e.code !== "Space" || e.repeat) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    e.preventDefault();
    pushStart();
  });
  document.addEventListener("keyup", (e) => {
    if (state.mode !== "push-to-talk" || e.code !== "Space") return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    e.preventDefault();
    pushEnd();
  });

  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      if (!radio.checked) return;
      const wasListening = state.listening;
      state.mode = radio.value;
      state.listening = false;
      state.talking = false;
      send({ type: "session.update", vad: { mode: state.mode === "hands-free" ? "server" : "client" } });
      if (wasListening && state.inUtterance) send({ type: "audio.end" });
      state.inUtterance = false;
      updateMicUi();
    });
  }

  ui.hotwords.addEventListener("change", () => {
    send({ type: "session.update", asr: { partials: true, hotwords: hotwords() } });
  });

  ui.phrases.addEventListener("change", () => {
    send({ type: "session.update", asr: { phrases: phrases() } });
  });

  // ------------------------------------------------------------ typed input
  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.input.value.trim();
    if (!text) return;
    if (!state.ready || !send({ type: "text.input", text })) {
      showBanner("Not connected to the server yet; the message was not sent.", "warning");
      return;
    }
    stopSpeaking();
    if (!state.conversationId) state.pendingConversationTitle = text.slice(0, 60);
    addMessage("user", text, { via: "· typed" });
    rememberMessage("user", text);
    ui.input.value = "";
  });

  ui.stop.addEventListener("click", () => {
    if (state.activeReplyId === null) return;
    send({ type: "reply.cancel", reply_id: state.activeReplyId });
    stopSpeaking();
  });

  ui.newConversation.addEventListener("click", () => {
    state.pendingConversationTitle = null;
    switchConversation(null);
  });

  ui.bannerClose.addEventListener("click", hideBanner);

  window.addEventListener("beforeunload", () => {
    state.wantOpen = false;
    send({ type: "session.end" });
  });

  // ------------------------------------------------------------------ start
  updateMicUi();
  updateHeader();
  renderConversationList();
  loadServerConversations();
  if (state.conversationId) showStoredMessages(state.conversationId);
  connect();

  // For tests and debugging from the console.
  window.assistantDemo = { state, counts, send, handleEvent };
})();
