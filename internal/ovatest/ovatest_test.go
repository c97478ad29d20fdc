package ovatest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/vmdk"
)

// readVMDK walks a streamOptimized VMDK the way an NFC server would and
// returns the declared capacity and the payload found in its grains
// (grains must be contiguous from LBA 0). It checks that the grain tables
// and directory written at the end point at the grains that were read.
func readVMDK(t *testing.T, r io.Reader) (capacity int64, payload []byte) {
	t.Helper()
	br := bufio.NewReader(r)
	var off int64
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatalf("vmdk truncated at offset %d: %v", off, err)
		}
		off += int64(n)
		return b
	}
	head := read(512)
	info, err := vmdk.Seek(io.MultiReader(bytes.NewReader(head), bytes.NewReader(read(20*512))))
	if err != nil {
		t.Fatalf("vmdk.Seek: %v", err)
	}
	if info.Descriptor.Type != "streamOptimized" {
		t.Errorf("descriptor createType = %q", info.Descriptor.Type)
	}
	grainAt := map[uint32]uint64{} // sector -> lba
	var gtSectors []uint32
	var gd []uint32
	var footer vmdk.SparseExtentHeaderOnDisk
	for {
		start := uint32(off / 512)
		sec := read(512)
		lba := binary.LittleEndian.Uint64(sec[0:8])
		size := binary.LittleEndian.Uint32(sec[8:12])
		if size != 0 {
			rest := int64(12+size) - 512
			data := sec[12:]
			if rest > 0 {
				data = append(data[:len(data):len(data)], read(int(roundSector(rest)))...)
			}
			zr, err := zlib.NewReader(bytes.NewReader(data[:size]))
			if err != nil {
				t.Fatalf("grain at lba %d: %v", lba, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("grain at lba %d: %v", lba, err)
			}
			if int64(lba)*512 != int64(len(payload)) {
				t.Fatalf("grain lba %d not contiguous (have %d bytes)", lba, len(payload))
			}
			payload = append(payload, raw...)
			grainAt[start] = lba
			continue
		}
		kind := binary.LittleEndian.Uint32(sec[12:16])
		switch kind {
		case 0:
			if capacity = int64(footer.Capacity) * 512; capacity != info.Capacity {
				t.Errorf("footer capacity %d != header %d", capacity, info.Capacity)
			}
			// Grain tables must name exactly the grains read.
			if len(gd) == 0 || int(gd[0]) != int(gtSectors[0]) && len(payload) > 0 {
				t.Errorf("grain directory %v does not point at grain tables %v", gd[:1], gtSectors)
			}
			return capacity, payload
		case markerGT:
			gtSectors = append(gtSectors, uint32(off/512))
			gt := make([]uint32, 512)
			_ = binary.Read(bytes.NewReader(read(4*512)), binary.LittleEndian, gt)
			base := uint64(len(gtSectors)-1) * 512 * 128
			for i, s := range gt {
				if s == 0 {
					continue
				}
				if l, ok := grainAt[s]; !ok || l != base+uint64(i)*128 {
					t.Errorf("grain table entry %d -> sector %d, which holds lba %d (ok=%v)", i, s, l, ok)
				}
			}
		case markerGD:
			n := binary.LittleEndian.Uint64(sec[0:8])
			gd = make([]uint32, n*128)
			_ = binary.Read(bytes.NewReader(read(int(n)*512)), binary.LittleEndian, gd)
		case markerFooter:
			_ = binary.Read(bytes.NewReader(read(512)), binary.LittleEndian, &footer)
			if footer.GDOffset == gdAtEnd || footer.GDOffset == 0 {
				t.Errorf("footer GDOffset = %x", footer.GDOffset)
			}
		default:
			t.Fatalf("unknown marker type %d at sector %d", kind, start)
		}
	}
}

