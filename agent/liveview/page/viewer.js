// SPDX-License-Identifier: Apache-2.0
// camnode live view: WHEP client. No audio is ever requested.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const stats = { masks: 0, state: "idle", frames: 0, stamps: 0, width: 0, height: 0, lastCounter: -1, latencies: [], http: 0, error: "", reason: "", polls: 0 };
  window.camnode = stats;
  let pc = null, location_ = null;

  // #state is what the viewer sees now (live, private, refused...); #reason
  // is why the last attempt was refused, in the node's words (expired, used,
  // another node, role): only a new attempt changes it, never the state
  // poller; #detail is the poller's.
  function show(state, cls) {
    stats.state = state;
    $("state").textContent = state;
    $("state").className = cls || "";
  }
  function setReason(text) {
    stats.reason = text || "";
    $("reason").textContent = stats.reason;
  }

  // Token from the URL fragment (never sent to the server), then cleared.
  const m = /token=([^&]+)/.exec(window.location.hash);
  if (m) {
    $("token").value = decodeURIComponent(m[1]);
    history.replaceState(null, "", window.location.pathname);
  }

  // Installer view: the node sends where the privacy masks are (relative
  // coordinates, the signed identity's) only to a viewer whose token has the
  // installer role; the page outlines them over the video. The pixels under
  // them were blanked on the node, whoever views.
  const svgNS = "http://www.w3.org/2000/svg";
  function showMasks(json) {
    const svg = $("masks");
    svg.replaceChildren();
    stats.masks = 0;
    $("masknote").textContent = "";
    svg.hidden = true;
    if (!json) return;
    let masks;
    try { masks = JSON.parse(json); } catch (e) { return; }
    if (!Array.isArray(masks)) return;
    for (const m of masks) {
      let el;
      if (m && Array.isArray(m.rect) && m.rect.length === 4) {
        const [x0, y0, x1, y1] = m.rect.map(Number);
        el = document.createElementNS(svgNS, "rect");
        el.setAttribute("x", x0); el.setAttribute("y", y0);
        el.setAttribute("width", x1 - x0); el.setAttribute("height", y1 - y0);
      } else if (m && Array.isArray(m.poly)) {
        el = document.createElementNS(svgNS, "polygon");
        el.setAttribute("points", m.poly.map((p) => Number(p[0]) + "," + Number(p[1])).join(" "));
      } else continue;
      svg.appendChild(el);
      stats.masks++;
    }
    svg.hidden = stats.masks === 0;
    if (stats.masks) $("masknote").textContent = "installer view: " + stats.masks + " privacy mask(s) outlined (blanked on the node)";
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
    if (!tok) { show("no token", "error"); setReason("paste a token first"); return; }
    hangup(false);
    showMasks(null);
    show("connecting", "");
    setReason("");
    pc = new RTCPeerConnection({ iceServers: [] });
    const mine = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (e) => {
      $("video").srcObject = new MediaStream([e.track]);
      watchFrames();
    };
    pc.onconnectionstatechange = () => {
      if (pc !== mine) return;
      const s = pc.connectionState;
      if (s === "connected") show("live", "live");
      if (s === "failed" || s === "closed" || s === "disconnected") ended(s);
    };
    // From here on "mine": the poller may drop pc (privacy) meanwhile.
    const offer = await mine.createOffer();
    await mine.setLocalDescription(offer);
    await waitGathering(mine);
    let resp;
    try {
      resp = await fetch("/whep", {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + tok },
        body: mine.localDescription.sdp,
      });
    } catch (e) { show("error", "error"); setReason(String(e)); return; }
    stats.http = resp.status;
    if (resp.status !== 201) {
      const text = (await resp.text()).trim();
      stats.error = text;
      const priv = /privacy/.test(text);
      show(priv ? "private" : resp.status === 503 ? "unavailable" : "refused", resp.status === 503 ? "private" : "error");
      setReason((resp.status === 503 ? "not available: " : "token refused: ") + text);
      mine.close();
      if (pc === mine) pc = null;
      return;
    }
    if (pc !== mine) { // dropped meanwhile (privacy, a new attempt): hang up
      fetch(resp.headers.get("Location"), { method: "DELETE" }).catch(() => {});
      return;
    }
    location_ = resp.headers.get("Location");
    showMasks(resp.headers.get("X-Camnode-Masks"));
    await mine.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    $("token").value = ""; // single use
    $("hangup").disabled = false;
  }

  // ended: the session is over (connection lost or closed by the node).
  // The node closes every connection when privacy comes on; ask it at once
  // whether that is why.
  function ended(why) {
    if (!pc) return;
    pc.close(); pc = null; location_ = null;
    $("hangup").disabled = true;
    show("disconnected", "private");
    $("detail").textContent = "(" + why + ") a new token is needed to reconnect";
    tick();
  }

  function hangup(user) {
    if (location_) fetch(location_, { method: "DELETE" }).catch(() => {});
    location_ = null;
    if (pc) { const p = pc; pc = null; p.close(); }
    $("hangup").disabled = true;
    if (user) show("hung up", "");
  }

  // The state poller asks the node every pollMs, also while viewing: when
  // privacy comes on the page shows "private" within about a second even
  // if the closing connection is not noticed sooner (the node closes it in
  // the same step; pc.onconnectionstatechange then asks at once).
  const pollMs = 1000;
  let ticking = false;
  async function tick() {
    if (ticking) return;
    ticking = true;
    try {
      const st = await (await fetch("/state", { cache: "no-store" })).json();
      stats.live = st.live;
      stats.polls++;
      if (!st.live && /privacy/.test(st.reason || "")) {
        if (pc) { pc.close(); pc = null; location_ = null; $("hangup").disabled = true; }
        show("private", "private");
      }
      if (!pc) $("detail").textContent = st.live ? "camera is live: paste a new token and connect" : "camera unavailable: " + st.reason;
    } catch (e) {
      if (!pc) $("detail").textContent = "node unreachable";
    } finally {
      ticking = false;
    }
  }

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
  tick();
  setInterval(tick, pollMs);
  // A token handed over in the link (camnode demo, the hub) connects at once.
  if (m) connect();
})();
