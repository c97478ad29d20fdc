// Package ovatest writes real OVA archives for tests and benchmarks: an OVF
// descriptor followed by a streamOptimized VMDK whose grains hold
// deterministic, incompressible pseudo-random bytes. Archives of several GiB
// are produced streaming, with memory independent of their size.
package ovatest

import (
	"archive/tar"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"text/template"
	"time"
)

// Options describes the appliance to write. Zero values get small defaults.
type Options struct {
	Name            string // VirtualSystem name; default "ovatest"
	NumCPUs         int    // default 1
	MemoryMB        int    // default 256
	DiskCapacityGiB int    // declared disk capacity; default 1
	DataBytes       int64  // payload bytes written into the disk's first grains
	Seed            uint64 // payload seed; same seed and size give the same bytes
	Network         string // OVF network name; default "VM Network"
	// ExtraConfig is emitted as vmw:ExtraConfig in the VirtualHardwareSection.
	ExtraConfig map[string]string

	// Manifest, when set to "SHA1", "SHA256" or "SHA512", writes the manifest (<name>.mf)
	// with the digest of the descriptor and of the disk, right after the descriptor, as
	// ovftool does.
	Manifest string
	// Signer, when set, signs the manifest and writes the certificate (<name>.cert) after it.
	Signer *Signer

	// Knobs for bad-input tests.
	OmitDescriptor bool // archive without the .ovf entry
	TruncateDisk   bool // disk entry declares its full size but the archive ends halfway through it
	// WrongDigest names a file (DescriptorFileName or DiskFileName) whose manifest entry is
	// the digest of other bytes, as when the file was altered after the manifest was made.
	WrongDigest string
	// UnlistedDisk leaves the disk out of the manifest.
	UnlistedDisk bool
	// ExtraManifest is added to the manifest as it is (lines for files not in the archive).
	ExtraManifest string
	// TamperManifest changes the manifest after it was signed (the disk's digest replaced by
	// that of other bytes), so that the signature no longer matches.
	TamperManifest bool
	// ManifestAtEnd puts the manifest and certificate after the disk, as OVF 1.x allows.
	ManifestAtEnd bool
	// CertAtEnd puts only the certificate after the disk, the manifest staying ahead of it.
	CertAtEnd bool
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "ovatest"
	}
	if o.NumCPUs == 0 {
		o.NumCPUs = 1
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 256
	}
	if o.DiskCapacityGiB == 0 {
		o.DiskCapacityGiB = 1
	}
	if o.Network == "" {
		o.Network = "VM Network"
	}
	return o
}

// DiskFileName is the name of the disk entry inside the archive.
const DiskFileName = "disk1.vmdk"

// DescriptorFileName returns the name of the .ovf entry for o.
func DescriptorFileName(o Options) string { return o.withDefaults().Name + ".ovf" }

// ManifestFileName returns the name of the .mf entry for o.
func ManifestFileName(o Options) string { return o.withDefaults().Name + ".mf" }

// CertFileName returns the name of the .cert entry for o.
func CertFileName(o Options) string { return o.withDefaults().Name + ".cert" }

var hashes = map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}

