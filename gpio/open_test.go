// SPDX-License-Identifier: Apache-2.0

package gpio

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pgpio "periph.io/x/conn/v3/gpio"
	pgpiotest "periph.io/x/conn/v3/gpio/gpiotest"
)

// lookupIn resolves refs from pins.
func lookupIn(pins map[PinRef]pgpio.PinIO) func(PinRef) (pgpio.PinIO, error) {
	return func(ref PinRef) (pgpio.PinIO, error) {
		if p, ok := pins[ref]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("no pin %s", ref)
	}
}

func TestOpen(t *testing.T) {
	led, shutter, feedback, button := newPin("GPIO21"), newPin("GPIO18"), newPin("GPIO23"), newPin("GPIO27")
	led.L, shutter.L = pgpio.Low, pgpio.High // lit and open, as a crashed run may leave them
	pins := map[PinRef]pgpio.PinIO{"GPIO21": led, "GPIO18": shutter, "GPIO23": feedback, "GPIO27": button}
	cfg := Config{
		LED: "GPIO21", LEDActiveLow: true,
		Shutter: "GPIO18", ShutterFeedback: "GPIO23", Button: "GPIO27",
	}
	d, err := open(cfg, nil, lookupIn(pins))
	if err != nil {
		t.Fatal(err)
	}
	if led.Read() != pgpio.High {
		t.Error("Open left the active-low LED lit")
	}
	if shutter.Read() != pgpio.Low {
		t.Error("Open left the shutter open")
	}
	if !d.Shutter.HasFeedback() || d.Button == nil {
		t.Errorf("Open: feedback %t, button %v; want both", d.Shutter.HasFeedback(), d.Button)
	}

	if err := d.LED.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := d.Shutter.Drive(true); err != nil {
		t.Fatal(err)
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if led.Read() != pgpio.High || shutter.Read() != pgpio.Low {
		t.Errorf("after Halt: LED level %s, shutter level %s; want off (High) and closed (Low)", led.Read(), shutter.Read())
	}
}

func TestOpenOptionalPins(t *testing.T) {
	pins := map[PinRef]pgpio.PinIO{"GPIO21": newPin("GPIO21"), "GPIO18": newPin("GPIO18")}
	d, err := open(Config{LED: "GPIO21", Shutter: "GPIO18"}, nil, lookupIn(pins))
	if err != nil {
		t.Fatal(err)
	}
	if d.Button != nil || d.Shutter.HasFeedback() {
		t.Errorf("unconfigured button %v, feedback %t; want nil and false", d.Button, d.Shutter.HasFeedback())
	}
}

func TestOpenErrors(t *testing.T) {
	good := func() map[PinRef]pgpio.PinIO {
		return map[PinRef]pgpio.PinIO{"GPIO21": newPin("GPIO21"), "GPIO18": newPin("GPIO18"), "GPIO27": newPin("GPIO27")}
	}
	tests := []struct {
		name string
		cfg  Config
		pins func(map[PinRef]pgpio.PinIO)
		want []string
	}{
		{"invalid config", Config{LED: "GPIO21"}, nil, []string{"gpio: shutter: required"}},
		{"unknown pins", Config{LED: "GPIO99", Shutter: "GPIO18", Button: "GPIO98"}, nil,
			[]string{"gpio: led: no pin GPIO99", "gpio: button: no pin GPIO98"}},
		{"shutter drive fails", Config{LED: "GPIO21", Shutter: "GPIO18"},
			func(m map[PinRef]pgpio.PinIO) { m["GPIO18"] = failPin{newPin("GPIO18")} },
			[]string{"initial state", "shutter GPIO18"}},
		{"button input fails", Config{LED: "GPIO21", Shutter: "GPIO18", Button: "GPIO27"},
			func(m map[PinRef]pgpio.PinIO) { m["GPIO27"] = &pinNoIn{pgpiotest.Pin{N: "GPIO27"}} },
			[]string{"button GPIO27"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pins := good()
			if tt.pins != nil {
				tt.pins(pins)
			}
			d, err := open(tt.cfg, nil, lookupIn(pins))
			if err == nil || d != nil {
				t.Fatalf("open = %v, %v; want an error", d, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDevicesHaltJoinsErrors(t *testing.T) {
	shutter, err := NewShutter(ShutterConfig{}, failPin{newPin("GPIO18")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	led := newPin("GPIO21")
	led.L = pgpio.High
	d := &Devices{LED: NewLED(led, false), Shutter: shutter}
	err = d.Halt()
	if !errors.Is(err, errBroken) {
		t.Fatalf("Halt error = %v, want the shutter's", err)
	}
	if led.Read() != pgpio.Low {
		t.Error("Halt gave up on the LED after the shutter failed")
	}
}

// TestLookupHostPin runs without host.Init, so periph knows no pins.
func TestLookupHostPin(t *testing.T) {
	tests := []struct {
		ref  PinRef
		want string
	}{
		{"NOSUCHPIN", `no GPIO pin named "NOSUCHPIN"`},
		{"nosuchchip:3", `no GPIO chip "nosuchchip"`},
		{"gpiochip0:-3", "negative"},
	}
	for _, tt := range tests {
		p, err := lookupHostPin(tt.ref)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("lookupHostPin(%q) = %v, %v; want an error mentioning %q", tt.ref, p, err, tt.want)
		}
	}
}
