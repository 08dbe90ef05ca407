// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"strings"
	"testing"

	pgpio "periph.io/x/conn/v3/gpio"
)

func TestLEDSet(t *testing.T) {
	tests := []struct {
		activeLow bool
		on        bool
		want      pgpio.Level
	}{
		{activeLow: false, on: true, want: pgpio.High},
		{activeLow: false, on: false, want: pgpio.Low},
		{activeLow: true, on: true, want: pgpio.Low},
		{activeLow: true, on: false, want: pgpio.High},
	}
	for _, tt := range tests {
		pin := newPin("LED")
		pin.L = !tt.want
		if err := NewLED(pin, tt.activeLow).Set(tt.on); err != nil {
			t.Fatalf("activeLow=%t Set(%t): %v", tt.activeLow, tt.on, err)
		}
		if got := pin.Read(); got != tt.want {
			t.Errorf("activeLow=%t Set(%t): level %s, want %s", tt.activeLow, tt.on, got, tt.want)
		}
	}
}

func TestLEDHalt(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		pin := newPin("LED")
		led := NewLED(pin, activeLow)
		if err := led.Set(true); err != nil {
			t.Fatal(err)
		}
		if err := led.Halt(); err != nil {
			t.Fatal(err)
		}
		if want := pgpio.Level(activeLow); pin.Read() != want {
			t.Errorf("activeLow=%t: after Halt level %s, want %s (off)", activeLow, pin.Read(), want)
		}
	}
}

func TestLEDSetError(t *testing.T) {
	err := NewLED(failPin{newPin("GPIO21")}, false).Set(true)
	if !errors.Is(err, errBroken) {
		t.Fatalf("Set error = %v, want it to wrap %v", err, errBroken)
	}
	if !strings.Contains(err.Error(), "GPIO21") {
		t.Errorf("Set error %q does not name the pin", err)
	}
}
