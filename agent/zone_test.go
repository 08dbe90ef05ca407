// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/camnode/camnode/firmware"
)

// zoneCases is the table of zone classes and room labels. want "" means
// capture is allowed; otherwise it is a substring of the refusal reason.
var zoneCases = []struct {
	name, class, room string
	verifyErr         error
	want              string
}{
	// Allowed classes.
	{"entrance", "entrance", "Main entrance", nil, ""},
	{"exterior", "exterior", "North wall", nil, ""},
	{"car park", "car-park", "Staff car park", nil, ""},
	{"reception", "reception", "Main reception", nil, ""},
	{"waiting", "waiting", "Outpatients waiting area", nil, ""},
	{"corridor", "corridor", "Ward 3 corridor", nil, ""},
	{"stairwell", "stairwell", "Stair B", nil, ""},
	{"office", "office", "Finance office", nil, ""},
	{"storage", "storage", "Linen store", nil, ""},
	{"plant", "plant", "Boiler room", nil, ""},
	{"surgery suite corridor is a corridor", "corridor", "Minor Surgery Suite Corridor", nil, ""},
	{"class in upper case", "RECEPTION", "Front desk", nil, ""},
	{"class with spaces and tab", " \tcorridor \n", "Ward 1", nil, ""},
	{"label word only as part of another word", "office", "Examiner's office", nil, ""},

	// Forbidden classes, always refused.
	{"clinical", "clinical", "Bay 4", nil, "clinical zone (clinical)"},
	{"consulting", "consulting", "Room 3", nil, "clinical zone (consulting)"},
	{"therapy", "therapy", "Physio gym", nil, "clinical zone (therapy)"},
	{"treatment", "treatment", "Room 12", nil, "clinical zone (treatment)"},
	{"examination", "examination", "Room 5", nil, "clinical zone (examination)"},
	{"procedure", "procedure", "Endoscopy", nil, "clinical zone (procedure)"},
	{"recovery", "recovery", "Recovery bay", nil, "clinical zone (recovery)"},
	{"toilet", "toilet", "Accessible WC", nil, "clinical zone (toilet)"},
	{"changing", "changing", "Staff changing", nil, "clinical zone (changing)"},
	{"forbidden class mixed case", "Consulting", "Room 3", nil, "clinical zone (consulting)"},
	{"forbidden class padded", "  Treatment  ", "Room 3", nil, "clinical zone (treatment)"},

	// Room labels contradicting an allowed class.
	{"consulting room labelled office", "office", "Consulting Room 3", nil, `clinical zone (room "Consulting Room 3")`},
	{"consultation in label", "waiting", "Consultation waiting", nil, "clinical zone (room"},
	{"exam in label", "office", "Exam room", nil, "clinical zone (room"},
	{"treatment in label, upper case", "corridor", "TREATMENT CORRIDOR", nil, "clinical zone (room"},
	{"therapy in label with punctuation", "reception", "Reception/Therapy", nil, "clinical zone (room"},
	{"clinical with digits", "storage", "Clinical2 store", nil, "clinical zone (room"},
	{"examination in label", "plant", "examination-room plant", nil, "clinical zone (room"},

	// Unknown classes are forbidden.
	{"unknown class", "ward", "Ward 3", nil, `unknown zone class "ward"`},
	{"plural of an allowed class", "corridors", "Ward 3", nil, "unknown zone class"},
	{"class with inner space", "car park", "P1", nil, `unknown zone class "car park"`},
	{"class with underscore", "car_park", "P1", nil, "unknown zone class"},
	{"lookalike unicode", "rеception", "Front desk", nil, "unknown zone class"}, // Cyrillic е
	{"empty class", "", "Front desk", nil, "no zone class"},
	{"blank class", "   ", "Front desk", nil, "no zone class"},

	// Verification errors fail closed whatever the class says.
	{"unverified reception", "reception", "Front desk", firmware.ErrBadSig, "zone not verified: identity signature does not verify"},
	{"missing identity", "", "", errors.New("identity: open /boot/firmware/camnode/identity.json: no such file or directory"), "zone not verified: identity: open"},
}

func TestZoneVerdict(t *testing.T) {
	for _, tc := range zoneCases {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := ZoneVerdict(firmware.Identity{ZoneClass: tc.class, Room: tc.room}, tc.verifyErr)
			if tc.want == "" {
				if !ok || reason != "" {
					t.Fatalf("ZoneVerdict(%q, %q) = %v %q, want allowed", tc.class, tc.room, ok, reason)
				}
				return
			}
			if ok {
				t.Fatalf("ZoneVerdict(%q, %q) allowed, want refusal %q", tc.class, tc.room, tc.want)
			}
			if !strings.Contains(reason, tc.want) {
				t.Fatalf("reason %q, want it to contain %q", reason, tc.want)
			}
		})
	}
}

// FuzzZoneVerdict: never panics, a refusal always has a reason, and an
// allowed verdict implies an allowed class and no forbidden word.
func FuzzZoneVerdict(f *testing.F) {
	for _, tc := range zoneCases {
		f.Add(tc.class, tc.room)
	}
	f.Fuzz(func(t *testing.T, class, room string) {
		ok, reason := ZoneVerdict(firmware.Identity{ZoneClass: class, Room: room}, nil)
		if !ok {
			if reason == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		if !allowedZones[strings.ToLower(strings.TrimSpace(class))] {
			t.Fatalf("allowed unlisted class %q", class)
		}
		for _, w := range labelWords(room) {
			for _, fw := range forbiddenWords {
				if w == fw {
					t.Fatalf("allowed room %q with forbidden word %q", room, w)
				}
			}
		}
		if _, r := ZoneVerdict(firmware.Identity{ZoneClass: class, Room: room}, errors.New("x")); r == "" {
			t.Fatal("verification error gave no reason")
		}
	})
}
