// SPDX-License-Identifier: Apache-2.0

package mcp2221sim

import (
	"bytes"
	"strings"
	"testing"
)

func TestEventSize(t *testing.T) {
	// sizeof(struct uhid_event) on every Linux ABI: the union is packed.
	if uhidEventSize != 4376 {
		t.Fatalf("uhidEventSize = %d", uhidEventSize)
	}
	if c2RDData != 280 || outSize != 4100 || outRType != 4102 {
		t.Fatalf("offsets: rd_data %d, output size %d, rtype %d", c2RDData, outSize, outRType)
	}
}

func TestEncodeCreate2(t *testing.T) {
	b, err := encodeCreate2(create2{Name: "MCP2221", Phys: "sim", Uniq: "u1", Bus: busUSB,
		Vendor: VendorID, Product: ProductID, Version: 0x0100, Descriptor: reportDescriptor})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != uhidEventSize || ne.Uint32(b) != uhidCreate2 {
		t.Fatalf("len %d type %d", len(b), ne.Uint32(b))
	}
	cstr := func(b []byte) string { s, _, _ := bytes.Cut(b, []byte{0}); return string(s) }
	if cstr(b[4:132]) != "MCP2221" || cstr(b[132:196]) != "sim" || cstr(b[196:260]) != "u1" {
		t.Errorf("strings: %q %q %q", cstr(b[4:132]), cstr(b[132:196]), cstr(b[196:260]))
	}
	if n := ne.Uint16(b[260:]); int(n) != len(reportDescriptor) {
		t.Errorf("rd_size %d", n)
	}
	if ne.Uint16(b[262:]) != 3 || ne.Uint32(b[264:]) != 0x04d8 || ne.Uint32(b[268:]) != 0x00dd || ne.Uint32(b[272:]) != 0x0100 {
		t.Errorf("ids % x", b[262:280])
	}
	if !bytes.Equal(b[280:280+len(reportDescriptor)], reportDescriptor) {
		t.Error("descriptor not at rd_data")
	}

	if _, err := encodeCreate2(create2{Name: strings.Repeat("x", 128), Descriptor: reportDescriptor}); err == nil {
		t.Error("a 128-byte name (no room for the NUL) was accepted")
	}
	if _, err := encodeCreate2(create2{Name: "x"}); err == nil {
		t.Error("an empty descriptor was accepted")
	}
}

func TestReportDescriptor(t *testing.T) {
	// Walk the short items: every item's size must fit, the collection
	// must close, and there must be one 64x8-bit input and output.
	var reportSize, reportCount, inputs, outputs, depth int
	for i := 0; i < len(reportDescriptor); {
		prefix := reportDescriptor[i]
		size := int(prefix & 3)
		if size == 3 {
			size = 4
		}
		if i+1+size > len(reportDescriptor) {
			t.Fatalf("item at %d overruns the descriptor", i)
		}
		var v int
		for j := size - 1; j >= 0; j-- {
			v = v<<8 | int(reportDescriptor[i+1+j])
		}
		switch prefix &^ 3 {
		case 0x74:
			reportSize = v
		case 0x94:
			reportCount = v
		case 0x80:
			inputs += reportSize * reportCount
		case 0x90:
			outputs += reportSize * reportCount
		case 0xa0:
			depth++
		case 0xc0:
			depth--
		}
		i += 1 + size
	}
	if inputs != 8*ReportSize || outputs != 8*ReportSize || depth != 0 {
		t.Fatalf("input bits %d, output bits %d, open collections %d", inputs, outputs, depth)
	}
}

func TestEncodeInput2(t *testing.T) {
	data := bytes.Repeat([]byte{0xa5}, ReportSize)
	b, err := encodeInput2(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != uhidEventSize || ne.Uint32(b) != uhidInput2 || ne.Uint16(b[4:]) != ReportSize {
		t.Fatalf("header % x", b[:6])
	}
	if !bytes.Equal(b[6:6+ReportSize], data) || b[6+ReportSize] != 0 {
		t.Error("data not at offset 6")
	}
	if _, err := encodeInput2(make([]byte, uhidDataMax+1)); err == nil {
		t.Error("oversized input accepted")
	}
}

func TestDecodeEvent(t *testing.T) {
	b := make([]byte, uhidEventSize)
	ne.PutUint32(b, uhidOutput)
	copy(b[4:], []byte{CmdGPIOSet, 0, 1, 1})
	ne.PutUint16(b[outSize:], 18)
	b[outRType] = 1
	ev, err := decodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != uhidOutput || len(ev.Data) != 18 || ev.Data[0] != CmdGPIOSet || ev.Data[3] != 1 || ev.RType != 1 {
		t.Fatalf("decoded %+v", ev)
	}
	b[4] = 0 // the decoded data is a copy
	if ev.Data[0] != CmdGPIOSet {
		t.Error("Data aliases the read buffer")
	}

	ne.PutUint16(b[outSize:], uhidDataMax+1)
	if _, err := decodeEvent(b); err == nil {
		t.Error("oversized output accepted")
	}
	if _, err := decodeEvent(b[:100]); err == nil {
		t.Error("truncated output accepted")
	}
	if _, err := decodeEvent([]byte{1, 2}); err == nil {
		t.Error("2-byte event accepted")
	}

	g := make([]byte, uhidEventSize)
	ne.PutUint32(g, uhidGetReport)
	ne.PutUint32(g[4:], 77)
	if ev, err := decodeEvent(g); err != nil || ev.ID != 77 {
		t.Fatalf("get report: %+v %v", ev, err)
	}
	r := encodeReportReply(uhidGetReportReply, 77, 5)
	if ne.Uint32(r) != uhidGetReportReply || ne.Uint32(r[4:]) != 77 || ne.Uint16(r[8:]) != 5 {
		t.Errorf("reply % x", r[:12])
	}
	if d := encodeDestroy(); ne.Uint32(d) != uhidDestroy || len(d) != uhidEventSize {
		t.Error("destroy")
	}
	if ev, err := decodeEvent(make([]byte, 4)); err != nil || ev.Type != 0 {
		t.Errorf("4-byte event: %+v %v", ev, err)
	}
}
