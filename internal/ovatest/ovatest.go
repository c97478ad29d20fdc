// Package ovatest writes real OVA archives for tests and benchmarks: an OVF
// descriptor followed by a streamOptimized VMDK whose grains hold
// deterministic, incompressible pseudo-random bytes. Archives of several GiB
// are produced streaming, with memory independent of their size.
package ovatest

import (
	"archive/tar"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
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

	// Knobs for bad-input tests.
	OmitDescriptor bool // archive without the .ovf entry
	TruncateDisk   bool // disk entry declares its full size but the archive ends halfway through it
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
	tw := tar.NewWriter(w)
	mtime := time.Unix(1700000000, 0)
	if !o.OmitDescriptor {
		if err := tw.WriteHeader(&tar.Header{Name: DescriptorFileName(o), Mode: 0o644, Size: int64(len(desc)), ModTime: mtime, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		if _, err := tw.Write(desc); err != nil {
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
