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
		marker + "ganesha\n\n" + marker + "ganesha-pid\n" + marker + "dir\n777\n" + marker + "device\n" + marker + "device-path\n" + marker + "mount\n" + marker + "fstab\n" + marker + "end\n"
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
	// A device named by a stable link: findmnt shows the device the link resolves to.
	byID := c
	byID.Device = "/dev/disk/by-id/scsi-36000c29d0000000000000000000000a1"
	linked := st
	linked.DevicePath, linked.MountSource, linked.FstabLine = "/dev/sdb", "/dev/sdb", byID.Device+"\t/srv\text4\tdefaults,nofail\t0\t2"
	if d := linked.Drift(byID); len(d) != 0 {
		t.Errorf("linked device drift %q", d)
	}
	linked.MountSource = "/dev/sdc"
	if d := linked.Drift(byID); len(d) != 1 {
		t.Errorf("linked device, another one mounted: drift %q", d)
	}
}
