package nfs

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/guesttest"
)

var testConfig = Config{AllowedCIDR: netip.MustParsePrefix("10.0.0.0/24")}

func TestRenderExportsGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/exports.input")
	if err != nil {
		t.Fatal(err)
	}
	got := RenderExports(string(in), testConfig)
	guesttest.Golden(t, "exports.golden", got)
	if strings.Count(got, DefaultPath+" ") != 1 || !strings.Contains(got, "/srv/other 192.168.1.0/24(ro,sync)") {
		t.Errorf("the old line for the path must be replaced and others kept:\n%s", got)
	}
	if again := RenderExports(got, testConfig); again != got {
		t.Errorf("second render differs:\n%s", again)
	}
	for _, opt := range []string{"rw", "no_root_squash", "sec=sys"} {
		if !strings.Contains(","+testConfig.ExportOptions()+",", ","+opt+",") {
			t.Errorf("options lack %s", opt)
		}
	}
}

func TestRenderGaneshaGolden(t *testing.T) {
	guesttest.Golden(t, "ganesha.conf.golden", RenderGanesha(testConfig))
}

func TestValidate(t *testing.T) {
	if err := testConfig.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"no cidr":        {},
		"relative":       {Path: "srv/x", AllowedCIDR: testConfig.AllowedCIDR},
		"shell":          {Path: "/srv/x;reboot", AllowedCIDR: testConfig.AllowedCIDR},
		"server":         {Server: "samba", AllowedCIDR: testConfig.AllowedCIDR},
		"not on volume":  {Path: "/srv/x", Device: "/dev/sdb", MountPoint: "/data", AllowedCIDR: testConfig.AllowedCIDR},
		"device quoting": {Device: "/dev/sd'b", AllowedCIDR: testConfig.AllowedCIDR},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// marker is the start of a section line of this recipe, as guest.EchoSection prints it.
const marker = "@@hipchatdc-nfs@@ "

func TestParseDrift(t *testing.T) {
	c := testConfig
	out := marker + "exports\n" + c.ExportLine() + "\n\n" + marker + "exportfs\n" + DefaultPath + "\t10.0.0.0/24(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,rw,insecure,no_root_squash,no_all_squash)\n\n" +
		marker + "ganesha\n\n" + marker + "ganesha-pid\n" + marker + "dir\n777\n" + marker + "device\n" + marker + "device-number\n" + marker + "mount\n" + marker + "fstab\n" + marker + "fstab-number\n" + marker + "end\n"
	st, err := Parse(out, c)
	if err != nil {
		t.Fatal(err)
	}
	if d := st.Drift(c); len(d) != 0 {
		t.Errorf("drift %q", d)
	}
	g := c
	g.Server = Ganesha
	if d := st.Drift(g); len(d) != 2 {
		t.Errorf("ganesha drift %q", d)
	}
	dev := c
	dev.Device = "/dev/sdb"
	if d := st.Drift(dev); len(d) != 2 {
		t.Errorf("device drift %q", d)
	}
	// Devices are compared by number: a link, or an LVM volume the mount table shows as
	// /dev/mapper/VG-LV, is the device it names.
	for _, name := range []string{"/dev/disk/by-id/scsi-36000c29d0000000000000000000000a1", "/dev/hipchat/nfs"} {
		byName := c
		byName.Device = name
		linked := st
		linked.DeviceNumber, linked.MountSource, linked.MountNumber = "8:16", "/dev/mapper/hipchat-nfs", "8:16"
		linked.FstabLine, linked.FstabNumber = name+"\t/srv\text4\tdefaults,nofail\t0\t2", "8:16"
		if d := linked.Drift(byName); len(d) != 0 {
			t.Errorf("%s: drift %q", name, d)
		}
		if got := linked.FstabVolume(); got != name {
			t.Errorf("%s: FstabVolume() = %q", name, got)
		}
		linked.MountNumber = "8:32"
		if d := linked.Drift(byName); len(d) != 1 {
			t.Errorf("%s, another device mounted: drift %q", name, d)
		}
		if got := linked.FstabVolume(); got != "" {
			t.Errorf("%s, another device mounted: FstabVolume() = %q", name, got)
		}
	}
}
