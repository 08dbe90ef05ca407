// SPDX-License-Identifier: Apache-2.0

package liveview

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/agent/liveview/token"
	"github.com/camnode/camnode/firmware"
)

// TestMasksOnlyForInstaller: the WHEP answer tells where the privacy masks
// are (MasksHeader, the identity's masks as JSON) to a viewer whose token
// has the installer role, and to nobody else: not to staff, not to a
// refused installer token, not when the node has no masks. A malformed
// mask is refused by New.
func TestMasksOnlyForInstaller(t *testing.T) {
	masks := []firmware.Mask{{Rect: []float64{0.5, 0, 1, 0.25}}, {Poly: [][]float64{{0.1, 0.5}, {0.3, 0.5}, {0.2, 0.9}}}}
	const want = `[{"rect":[0.5,0,1,0.25]},{"poly":[[0.1,0.5],[0.3,0.5],[0.2,0.9]]}]`
	k := newKeys(t)
	roles := func(c *Config) { c.AllowedRoles = []string{"staff", InstallerRole} }
	mint := func(role string) string {
		tok, err := token.Mint(k.priv, testNode, "bob", role, "aligning masks", time.Now(), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	offer := func(s *Server, tok string) (int, string, bool) {
		w := post(s.Handler(), tok, "application/sdp", newReceiver(t, false).offer(t))
		v, ok := w.Header()[http.CanonicalHeaderKey(MasksHeader)]
		return w.Code, strings.Join(v, ","), ok
	}

	s, _ := newServer(t, k, nil, roles, func(c *Config) { c.Masks = masks })
	markLive(s)
	if code, got, ok := offer(s, mint(InstallerRole)); code != http.StatusCreated || !ok || got != want {
		t.Errorf("installer: %d, %s %q (present %v); want 201 and %s", code, MasksHeader, got, ok, want)
	}
	if code, got, ok := offer(s, mint("staff")); code != http.StatusCreated || ok {
		t.Errorf("staff: %d, %s %q (present %v); want 201 and no masks", code, MasksHeader, got, ok)
	}
	forged, err := token.Mint(k.forgery, testNode, "eve", InstallerRole, "x", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, ok := offer(s, forged); code != http.StatusUnauthorized || ok {
		t.Errorf("forged installer token: %d, masks present %v; want 401 and no masks", code, ok)
	}

	bare, _ := newServer(t, k, nil, roles)
	markLive(bare)
	if code, got, ok := offer(bare, mint(InstallerRole)); code != http.StatusCreated || ok {
		t.Errorf("no masks, installer: %d, %s %q (present %v); want 201 and no header", code, MasksHeader, got, ok)
	}

	for _, bad := range [][]firmware.Mask{{{Rect: []float64{0.5, 0.5, 0.2, 1}}}, {{Rect: []float64{0, 0, 1, 1}, Poly: [][]float64{{0, 0}, {1, 0}, {0, 1}}}}} {
		cfg := Config{NodeID: testNode, HubKey: k.pub, AllowedRoles: []string{"staff"}, Pipeline: s.pipe, Masks: bad}
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "mask 0") {
			t.Errorf("New with masks %v: %v; want a mask error", bad, err)
		}
	}
}
