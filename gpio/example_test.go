// SPDX-License-Identifier: Apache-2.0

package gpio_test

import (
	"fmt"

	"github.com/camnode/camnode/gpio"
)

func ExampleParsePinRef() {
	for _, ref := range []string{"GPIO17", "gpiochip0:17", "gpiochip0:-1"} {
		chip, line, name, err := gpio.ParsePinRef(ref)
		fmt.Printf("chip=%q line=%d name=%q err=%v\n", chip, line, name, err)
	}
	// Output:
	// chip="" line=-1 name="GPIO17" err=<nil>
	// chip="gpiochip0" line=17 name="" err=<nil>
	// chip="" line=-1 name="" err=pin reference "gpiochip0:-1": line must not be negative
}
