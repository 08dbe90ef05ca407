// SPDX-License-Identifier: Apache-2.0

package mcp2221sim

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// USB identity of the MCP2221, matched by hid-mcp2221.
const (
	VendorID  = 0x04d8
	ProductID = 0x00dd
	busUSB    = 0x03
)

// struct uhid_event from <linux/uhid.h>: a __u32 type followed by a packed
// union whose largest member is uhid_create2_req. The kernel uses host byte
// order.
const (
	uhidDestroy        = 1
	uhidStart          = 2
	uhidStop           = 3
	uhidOpen           = 4
	uhidClose          = 5
	uhidOutput         = 6
	uhidGetReport      = 9
	uhidGetReportReply = 10
	uhidCreate2        = 11
	uhidInput2         = 12
	uhidSetReport      = 13
	uhidSetReportReply = 14

	uhidDataMax   = 4096
	uhidEventSize = 4 + 128 + 64 + 64 + 2 + 2 + 4*4 + uhidDataMax // 4376

	// uhid_create2_req field offsets within the event.
	c2Name    = 4
	c2Phys    = c2Name + 128
	c2Uniq    = c2Phys + 64
	c2RDSize  = c2Uniq + 64
	c2Bus     = c2RDSize + 2
	c2Vendor  = c2Bus + 2
	c2Product = c2Vendor + 4
	c2Version = c2Product + 4
	c2Country = c2Version + 4
	c2RDData  = c2Country + 4

	// uhid_output_req: data[4096], __u16 size, __u8 rtype.
	outSize  = 4 + uhidDataMax
	outRType = outSize + 2
	// uhid_input2_req: __u16 size, data[4096].
	in2Data = 4 + 2
	// uhid_get_report_req / uhid_set_report_req: __u32 id, __u8 rnum,
	// __u8 rtype (set: then __u16 size, data). Replies: __u32 id,
	// __u16 err (get reply: then __u16 size, data).
	repID  = 4
	repErr = 8
)

var ne = binary.NativeEndian

// reportDescriptor declares one vendor-defined collection with a 64-byte
// input and a 64-byte output report and no report IDs, like the MCP2221.
var reportDescriptor = []byte{
	0x06, 0x00, 0xff, // Usage Page (Vendor Defined 0xFF00)
	0x09, 0x01, // Usage (1)
	0xa1, 0x01, // Collection (Application)
	0x19, 0x01, 0x29, 0x40, //   Usage Minimum (1), Usage Maximum (64)
	0x15, 0x00, 0x26, 0xff, 0x00, //   Logical Minimum (0), Logical Maximum (255)
	0x75, 0x08, 0x95, 0x40, //   Report Size (8), Report Count (64)
	0x81, 0x02, //   Input (Data, Variable, Absolute)
	0x19, 0x01, 0x29, 0x40, //   Usage Minimum (1), Usage Maximum (64)
	0x91, 0x02, //   Output (Data, Variable, Absolute)
	0xc0, // End Collection
}

// create2 is a UHID_CREATE2 request.
type create2 struct {
	Name, Phys, Uniq         string
	Bus                      uint16
	Vendor, Product, Version uint32
	Country                  uint32
	Descriptor               []byte
}

func putString(dst []byte, s, field string) error {
	if len(s) >= len(dst) { // keep a terminating NUL
		return fmt.Errorf("uhid: %s %q longer than %d bytes", field, s, len(dst)-1)
	}
	copy(dst, s)
	return nil
}

func encodeCreate2(c create2) ([]byte, error) {
	if len(c.Descriptor) == 0 || len(c.Descriptor) > uhidDataMax {
		return nil, fmt.Errorf("uhid: report descriptor of %d bytes, want 1..%d", len(c.Descriptor), uhidDataMax)
	}
	b := make([]byte, uhidEventSize)
	ne.PutUint32(b, uhidCreate2)
	if err := errors.Join(putString(b[c2Name:c2Phys], c.Name, "name"),
		putString(b[c2Phys:c2Uniq], c.Phys, "phys"),
		putString(b[c2Uniq:c2RDSize], c.Uniq, "uniq")); err != nil {
		return nil, err
	}
	ne.PutUint16(b[c2RDSize:], uint16(len(c.Descriptor)))
	ne.PutUint16(b[c2Bus:], c.Bus)
	ne.PutUint32(b[c2Vendor:], c.Vendor)
	ne.PutUint32(b[c2Product:], c.Product)
	ne.PutUint32(b[c2Version:], c.Version)
	ne.PutUint32(b[c2Country:], c.Country)
	copy(b[c2RDData:], c.Descriptor)
	return b, nil
}

func encodeInput2(data []byte) ([]byte, error) {
	if len(data) > uhidDataMax {
		return nil, fmt.Errorf("uhid: input report of %d bytes, max %d", len(data), uhidDataMax)
	}
	b := make([]byte, uhidEventSize)
	ne.PutUint32(b, uhidInput2)
	ne.PutUint16(b[4:], uint16(len(data)))
	copy(b[in2Data:], data)
	return b, nil
}

func encodeDestroy() []byte {
	b := make([]byte, uhidEventSize)
	ne.PutUint32(b, uhidDestroy)
	return b
}

// encodeReportReply answers a UHID_GET_REPORT (typ uhidGetReportReply) or a
// UHID_SET_REPORT (uhidSetReportReply) with an errno and no data.
func encodeReportReply(typ, id uint32, errno uint16) []byte {
	b := make([]byte, uhidEventSize)
	ne.PutUint32(b, typ)
	ne.PutUint32(b[repID:], id)
	ne.PutUint16(b[repErr:], errno)
	return b
}

// event is a decoded event read from /dev/uhid.
type event struct {
	Type  uint32
	Data  []byte // UHID_OUTPUT: the report, sized by the kernel
	RType uint8  // UHID_OUTPUT: report type (HID_OUTPUT_REPORT = 1)
	ID    uint32 // UHID_GET_REPORT, UHID_SET_REPORT: request id
}

func decodeEvent(b []byte) (event, error) {
	if len(b) < 4 {
		return event{}, fmt.Errorf("uhid: short event of %d bytes", len(b))
	}
	ev := event{Type: ne.Uint32(b)}
	switch ev.Type {
	case uhidOutput:
		if len(b) < outRType+1 {
			return ev, fmt.Errorf("uhid: short output event of %d bytes", len(b))
		}
		n := int(ne.Uint16(b[outSize:]))
		if n > uhidDataMax {
			return ev, fmt.Errorf("uhid: output report size %d above %d", n, uhidDataMax)
		}
		ev.Data = append([]byte(nil), b[4:4+n]...)
		ev.RType = b[outRType]
	case uhidGetReport, uhidSetReport:
		if len(b) < repID+4 {
			return ev, fmt.Errorf("uhid: short report request of %d bytes", len(b))
		}
		ev.ID = ne.Uint32(b[repID:])
	}
	return ev, nil
}

func eventName(t uint32) string {
	switch t {
	case uhidStart:
		return "start"
	case uhidStop:
		return "stop"
	case uhidOpen:
		return "open"
	case uhidClose:
		return "close"
	case uhidOutput:
		return "output"
	case uhidGetReport:
		return "get-report"
	case uhidSetReport:
		return "set-report"
	}
	return fmt.Sprintf("event-%d", t)
}