// Digest returns the hex digest of file (DescriptorFileName or DiskFileName) of the OVA that
// o describes, with algorithm alg ("SHA1", "SHA256", "SHA512"), as its manifest gives it.
func Digest(o Options, alg, file string) (string, error) {
	o = o.withDefaults()
	newHash, ok := hashes[alg]
	if !ok {
		return "", fmt.Errorf("ovatest: unknown digest algorithm %q", alg)
	}
	l, err := o.layout()
	if err != nil {
		return "", err
	}
	h := newHash()
	switch file {
	case DescriptorFileName(o):
		desc, err := descriptor(o, l.size())
		if err != nil {
			return "", err
		}
		h.Write(desc)
	case DiskFileName:
		if err := l.write(h, Payload(o)); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("ovatest: no file %q in the OVA", file)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// security returns the manifest and certificate entries of o (nil when o has none). The
// disk's digest takes a pass over its bytes, generated again: the manifest comes before the
// disk in the archive.
func (o Options) security(desc []byte) (mf, cert []byte, err error) {
	if o.Manifest == "" {
		return nil, nil, nil
	}
	newHash, ok := hashes[o.Manifest]
	if !ok {
		return nil, nil, fmt.Errorf("ovatest: unknown manifest algorithm %q", o.Manifest)
	}
	l, err := o.layout()
	if err != nil {
		return nil, nil, err
	}
	digest := func(file string, write func(io.Writer) error) (string, error) {
		h := newHash()
		if o.WrongDigest == file {
			_, err := h.Write([]byte("other bytes than " + file))
			return hex.EncodeToString(h.Sum(nil)), err
		}
		err := write(h)
		return hex.EncodeToString(h.Sum(nil)), err
	}
	descSum, err := digest(DescriptorFileName(o), func(w io.Writer) error { _, err := w.Write(desc); return err })
	if err != nil {
		return nil, nil, err
	}
	mf = fmt.Appendf(nil, "%s(%s)= %s\n", o.Manifest, DescriptorFileName(o), descSum)
	diskLine := func(sum string) []byte { return fmt.Appendf(nil, "%s(%s)= %s\n", o.Manifest, DiskFileName, sum) }
	if !o.UnlistedDisk {
		diskSum, err := digest(DiskFileName, func(w io.Writer) error { return l.write(w, Payload(o)) })
		if err != nil {
			return nil, nil, err
		}
		mf = append(mf, diskLine(diskSum)...)
	}
	mf = append(mf, o.ExtraManifest...)
	if o.Signer == nil {
		return mf, nil, nil
	}
	cert, err = o.Signer.certFile(ManifestFileName(o), mf)
	if err != nil {
		return nil, nil, err
	}
	if o.TamperManifest {
		other := newHash()
		other.Write([]byte("a disk the publisher never signed"))
		mf = append(mf[:bytes.Index(mf, []byte("\n"))+1], diskLine(hex.EncodeToString(other.Sum(nil)))...)
	}
	return mf, cert, nil
}

func (o Options) layout() (layout, error) {
	l := layout{capacity: int64(o.DiskCapacityGiB) << 30, data: o.DataBytes}
	if o.DataBytes < 0 || o.DataBytes > l.capacity {
		return l, fmt.Errorf("ovatest: DataBytes %d outside 0..capacity %d", o.DataBytes, l.capacity)
	}
	if l.tables() > 1<<22 {
		return l, errors.New("ovatest: capacity too large")
	}
	return l, nil
}

// Payload returns the reader of the disk's payload bytes for o: tests use it
// to compare what a reader of the VMDK gets back.
func Payload(o Options) io.Reader {
	var seed [32]byte
	for i := 0; i < 8; i++ {
		seed[i] = byte(o.Seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(seed), o.DataBytes)
}

// DiskSize returns the exact byte size of the VMDK entry.
func DiskSize(o Options) (int64, error) {
	l, err := o.withDefaults().layout()
	return l.size(), err
}

// Write creates the OVA file at path.
func Write(path string, o Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteTo(f, o); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// WriteTo streams the OVA to w: the descriptor first, then the disk, as the
// OVF spec requires for a single pass reader.
func WriteTo(w io.Writer, o Options) error {
	o = o.withDefaults()
	l, err := o.layout()
	if err != nil {
		return err
	}
	diskSize := l.size()
	desc, err := descriptor(o, diskSize)
	if err != nil {
		return err
	}
	mf, cert, err := o.security(desc)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	mtime := time.Unix(1700000000, 0)
	entry := func(name string, data []byte) error {
		if data == nil {
			return nil
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if !o.OmitDescriptor {
		if err := entry(DescriptorFileName(o), desc); err != nil {
			return err
		}
	}
	// The OVF spec puts the manifest and the certificate right after the descriptor (or, in
	// OVF 1.x, at the very end).
	security := func() error {
		if err := entry(ManifestFileName(o), mf); err != nil {
			return err
		}
		if o.CertAtEnd && !o.ManifestAtEnd {
			return nil
		}
		return entry(CertFileName(o), cert)
	}
	if !o.ManifestAtEnd {
		if err := security(); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: DiskFileName, Mode: 0o644, Size: diskSize, ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
		return err
	}
	if o.TruncateDisk {
		// Write half the entry straight to w, bypassing the tar writer so
		// nothing complains, and end the archive there.
		return l.write(&limitWriter{w: w, n: diskSize / 2}, Payload(o))
	}
	if err := l.write(tw, Payload(o)); err != nil {
		return err
	}
	if o.ManifestAtEnd {
		if err := security(); err != nil {
			return err
		}
	}
	if o.CertAtEnd && !o.ManifestAtEnd {
		if err := entry(CertFileName(o), cert); err != nil {
			return err
		}
	}
	return tw.Close()
}

// limitWriter silently drops everything after n bytes.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	all := len(p)
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err != nil {
		return n, err
	}
	return all, nil
}

type extraConfig struct{ Key, Value string }

func descriptor(o Options, diskSize int64) ([]byte, error) {
	var extra []extraConfig
	for k, v := range o.ExtraConfig {
		extra = append(extra, extraConfig{k, v})
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Key < extra[j].Key })
	var buf bytes.Buffer
	err := ovfTemplate.Execute(&buf, map[string]any{
		"O":        o,
		"DiskFile": DiskFileName,
		"DiskSize": diskSize,
		"Extra":    extra,
	})
	return buf.Bytes(), err
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

var ovfTemplate = template.Must(template.New("ovf").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{.DiskFile}}" ovf:id="file1" ovf:size="{{.DiskSize}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.O.DiskCapacityGiB}}" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="{{.O.DataBytes}}"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="{{x .O.Network}}">
      <Description>The {{x .O.Network}} network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{x .O.Name}}">
    <Info>A virtual machine</Info>
    <Name>{{x .O.Name}}</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian10_64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{x .O.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.O.NumCPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.O.NumCPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.O.MemoryMB}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.O.MemoryMB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>scsiController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>disk0</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>{{x .O.Network}}</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;{{x .O.Network}}&quot;</rasd:Description>
        <rasd:ElementName>ethernet0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
{{- range .Extra}}
      <vmw:ExtraConfig ovf:required="false" vmw:key="{{x .Key}}" vmw:value="{{x .Value}}"/>
{{- end}}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))

// Extract writes the entries of the OVA at ova into dir, as `tar -x` does: the descriptor with
// its files beside it, an OVF package as ovftool also writes them.
func Extract(ova, dir string) error {
	f, err := os.Open(ova)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(dir, filepath.Base(h.Name)))
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}
