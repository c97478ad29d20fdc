package ovatest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vmware/govmomi/vmdk"
)

// govmomi's vmdk.StreamOptimizedWriter needs a seekable *os.File (it goes
// back to fill in the grain directory) and allocates its grain tables for the
// whole capacity, so it cannot write into a tar stream whose entry size must
// be known up front. This file is a minimal hand-written streamOptimized
// writer that only moves forward: header, embedded descriptor, grains with
// their LBA markers, then grain tables, grain directory, footer and the
// end-of-stream marker, as the VMDK 5.0 spec (and open-vmdk) lay them out.

const (
	sectorSize     = vmdk.SectorSize
	grainSectors   = vmdk.GrainSize // 128 sectors = 64 KiB
	grainBytes     = grainSectors * sectorSize
	gtesPerGT      = 512
	descSectors    = 20
	gdAtEnd        = ^uint64(0)
	markerGT       = 1
	markerGD       = 2
	markerFooter   = 3
	lbaHeaderBytes = 12 // uint64 lba + uint32 size
)

// layout is everything needed to write (or size) one disk image.
type layout struct {
	capacity int64 // bytes, multiple of grainBytes
	data     int64 // bytes of payload at the start of the disk
}

func (l layout) grains() int64     { return l.capacity / grainBytes }
func (l layout) dataGrains() int64 { return (l.data + grainBytes - 1) / grainBytes }
func (l layout) tables() int64     { return (l.grains() + gtesPerGT - 1) / gtesPerGT }
func (l layout) dataTables() int64 { return (l.dataGrains() + gtesPerGT - 1) / gtesPerGT }

// gdSectors is the size of the grain directory (uint32 per table).
func (l layout) gdSectors() int64 { return (l.tables()*4 + sectorSize - 1) / sectorSize }

func roundSector(n int64) int64 { return (n + sectorSize - 1) / sectorSize * sectorSize }

// compressedSize is the zlib size of n bytes at NoCompression: stored
// blocks do not depend on the content, so measuring zeros gives the exact
// size for any payload, which lets the tar header be written before the data.
func compressedSize(n int) int64 {
	var buf bytes.Buffer
	z, _ := zlib.NewWriterLevel(&buf, zlib.NoCompression)
	_, _ = z.Write(make([]byte, n))
	_ = z.Close()
	return int64(buf.Len())
}

// grainRecordSize is the on-disk size of one grain: marker + zlib data,
// padded to a sector.
func grainRecordSize(n int) int64 { return roundSector(lbaHeaderBytes + compressedSize(n)) }

// size returns the exact byte length write will produce.
func (l layout) size() int64 {
	n := int64(1+descSectors) * sectorSize
	if full := l.data / grainBytes; full > 0 {
		n += full * grainRecordSize(grainBytes)
	}
	if rest := l.data % grainBytes; rest > 0 {
		n += grainRecordSize(int(rest))
	}
	n += l.dataTables() * (1 + 4) * sectorSize // GT marker + 512*4 bytes
	n += (1 + l.gdSectors()) * sectorSize      // GD marker + GD
	n += (1 + 1) * sectorSize                  // footer marker + footer
	n += sectorSize                            // EOS marker
	return n
}

func (l layout) header(gdOffset uint64) vmdk.SparseExtentHeaderOnDisk {
	return vmdk.SparseExtentHeaderOnDisk{
		MagicNumber:        vmdk.SparseMagicNumber,
		Version:            3,
		Flags:              vmdk.SparseFlagValidNewlineDetector | vmdk.SparseFlagCompressed | vmdk.SparseFlagEmbeddedLBA,
		Capacity:           uint64(l.capacity / sectorSize),
		GrainSize:          grainSectors,
		DescriptorOffset:   1,
		DescriptorSize:     descSectors,
		NumGTEsPerGT:       gtesPerGT,
		GDOffset:           gdOffset,
		Overhead:           1 + descSectors,
		SingleEndLine:      '\n',
		NonEndLine:         ' ',
		DoubleEndLineChar1: '\r',
		DoubleEndLineChar2: '\n',
		CompressAlgorithm:  1, // deflate
	}
}

