// SPDX-License-Identifier: Apache-2.0
// camnode live view: WHEP client. No audio is ever requested.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const stats = { state: "idle", frames: 0, stamps: 0, width: 0, height: 0, lastCounter: -1, latencies: [], http: 0, error: "" };
  window.camnode = stats;
  let pc = null, location_ = null, poll = null;

  function show(state, cls, detail) {
    stats.state = state;
    $("state").textContent = state;
    $("state").className = cls || "";
    $("detail").textContent = detail || "";
  }

  // Token from the URL fragment (never sent to the server), then cleared.
  const m = /token=([^&]+)/.exec(window.location.hash);
  if (m) {
    $("token").value = decodeURIComponent(m[1]);
    history.replaceState(null, "", window.location.pathname);
  }

  async function waitGathering(pc) {
    if (pc.iceGatheringState === "complete") return;
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
      });
    });
  }

  async function connect() {
    const tok = $("token").value.trim();
    if (!tok) { show("no token", "error", "paste a token first"); return; }
    hangup(false);
    show("connecting", "");
    pc = new RTCPeerConnection({ iceServers: [] });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (e) => {
      $("video").srcObject = new MediaStream([e.track]);
      watchFrames();
    };
    pc.onconnectionstatechange = () => {
      const s = pc ? pc.connectionState : "closed";
      if (s === "connected") { show("live", "live"); stopPoll(); }
      if (s === "failed" || s === "closed" || s === "disconnected") ended(s);
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitGathering(pc);
    let resp;
    try {
      resp = await fetch("/whep", {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + tok },
        body: pc.localDescription.sdp,
      });
    } catch (e) { show("error", "error", String(e)); return; }
    stats.http = resp.status;
    if (resp.status !== 201) {
      const text = (await resp.text()).trim();
      stats.error = text;
      show(resp.status === 503 ? "unavailable" : "refused", resp.status === 503 ? "private" : "error", resp.status + ": " + text);
      pc.close(); pc = null;
      startPoll();
      return;
    }
    location_ = resp.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    $("token").value = ""; // single use
    $("hangup").disabled = false;
  }

  function ended(why) {
    if (!pc) return;
    pc.close(); pc = null; location_ = null;
    $("hangup").disabled = true;
    show("disconnected", "private", "(" + why + ") the node may have gone private; a new token is needed to reconnect");
    startPoll();
  }

  function hangup(user) {
    if (location_) fetch(location_, { method: "DELETE" }).catch(() => {});
    location_ = null;
    if (pc) { pc.close(); pc = null; }
    $("hangup").disabled = true;
    if (user) show("hung up", "");
  }

  function startPoll() {
    if (poll) return;
    const tick = async () => {
      try {
        const st = await (await fetch("/state")).json();
        stats.live = st.live;
        $("detail").textContent = st.live ? "camera is live: paste a new token and connect" : "camera unavailable: " + st.reason;
        if (!st.live) $("state").className = "private";
      } catch (e) { $("detail").textContent = "node unreachable"; }
    };
    tick();
    poll = setInterval(tick, 2000);
  }
  function stopPoll() { if (poll) { clearInterval(poll); poll = null; } }

  // Reads the stamp painted by the node (capture/stamp.go) back from each
  // displayed frame: counter and capture time, hence glass-to-glass latency.
  const canvas = document.createElement("canvas");
  canvas.width = 320; canvas.height = 96;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  function crc8(c, b) {
    c ^= b;
    for (let i = 0; i < 8; i++) c = (c & 0x80) ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    return c;
  }
  function readStamp(v) {
    ctx.drawImage(v, 0, 0, 320, 96, 0, 0, 320, 96);
    const px = ctx.getImageData(0, 0, 320, 96).data;
    const bits = [];
    for (let slot = 0; slot < 120; slot++) {
      const bx = (slot % 20) * 16, by = Math.floor(slot / 20) * 16;
      let sum = 0;
      for (let y = by + 4; y < by + 12; y++) for (let x = bx + 4; x < bx + 12; x++) {
        const i = (y * 320 + x) * 4;
        sum += (px[i] * 299 + px[i + 1] * 587 + px[i + 2] * 114) / 1000;
      }
      bits.push(sum / 64 >= 128 ? 1 : 0);
    }
    const num = (a, b) => { let n = 0n; for (let i = a; i < b; i++) n = (n << 1n) | BigInt(bits[i]); return n; };
    if (num(0, 16) !== 0xE4B1n) return null;
    const counter = num(16, 48), us = num(48, 112), crc = Number(num(112, 120));
    let c = 0;
    for (let i = 3n; i >= 0n; i--) c = crc8(c, Number((counter >> (8n * i)) & 0xffn));
    for (let i = 7n; i >= 0n; i--) c = crc8(c, Number((us >> (8n * i)) & 0xffn));
    if (c !== crc) return null;
    return { counter: Number(counter), ms: Number(us) / 1000 };
  }
  function watchFrames() {
    const v = $("video");
    if (!v.requestVideoFrameCallback) return;
    const cb = (now, meta) => {
      stats.frames++;
      stats.width = meta.width; stats.height = meta.height;
      try {
        const st = readStamp(v);
        if (st) {
          stats.stamps++;
          stats.lastCounter = st.counter;
          const shown = performance.timeOrigin + (meta.expectedDisplayTime || now);
          stats.latencies.push(shown - st.ms);
          if (stats.latencies.length > 5000) stats.latencies.shift();
        }
      } catch (e) { stats.error = String(e); }
      if (stats.frames % 15 === 0) {
        const l = stats.latencies.slice(-30).sort((a, b) => a - b);
        $("stats").textContent = meta.width + "x" + meta.height + ", frame " + stats.lastCounter +
          (l.length ? ", latency ~" + Math.round(l[l.length >> 1]) + " ms" : "");
      }
      v.requestVideoFrameCallback(cb);
    };
    v.requestVideoFrameCallback(cb);
  }

  $("connect").addEventListener("click", connect);
  $("hangup").addEventListener("click", () => hangup(true));
  window.camnodeConnect = connect;
  startPoll();
  // A token handed over in the link (camnode demo, the hub) connects at once.
  if (m) connect();
})();