func TestWriteReadsBack(t *testing.T) {
	o := Options{
		Name: "hipchat-test", NumCPUs: 8, MemoryMB: 16384, DiskCapacityGiB: 40,
		DataBytes: 5*grainBytes + 1234, Seed: 7,
		ExtraConfig: map[string]string{"guestinfo.hipchatdc.lab.guest": "node", "a&b": "<x>"},
	}
	path := filepath.Join(t.TempDir(), "a.ova")
	if err := Write(path, o); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)

	h, err := tr.Next()
	if err != nil || h.Name != "hipchat-test.ovf" {
		t.Fatalf("first entry = %v, %v; want the .ovf", h, err)
	}
	env, err := ovf.Unmarshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	d := env.Disk.Disks[0]
	if d.Capacity != "40" || *d.CapacityAllocationUnits != "byte * 2^30" || d.FileRef == nil || *d.FileRef != "file1" {
		t.Errorf("disk = %+v", d)
	}
	hw := env.VirtualSystem.VirtualHardware[0]
	got := map[string]string{}
	for _, c := range hw.ExtraConfig {
		got[c.Key] = c.Value
	}
	if got["guestinfo.hipchatdc.lab.guest"] != "node" || got["a&b"] != "<x>" {
		t.Errorf("extraConfig = %v", got)
	}

	h, err = tr.Next()
	if err != nil || h.Name != DiskFileName {
		t.Fatalf("second entry = %v, %v", h, err)
	}
	if want, _ := DiskSize(o); h.Size != want || env.References[0].Size != uint(want) {
		t.Errorf("disk entry size %d, References size %d, DiskSize %d", h.Size, env.References[0].Size, want)
	}
	capacity, payload := readVMDK(t, tr)
	if capacity != 40<<30 {
		t.Errorf("capacity = %d", capacity)
	}
	want, _ := io.ReadAll(Payload(o))
	if !bytes.Equal(payload, want) {
		t.Errorf("payload differs: got %d bytes, want %d", len(payload), len(want))
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("want end of archive, got %v", err)
	}

	// A different seed gives different bytes: the payload is not a constant.
	other, _ := io.ReadAll(Payload(Options{DataBytes: o.DataBytes, Seed: 8}))
	if bytes.Equal(other, want) {
		t.Error("seed does not change payload")
	}
}

func TestBadInputKnobs(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTo(&buf, Options{DataBytes: 1 << 20, OmitDescriptor: true}); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(bytes.NewReader(buf.Bytes())).Next()
	if err != nil || strings.HasSuffix(h.Name, ".ovf") {
		t.Errorf("OmitDescriptor: first entry %v, %v", h, err)
	}

	buf.Reset()
	o := Options{DataBytes: 1 << 20, TruncateDisk: true}
	if err := WriteTo(&buf, o); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	_, _ = tr.Next()
	h, _ = tr.Next()
	n, err := io.Copy(io.Discard, tr)
	if !errors.Is(err, io.ErrUnexpectedEOF) || n >= h.Size {
		t.Errorf("TruncateDisk: read %d of %d, err %v; want a short read", n, h.Size, err)
	}
}

// A signed OVA is laid out as ovftool writes it (descriptor, manifest, certificate, disk), and
// its manifest gives the digests of the bytes in the archive, as Digest computes them.
func TestManifestAndCertificate(t *testing.T) {
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.Signer("publisher", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Name: "x", DataBytes: 1 << 20, Manifest: "SHA512", Signer: signer}
	var buf bytes.Buffer
	if err := WriteTo(&buf, o); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	entries := map[string][]byte{}
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		entries[h.Name] = data
	}
	if got := strings.Join(names, " "); got != "x.ovf x.mf x.cert disk1.vmdk" {
		t.Errorf("archive order %q", got)
	}
	for _, f := range []string{"x.ovf", DiskFileName} {
		sum := sha512.Sum512(entries[f])
		want, err := Digest(o, "SHA512", f)
		if err != nil || want != hex.EncodeToString(sum[:]) {
			t.Errorf("Digest(%s) = %s, %v; the archive's bytes hash to %x", f, want, err, sum)
		}
		if line := "SHA512(" + f + ")= " + want + "\n"; !strings.Contains(string(entries["x.mf"]), line) {
			t.Errorf("manifest %q lacks %q", entries["x.mf"], line)
		}
	}
	if cert := string(entries["x.cert"]); !strings.HasPrefix(cert, "SHA256(x.mf)= ") || !strings.Contains(cert, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("certificate file %q", cert)
	}
}
