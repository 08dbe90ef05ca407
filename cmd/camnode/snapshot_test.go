// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware"
)

// snapshotCmd runs camnode check -snapshot in-process and returns its
// output and exit code.
func snapshotCmd(t *testing.T, configPath, file string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"check", "-config", configPath, "-snapshot", file}, nil, &out, &errb)
	if err == nil {
		return out.String(), 0
	}
	var ee exitError
	if !errors.As(err, &ee) {
		t.Fatalf("camnode check -snapshot: %v", err)
	}
	return out.String() + ee.msg + errb.String(), ee.code
}

func auditTrail(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state", "audit.jsonl"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestSnapshot: on a corridor node whose privacy was turned off (the
// service ran and was stopped), camnode check -snapshot writes one JPEG of
// the camera's picture with the identity's mask burned in (the bottom
// right quarter is the fill colour; the picture around it is not) and
// records it in the audit trail.
func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfgPath, sock := writeMaskedNode(t, dir, "corridor", "Ward 3 corridor", []firmware.Mask{{Rect: []float64{0.5, 0.5, 1, 1}}})
	notes, stop := startRun(t, cfgPath)
	waitNote(t, notes, "READY=1")
	if out, code := privacyCmd(t, sock, "off"); code != 0 {
		t.Fatalf("privacy off: exit %d\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(dir, "snap.jpg")
	out, code := snapshotCmd(t, cfgPath, file)
	if code != 0 || !strings.Contains(out, "snapshot written to "+file) || !strings.Contains(out, "1 privacy mask(s) burned in") {
		t.Fatalf("snapshot: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	if r.Dx() != 320 || r.Dy() != 240 {
		t.Fatalf("snapshot is %v, want 320x240", r)
	}
	bright := 0
	for y := range 240 {
		for x := range 320 {
			c0, c1, c2, _ := img.At(x, y).RGBA()
			c := max(c0, c1, c2) >> 8
			switch {
			case x >= 168 && y >= 128: // inside the mask, beyond the JPEG's 8x8 blocks at its border
				if c > 40 {
					t.Fatalf("masked pixel %d,%d has max channel %d: not the fill colour", x, y, c)
				}
			case x < 150 || y < 110:
				if c >= 128 {
					bright++
				}
			}
		}
	}
	if bright < 1000 {
		t.Errorf("only %d bright pixels outside the mask: not the camera's picture", bright)
	}
	trail := auditTrail(t, dir)
	if !strings.Contains(trail, `"kind":"snapshot"`) || !strings.Contains(trail, file) {
		t.Errorf("the audit trail has no snapshot record naming %s:\n%s", file, trail)
	}
}

// TestSnapshotRefusals: no picture, no file and no snapshot record when
// privacy is on (the persisted state), the zone is clinical, the identity
// is missing, the service is running, or the directory does not exist;
// each refusal says why.
func TestSnapshotRefusals(t *testing.T) {
	masks := []firmware.Mask{{Rect: []float64{0, 0, 0.5, 0.5}}}
	cases := []struct {
		name, zone string
		prep       func(t *testing.T, dir, cfgPath string) (file string, cleanup func())
		want       string
	}{
		{"privacy on", "corridor", nil, "privacy is on"},
		{"clinical zone", "consulting", nil, "snapshot refused: clinical zone"},
		{"no identity", "corridor", func(t *testing.T, dir, _ string) (string, func()) {
			if err := os.Remove(filepath.Join(dir, "identity.json")); err != nil {
				t.Fatal(err)
			}
			return "", nil
		}, "snapshot refused"},
		{"service running", "corridor", func(t *testing.T, _, cfgPath string) (string, func()) {
			notes, stop := startRun(t, cfgPath)
			waitNote(t, notes, "READY=1")
			return "", func() {
				if err := stop(); err != nil {
					t.Error(err)
				}
			}
		}, "in use by another agent"},
		{"no such directory", "corridor", func(t *testing.T, dir, _ string) (string, func()) {
			return filepath.Join(dir, "nope", "snap.jpg"), nil
		}, "no such directory"},
	}
	t.Run("with -no-gpio", func(t *testing.T) {
		dir := t.TempDir()
		cfgPath, _ := writeMaskedNode(t, dir, "corridor", "Room 4", masks)
		err := run(context.Background(), []string{"check", "-config", cfgPath, "-no-gpio", "-snapshot", filepath.Join(dir, "s.jpg")}, nil, io.Discard, io.Discard)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("-snapshot with -no-gpio: %v, want exit 2", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath, _ := writeMaskedNode(t, dir, tc.zone, "Room 4", masks)
			file := filepath.Join(dir, "snap.jpg")
			if tc.prep != nil {
				f, cleanup := tc.prep(t, dir, cfgPath)
				if f != "" {
					file = f
				}
				if cleanup != nil {
					defer cleanup()
				}
			}
			out, code := snapshotCmd(t, cfgPath, file)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, tc.want, out)
			}
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("a snapshot file exists: %v", err)
			}
			if trail := auditTrail(t, dir); strings.Contains(trail, `"kind":"snapshot"`) {
				t.Errorf("a snapshot record in the trail:\n%s", trail)
			}
		})
	}
}