// countingWriter tracks the offset so grain tables can point at sectors.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) pad() error {
	if r := c.n % sectorSize; r != 0 {
		_, err := c.Write(make([]byte, sectorSize-r))
		return err
	}
	return nil
}

func (c *countingWriter) marker(numSectors uint64, kind uint32) error {
	m := vmdk.SparseMetaDataMarkerOnDisk{NumSectors: numSectors, SectorType: kind}
	return binary.Write(c, binary.LittleEndian, &m)
}

// write streams the disk image: payload comes from src (exactly l.data
// bytes), memory use is one grain plus one grain table per 32 MiB of data.
func (l layout) write(w io.Writer, src io.Reader) error {
	cw := &countingWriter{w: w}
	if err := binary.Write(cw, binary.LittleEndian, l.header(gdAtEnd)); err != nil {
		return err
	}
	desc := vmdk.NewDescriptor(vmdk.Extent{Type: "SPARSE", Permission: "RW", Size: l.capacity / sectorSize, Info: "disk.vmdk"})
	desc.Type = "streamOptimized"
	desc.CID = 0xfffffffe
	desc.ParentCID = 0xffffffff
	desc.DDB["adapterType"] = "lsilogic"
	desc.DDB["virtualHWVersion"] = "13"
	var db bytes.Buffer
	if err := desc.Write(&db); err != nil {
		return err
	}
	if db.Len() > descSectors*sectorSize {
		return fmt.Errorf("vmdk descriptor too large: %d bytes", db.Len())
	}
	db.Write(make([]byte, descSectors*sectorSize-db.Len()))
	if _, err := cw.Write(db.Bytes()); err != nil {
		return err
	}

	gts := make([][]uint32, l.dataTables())
	raw := make([]byte, grainBytes)
	var zbuf bytes.Buffer
	z, _ := zlib.NewWriterLevel(&zbuf, zlib.NoCompression)
	for g := int64(0); g < l.dataGrains(); g++ {
		n := int64(grainBytes)
		if rest := l.data - g*grainBytes; rest < n {
			n = rest
		}
		if _, err := io.ReadFull(src, raw[:n]); err != nil {
			return fmt.Errorf("reading payload: %w", err)
		}
		zbuf.Reset()
		z.Reset(&zbuf)
		_, _ = z.Write(raw[:n])
		_ = z.Close()
		if gts[g/gtesPerGT] == nil {
			gts[g/gtesPerGT] = make([]uint32, gtesPerGT)
		}
		gts[g/gtesPerGT][g%gtesPerGT] = uint32(cw.n / sectorSize)
		hdr := vmdk.SparseGrainLBAHeaderOnDisk{Lba: uint64(g * grainSectors), CmpSize: uint32(zbuf.Len())}
		if err := binary.Write(cw, binary.LittleEndian, &hdr); err != nil {
			return err
		}
		if _, err := cw.Write(zbuf.Bytes()); err != nil {
			return err
		}
		if err := cw.pad(); err != nil {
			return err
		}
	}

	gd := make([]uint32, l.gdSectors()*sectorSize/4)
	for i, gt := range gts {
		if err := cw.marker(4, markerGT); err != nil {
			return err
		}
		gd[i] = uint32(cw.n / sectorSize)
		if err := binary.Write(cw, binary.LittleEndian, gt); err != nil {
			return err
		}
	}
	if err := cw.marker(uint64(l.gdSectors()), markerGD); err != nil {
		return err
	}
	gdOffset := uint64(cw.n / sectorSize)
	if err := binary.Write(cw, binary.LittleEndian, gd); err != nil {
		return err
	}
	if err := cw.marker(1, markerFooter); err != nil {
		return err
	}
	if err := binary.Write(cw, binary.LittleEndian, l.header(gdOffset)); err != nil {
		return err
	}
	return cw.marker(0, vmdk.GrainMarkerEndOfStream)
}
